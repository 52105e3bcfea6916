#!/usr/bin/env bash
# Spawn latency of tend's spawner (clone(CLONE_VM|CLONE_VFORK)) against the fork-based one
# it replaced, interleaved in one process (see bench/spawn_bench.cpp).
#
#   bench/spawn.sh [N] [HEAP_MB] [PROGRAM]      e.g. bench/spawn.sh 200 8 /bin/true
#
# Needs build/ configured (it links build/src/libtend_common.a); compiles the spawner
# from src/ with -O2 into a temporary directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[ -f "$BUILD/src/libtend_common.a" ] || ninja -C "$BUILD" tend_common
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
g++ -std=c++23 -O2 -I"$ROOT/src" "$ROOT/bench/spawn_bench.cpp" "$ROOT/src/supervisor/spawner.cpp" \
  "$BUILD/src/libtend_common.a" -lfmt -o "$TMP/spawn_bench"
"$TMP/spawn_bench" "$@"
