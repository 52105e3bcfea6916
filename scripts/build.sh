#!/usr/bin/env bash
# Configures and builds tend into build/ (or build-asan/ with --asan). Used by the README's
# two commands; safe to re-run (an existing build directory is reused).
set -euo pipefail
cd "$(dirname "$0")/.."

# In CI (CI=true) the builds only run the tests: -g1 (line tables: file:line in sanitizer
# reports and backtraces, no variables) compiles about a fifth faster than -g. Elsewhere
# the full -g, for gdb.
g=-g
[ "${CI:-}" = true ] && g=-g1
dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 $g -DNDEBUG")
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  # -O0: the sanitizer build is for finding bugs; it compiles much faster than -O1.
  flags=(-DCMAKE_BUILD_TYPE=Debug -DTEND_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG="-O0 $g")
fi
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" -j "$jobs"
