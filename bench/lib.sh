#!/usr/bin/env bash
# Helpers shared by bench/run.sh. Sourced, not run; every function is safe under
# `set -euo pipefail`.
set -euo pipefail

# ---------------------------------------------------------------------------------------
# Logging

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Inside a step run by `try`: record why it failed and leave the step's subshell.
fail() {
  printf '%s\n' "$*" > "${FAIL_FILE:?}"
  log "failed: $*"
  exit 1
}

# try VAR CMD...: runs CMD in a subshell with errexit on, and sets VAR to "" when it
# succeeded, else to a one-line reason (what `fail` said, or the command and line that
# errexit stopped on). Always returns 0, so a failed step never ends the run.
# Call it as a plain statement: inside `if`, `||` or `&&` bash would ignore errexit in CMD.
try() {
  local __var=$1 __ff __rc __reason
  shift
  __ff=$(mktemp "${TMPDIR:-/tmp}/tend-bench-fail.XXXXXX")
  set +e
  (
    FAIL_FILE=$__ff
    set -eEuo pipefail
    # shellcheck disable=SC2154  # __erc is assigned inside the trap
    trap '__erc=$?; [ -s "$FAIL_FILE" ] || printf "%s exited %s (line %s)\n" "$BASH_COMMAND" "$__erc" "$LINENO" > "$FAIL_FILE"' ERR
    "$@"
  )
  __rc=$?
  set -e
  __reason=
  if [ "$__rc" -ne 0 ]; then
    __reason=$(head -c 300 "$__ff" | tr '\n|' ' /' | sed 's/[[:space:]]*$//')
    __reason=${__reason:-exited $__rc}
  fi
  rm -f "$__ff"
  printf -v "$__var" '%s' "$__reason"
}

# ---------------------------------------------------------------------------------------
# Numbers

# Statistics of the numbers on stdin (one per line). Prints "median p90 min max n".
# Median: the mean of the two middle values for an even count. p90: nearest rank.
stats() {
  sort -g | awk '
    { v[NR] = $1 }
    END {
      n = NR
      if (n == 0) { print "nan nan nan nan 0"; exit }
      med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      r = int(0.9 * n + 0.999999); if (r < 1) r = 1; if (r > n) r = n
      printf "%s %s %s %s %d\n", med, v[r], v[1], v[n], n
    }'
}

# fmt_num VALUE [DECIMALS]
fmt_num() { LC_ALL=C awk -v x="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, x }'; }

# ratio A B [DECIMALS]: A / B, or "n/a" when either is missing or B is zero.
ratio() {
  LC_ALL=C awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN {
    if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) { printf "n/a"; exit }
    printf "%.*f", d, a / b }'
}

# ratio_x A B: "12.3x", or "n/a".
ratio_x() {
  local r
  r=$(ratio "$@")
  if [ "$r" = n/a ]; then printf 'n/a'; else printf '%sx' "$r"; fi
}

# meets VALUE lt|ge LIMIT: "yes", "**no**", or "n/a" when VALUE is missing.
meets() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "" || v == "n/a" || v == "nan") { print "n/a"; exit }
    ok = (op == "lt") ? (v + 0 < l + 0) : (v + 0 >= l + 0)
    print ok ? "yes" : "**no**" }'
}

# A horizontal bar scaled to MAX: bar VALUE MAX [WIDTH]
bar() {
  LC_ALL=C awk -v v="$1" -v m="$2" -v w="${3:-50}" 'BEGIN {
    n = (m > 0) ? int(v / m * w + 0.5) : 0
    if (n < 1 && v > 0) { printf "▏"; exit }
    s = ""; for (i = 0; i < n; i++) s = s "█"; printf "%s", s }'
}

# ---------------------------------------------------------------------------------------
# Processes

# VmRSS (or another /proc/<pid>/status field) of a pid, in kB.
status_kb() {
  local pid=$1 field=${2:-VmRSS}
  awk -v f="$field:" '$1 == f { print $2; found = 1 } END { if (!found) exit 1 }' \
    "/proc/$pid/status"
}

# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds or time runs out.
wait_for() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# The current time in microseconds since the epoch, without forking (bash 5's
# EPOCHREALTIME; LC_ALL=C keeps its decimal point a dot).
now_us() { local t=$EPOCHREALTIME; printf '%s' "${t/./}"; }

# ---------------------------------------------------------------------------------------
# Set-up

# Installs Debian packages that are missing (root, or sudo when available).
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

# machine_info: a Markdown bullet list describing this machine.
machine_info() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  echo "- CPU: ${cpu:-unknown} × $(nproc) (nproc)"
  echo "- Memory: $mem"
  echo "- Kernel: $(uname -srm)"
  echo "- OS: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
}
