#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ into build-fuzz/ (clang, ASan + UBSan) and runs
# each on a copy of its seed corpus (fuzz/corpus/<target>/) for a bounded time. Fails when
# any target finds a crash, a hang, a leak, too much memory or a sanitizer report; what it
# found is left in build-fuzz/findings/<target>/ (the input, and the log beside it).
#
#   scripts/fuzz.sh                  every target, 15 s each (TEND_FUZZ_SECONDS overrides)
#   scripts/fuzz.sh 300              every target, 300 s each
#   scripts/fuzz.sh 60 config_load_fuzz gateway_session_fuzz
#   TEND_FUZZ_RUNS=1000000 TEND_FUZZ_JOBS=1 nice -n 10 scripts/fuzz.sh
#                                    a long run: a million executions per target, no time
#                                    limit, one target at a time (docs/RELIABILITY.md)
#
# Targets run side by side, one per core (TEND_FUZZ_JOBS overrides). docs/DEVELOPMENT.md
# ("Fuzzing") says how to reproduce a finding and how the long runs were made.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${TEND_FUZZ_SECONDS:-15}}
shift || true
if [ -n "${TEND_FUZZ_RUNS:-}" ]; then
  budget=(-runs="$TEND_FUZZ_RUNS")
  what="$TEND_FUZZ_RUNS runs"
else
  budget=(-max_total_time="$seconds")
  what="${seconds}s"
fi
jobs=${TEND_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
dir=build-fuzz
cxx=${TEND_FUZZ_CXX:-clang++-19}

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz: $cxx not found (scripts/setup.sh installs clang-19 and libclang-rt-19-dev)" >&2
  exit 1
fi
# -O1 and line tables, as libFuzzer advises; asserts stay on (no NDEBUG).
CXX=$cxx cmake -S . -B "$dir" -G Ninja -DTEND_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && ls -- *_fuzz.cpp | sed 's/\.cpp$//')
fi
ninja -C "$dir" -j "$jobs" "${targets[@]}"

# Reports: symbolized (llvm-symbolizer of the same LLVM), leaks included, stop at the first.
symbolizer=$(command -v llvm-symbolizer-19 || command -v llvm-symbolizer || true)
export ASAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# run TARGET: fuzzes it for $seconds on a fresh copy of its corpus. The log goes to
# build-fuzz/fuzz-logs/TARGET.log, what it found (if anything) to build-fuzz/findings/TARGET/.
run() {
  local t=$1 work=$dir/fuzz-work/$1 found=$dir/findings/$1
  rm -rf "$work" "$found"
  mkdir -p "$work" "$found" "$dir/fuzz-logs"
  cp -r "fuzz/corpus/$t/." "$work/"
  # stdin from /dev/null: a config naming /dev/stdin must not wait for a terminal.
  "$dir/fuzz/$t" "$work" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$found/" </dev/null >"$dir/fuzz-logs/$t.log" 2>&1 || return 1
  rmdir "$found"
}

echo "== fuzzing ${#targets[@]} target(s), $what each, $jobs at a time"
declare -A pid_of
failed=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run "$t" &
  pid_of[$t]=$!
done
for t in "${targets[@]}"; do
  log=$dir/fuzz-logs/$t.log
  if wait "${pid_of[$t]}"; then
    # libFuzzer's last line: executions, coverage (cov: edges, ft: features), corpus.
    echo "fuzz: $t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | tr -s ' \t' ' ')"
  else
    failed+=("$t")
    echo "fuzz: $t: FOUND SOMETHING ($log, input in $dir/findings/$t/):"
    grep -E 'ERROR|SUMMARY|invariant broken|Test unit written' "$log" | head -20 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) found something: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), nothing found"
