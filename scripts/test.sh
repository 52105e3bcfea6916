#!/usr/bin/env bash
# Every test, the way CI runs them: installs what is needed, builds, runs the unit and
# integration tests, then builds again with AddressSanitizer and UndefinedBehaviorSanitizer
# and runs them all once more, then fuzzes each libFuzzer target of fuzz/ for a short while
# (TEND_FUZZ_SECONDS, 15 s by default). Any failure (a sanitizer or fuzzer finding included)
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build"
./scripts/build.sh
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 180

echo "== build with -fsanitize=address,undefined"
./scripts/build.sh --asan
echo "== tests under AddressSanitizer and UndefinedBehaviorSanitizer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 300

echo "== fuzz targets (clang, ASan + UBSan), ${TEND_FUZZ_SECONDS:-15}s each"
./scripts/fuzz.sh "${TEND_FUZZ_SECONDS:-15}"
