#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted $ and backticks are meant literally here
# Runs tend's benchmarks side by side with their anchors (PM2) in one run and writes
# docs/BENCHMARKS.md.
#
#   bench/run.sh
#
# Figures:
#   list   `tend list` wall time with N apps vs `pm2 ls` with the same N apps (hyperfine)
#   rss    daemon RSS with N apps: the tend daemon vs PM2's God Daemon (/proc/<pid>/status)
#   crash  kill -9 of an app that has been up longer than min_uptime, to its restarted
#          process's first instruction, with restart_delay 0 (tend vs PM2)
#   monitor, logging   daemon CPU and RSS over minutes with N apps; an app writing 50 MiB/s
#          to stdout (bench/ops.sh)
#
# Environment (all optional):
#   BENCH_APPS=100        apps supervised by each manager
#   BENCH_CRASHES=20      kills per manager in the crash figure
#   BENCH_CRASH_GAP=1.6   seconds between a kill and the next (> min_uptime of 1 s)
#   TEND_BIN=path         measure this binary instead of building build/src/tend
#   BENCH_DOC=path        where to write the report (default docs/BENCHMARKS.md)
#   BENCH_KEEP=1          keep the temporary TEND_HOME / PM2_HOME for inspection
#   BENCH_MONITOR_SECS=180  length of the monitoring figure
#   BENCH_LOG_RATE=50 BENCH_LOG_MB=500   the logging figure's pace (MiB/s) and amount (MiB)
#
# Everything runs on this machine; the apps are `sleep` processes and no traffic leaves
# loopback. The run uses its own temporary TEND_HOME and PM2_HOME and stops both daemons
# (and everything they run) on exit. It takes about 3 minutes.
set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=ops.sh
source "$BENCH_DIR/ops.sh"

APPS=${BENCH_APPS:-100}
CRASHES=${BENCH_CRASHES:-20}
CRASH_GAP=${BENCH_CRASH_GAP:-1.6}
DOC=${BENCH_DOC:-$ROOT/docs/BENCHMARKS.md}
OUT=$BENCH_DIR/out                      # raw results (git-ignored)
NODE_DIR=$BENCH_DIR/.node               # local PM2 install (git-ignored)
PM2=$NODE_DIR/node_modules/.bin/pm2

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tend-bench.XXXXXX")
export TEND_HOME=$WORK/tend-home
export PM2_HOME=$WORK/pm2-home
mkdir -p "$TEND_HOME" "$PM2_HOME"
CMDS=$OUT/commands.txt
: > "$CMDS"
START_TIME=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$SECONDS

# ---------------------------------------------------------------------------------------
# Clean-up: stop both daemons through their own CLIs, then make sure nothing we started
# survives (by pid: the daemons' pid files and the app pids we listed).

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  log "cleaning up"
  if [ -n "${TEND:-}" ] && [ -x "$TEND" ] && { [ -S "$TEND_HOME/tend.sock" ] || [ -f "$TEND_HOME/tend.pid" ]; }; then
    timeout 30 "$TEND" kill >/dev/null 2>&1
  fi
  if [ -x "$PM2" ] && [ -f "$PM2_HOME/pm2.pid" ]; then
    timeout 60 "$PM2" kill >/dev/null 2>&1
  fi
  local pid
  for f in "$TEND_HOME/tend.pid" "$PM2_HOME/pm2.pid"; do
    [ -f "$f" ] || continue
    pid=$(tr -dc 0-9 < "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  # App processes left behind by a daemon that died: only pids we saw as our apps, and
  # only while they still run one of our commands.
  if [ -f "$WORK/app-pids" ]; then
    while read -r pid; do
      if [ -z "$pid" ] || [ "$pid" -le 1 ]; then continue; fi
      if [ -r "/proc/$pid/cmdline" ] && tr "\0" " " 2>/dev/null < "/proc/$pid/cmdline" | grep -q "sleep 100000"; then
        kill -9 "$pid" 2>/dev/null
      fi
    done < <(sort -u "$WORK/app-pids")
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Appends a command line to the report's list of exact commands, then runs it.
logged() {
  local a line=
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=+@%-]+$ ]]; then line+="$a "; else line+="'$a' "; fi
  done
  printf '%s\n' "${line% }" >> "$CMDS"
  "$@"
}

# ---------------------------------------------------------------------------------------
# Tools

TOOLS_FAIL=
PM2_FAIL=
TEND_FAIL=
TEND_NOTE=

install_tools() {
  apt_ensure hyperfine jq procps coreutils
  command -v hyperfine >/dev/null || fail "hyperfine is not installed"
  command -v jq >/dev/null || fail "jq is not installed"
}

install_pm2() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_ensure nodejs npm
  fi
  if [ ! -x "$PM2" ]; then
    log "installing PM2 into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    npm install --prefix "$NODE_DIR" --no-audit --no-fund pm2 >&2
  fi
  [ -x "$PM2" ] || fail "PM2 did not install into $NODE_DIR"
}

build_tend() {
  if [ -n "${TEND_BIN:-}" ]; then
    [ -x "$TEND_BIN" ] || fail "TEND_BIN=$TEND_BIN is not executable"
    return 0
  fi
  log "building tend (cmake + ninja)"
  if ! (cd "$ROOT" && cmake -S . -B build -G Ninja && ninja -C build tend) > "$OUT/build.log" 2>&1; then
    if [ -x "$ROOT/build/src/tend" ]; then
      echo "the build failed (see bench/out/build.log); measured the existing build/src/tend from $(date -u -r "$ROOT/build/src/tend" '+%Y-%m-%d %H:%M UTC')" \
        > "$WORK/tend-note"
      log "build failed; using the existing binary"
    else
      fail "the build failed and there is no build/src/tend: $(tail -n 3 "$OUT/build.log" | tr '\n' ' ')"
    fi
  fi
}

log "work dir $WORK"
try TOOLS_FAIL install_tools
try PM2_FAIL install_pm2
try TEND_FAIL build_tend
TEND=
if [ -z "$TEND_FAIL" ]; then
  TEND=${TEND_BIN:-$ROOT/build/src/tend}
  if [ -f "$WORK/tend-note" ]; then TEND_NOTE=$(cat "$WORK/tend-note"); fi
fi
[ -z "$TOOLS_FAIL" ] || { TEND_FAIL=${TEND_FAIL:-$TOOLS_FAIL}; PM2_FAIL=${PM2_FAIL:-$TOOLS_FAIL}; }

# ---------------------------------------------------------------------------------------
# The supervised set: APPS apps of `sleep 100000` in each manager, run directly (no
# shell) by both.

app_name() { printf 'b%03d' "$1"; }

# Count of our b### apps that are online.
tend_online_count() {
  timeout 10 "$TEND" list --json | jq '[.[] | select((.name | test("^b[0-9]+$")) and .status == "online")] | length'
}
pm2_online_count() {
  timeout 30 "$PM2" jlist | jq '[.[] | select((.name | test("^b[0-9]+$")) and .pm2_env.status == "online")] | length'
}

start_tend_apps() {
  {
    echo "apps:"
    for i in $(seq 1 "$APPS"); do
      printf '  - name: %s\n    run: [/bin/sleep, "100000"]\n' "$(app_name "$i")"
    done
  } > "$WORK/tend.yaml"
  cp "$WORK/tend.yaml" "$OUT/tend.yaml"
  logged timeout 60 "$TEND" start "$WORK/tend.yaml" > "$OUT/tend-start.log" 2>&1 \
    || fail "tend start tend.yaml exited $?: $(tail -n 2 "$OUT/tend-start.log" | tr '\n' ' ')"
  wait_for 60 test_eq "$APPS" tend_online_count \
    || fail "only $(tend_online_count 2>/dev/null || echo '?') of $APPS apps online after 60 s"
  timeout 10 "$TEND" list --json | jq -r '.[].pid' >> "$WORK/app-pids"
  timeout 10 "$TEND" ping --json | jq -er '.pid' > "$WORK/tend-daemon-pid" \
    || fail "tend ping --json gave no pid"
}

start_pm2_apps() {
  jq -n --argjson n "$APPS" '{apps: [range(1; $n + 1) | {
      name: ("b" + (tostring | if length < 3 then ("00" + .)[-3:] else . end)),
      script: "/bin/sleep", args: ["100000"], interpreter: "none", autorestart: true }]}' \
    > "$WORK/pm2-apps.json"
  cp "$WORK/pm2-apps.json" "$OUT/pm2-apps.json"
  logged timeout 120 "$PM2" start "$WORK/pm2-apps.json" > "$OUT/pm2-start.log" 2>&1 \
    || fail "pm2 start exited $?: $(tail -n 2 "$OUT/pm2-start.log" | tr '\n' ' ')"
  wait_for 90 test_eq "$APPS" pm2_online_count \
    || fail "only $(pm2_online_count 2>/dev/null || echo '?') of $APPS apps online after 90 s"
  timeout 30 "$PM2" jlist | jq -r '.[].pid' >> "$WORK/app-pids"
  timeout 30 "$PM2" ping > "$OUT/pm2-ping.txt" 2>&1 || fail "pm2 ping failed"
  tr -dc 0-9 < "$PM2_HOME/pm2.pid" > "$WORK/pm2-daemon-pid"
  [ -s "$WORK/pm2-daemon-pid" ] || fail "no pid in $PM2_HOME/pm2.pid"
}

test_eq() { local want=$1; shift; [ "$("$@")" = "$want" ]; }

if [ -z "$TEND_FAIL" ]; then
  log "starting $APPS apps under tend"
  try TEND_FAIL start_tend_apps
fi
if [ -z "$PM2_FAIL" ]; then
  log "starting $APPS apps under PM2"
  try PM2_FAIL start_pm2_apps
fi
sleep 2   # let both daemons settle after the burst of spawns
# One RSS sample now, before the listing benchmark sends each daemon hundreds of requests.
for who in tend pm2; do
  if [ -s "$WORK/$who-daemon-pid" ]; then
    status_kb "$(cat "$WORK/$who-daemon-pid")" VmRSS > "$OUT/rss-$who-before.txt" 2>/dev/null || true
  fi
done

# ---------------------------------------------------------------------------------------
# Figure (a): list wall time

LIST_MD=$OUT/fig-list.md

# check_cmd CHECK CMD...: runs CMD once and checks its output with CHECK (a jq
# filter that must print true, or "-" for exit status only).
check_cmd() {
  local check=$1; shift
  timeout 60 "$@" > "$WORK/check.out" 2> "$WORK/check.err" \
    || fail "\`${*##*/}\` exited $?: $(head -c 200 "$WORK/check.err" | tr '\n' ' ')"
  if [ "$check" != - ]; then
    [ "$(jq -r "$check" < "$WORK/check.out" 2>/dev/null)" = true ] \
      || fail "\`${*##*/}\` printed unexpected output: $(head -c 200 "$WORK/check.out" | tr '\n' ' ')"
  fi
}

fig_list() {
  local names=() cmds=() rows_fail=() r
  local count_check="[.[] | select(.name | test(\"^b[0-9]+\$\"))] | length == $APPS"
  if [ -n "$TEND_FAIL" ]; then
    rows_fail+=("tend|tend list|$TEND_FAIL")
  else
    try r check_cmd - "$TEND" list
    if [ -z "$r" ]; then names+=("tend list"); cmds+=("$TEND list")
    else rows_fail+=("tend|tend list|$r"); fi
    try r check_cmd "$count_check" "$TEND" list --json
    if [ -z "$r" ]; then names+=("tend list --json"); cmds+=("$TEND list --json")
    else rows_fail+=("tend|tend list --json|$r"); fi
  fi
  if [ -n "$PM2_FAIL" ]; then
    rows_fail+=("PM2|pm2 ls|$PM2_FAIL")
  else
    try r check_cmd - "$PM2" ls
    if [ -z "$r" ]; then names+=("pm2 ls"); cmds+=("$PM2 ls")
    else rows_fail+=("PM2|pm2 ls|$r"); fi
    try r check_cmd "$count_check" "$PM2" jlist
    if [ -z "$r" ]; then names+=("pm2 jlist"); cmds+=("$PM2 jlist")
    else rows_fail+=("PM2|pm2 jlist|$r"); fi
  fi
  [ ${#cmds[@]} -gt 0 ] || { printf '%s\n' "${rows_fail[@]}" > "$WORK/list-fails"; fail "no command to measure"; }
  printf '%s\n' "${rows_fail[@]+"${rows_fail[@]}"}" > "$WORK/list-fails"

  local args=() i
  for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  log "figure list: hyperfine over ${names[*]}"
  logged timeout 300 hyperfine -N --warmup 3 --min-runs 10 --style basic --time-unit millisecond \
    --export-json "$OUT/list.json" "${args[@]}" > "$OUT/list-hyperfine.txt" 2>&1 \
    || fail "hyperfine failed: $(tail -n 3 "$OUT/list-hyperfine.txt" | tr '\n' ' ')"
}

write_list_md() {
  local ok=$1
  {
    echo "## Listing $APPS apps: \`tend list\` vs \`pm2 ls\`"
    echo
    echo "Wall time of one CLI call (process start to exit, including the round trip to the"
    echo "daemon) while each manager supervises $APPS \`sleep 100000\` apps. hyperfine, no"
    echo "shell (\`-N\`), 3 warm-up runs, at least 10 runs each, all four commands in one"
    echo "hyperfine invocation. Target: \`tend list\` under 10 ms and at least 20x faster than"
    echo "\`pm2 ls\`."
    echo
    echo "| manager | command | median | mean ± σ | min | max | runs |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    if [ "$ok" = 1 ] && [ -f "$OUT/list.json" ]; then
      jq -r '.results[] | [.command, .median, .mean, .stddev, .min, .max, (.times | length)] | @tsv' \
        "$OUT/list.json" > "$WORK/list.tsv"
      while IFS=$'\t' read -r name med mean sd min max n; do
        local who=tend
        [[ $name == pm2* ]] && who=PM2
        printf '| %s | `%s` | **%s ms** | %s ± %s ms | %s ms | %s ms | %s |\n' "$who" "$name" \
          "$(fmt_num "$(awk -v x="$med" 'BEGIN{print x*1000}')" 2)" \
          "$(fmt_num "$(awk -v x="$mean" 'BEGIN{print x*1000}')" 2)" \
          "$(fmt_num "$(awk -v x="$sd" 'BEGIN{print x*1000}')" 2)" \
          "$(fmt_num "$(awk -v x="$min" 'BEGIN{print x*1000}')" 2)" \
          "$(fmt_num "$(awk -v x="$max" 'BEGIN{print x*1000}')" 2)" "$n"
      done < "$WORK/list.tsv"
    fi
    if [ -s "$WORK/list-fails" ]; then
      while IFS='|' read -r who name reason; do
        if [ -n "$who" ]; then
          printf '| %s | `%s` | failed: %s | | | | |\n' "$who" "$name" "$reason"
        fi
      done < "$WORK/list-fails"
    fi
    if [ "$ok" != 1 ]; then
      echo "| all | hyperfine | failed: $LIST_FAIL | | | | |"
    fi
    echo
    if [ "$ok" = 1 ] && [ -f "$WORK/list.tsv" ]; then
      local t tj p pj
      t=$(awk -F'\t' '$1 == "tend list" { print $2 * 1000 }' "$WORK/list.tsv")
      tj=$(awk -F'\t' '$1 == "tend list --json" { print $2 * 1000 }' "$WORK/list.tsv")
      p=$(awk -F'\t' '$1 == "pm2 ls" { print $2 * 1000 }' "$WORK/list.tsv")
      pj=$(awk -F'\t' '$1 == "pm2 jlist" { print $2 * 1000 }' "$WORK/list.tsv")
      echo "| ratio (medians) | value | target | met |"
      echo "| --- | ---: | --- | --- |"
      echo "| \`pm2 ls\` / \`tend list\` | **$(ratio_x "$p" "$t")** | ≥ 20x | $(meets "$(ratio "$p" "$t")" ge 20) |"
      echo "| \`pm2 jlist\` / \`tend list --json\` | $(ratio_x "$pj" "$tj") | ≥ 20x | $(meets "$(ratio "$pj" "$tj")" ge 20) |"
      echo "| \`tend list\` median | $(fmt_num "${t:-nan}" 2) ms | < 10 ms | $(meets "${t:-}" lt 10) |"
      echo
      echo '```'
      local max
      max=$(awk -F'\t' '{ if ($2 > m) m = $2 } END { print m * 1000 }' "$WORK/list.tsv")
      while IFS=$'\t' read -r name med _; do
        printf '%-18s %9s ms %s\n' "$name" "$(fmt_num "$(awk -v x="$med" 'BEGIN{print x*1000}')" 2)" \
          "$(bar "$(awk -v x="$med" 'BEGIN{print x*1000}')" "$max")"
      done < "$WORK/list.tsv"
      echo '```'
      echo
    fi
  } > "$LIST_MD"
}

log "figure (a): list wall time"
try LIST_FAIL fig_list
if [ -z "$LIST_FAIL" ]; then write_list_md 1; else write_list_md 0; fi

# ---------------------------------------------------------------------------------------
# Figure (b): daemon RSS

RSS_MD=$OUT/fig-rss.md
RSS_SAMPLES=5

# Samples one daemon's VmRSS RSS_SAMPLES times, one second apart; checks the daemon is
# the one we started.
sample_rss() {
  local who=$1 pid=$2 file=$OUT/rss-$1.txt
  : > "$file"
  local i
  for i in $(seq 1 "$RSS_SAMPLES"); do
    kill -0 "$pid" 2>/dev/null || fail "the $who daemon (pid $pid) is gone"
    status_kb "$pid" VmRSS >> "$file" || fail "cannot read /proc/$pid/status"
    [ "$i" -eq "$RSS_SAMPLES" ] || sleep 1
  done
  {
    echo "VmHWM $(status_kb "$pid" VmHWM)"
    echo "RssAnon $(status_kb "$pid" RssAnon)"
    echo "RssFile $(status_kb "$pid" RssFile)"
    echo "Threads $(status_kb "$pid" Threads)"
  } > "$OUT/rss-$who-extra.txt"
}

tend_rss() {
  local pid now
  pid=$(cat "$WORK/tend-daemon-pid")
  now=$(timeout 10 "$TEND" ping --json | jq -er .pid) || fail "tend ping --json failed"
  [ "$now" = "$pid" ] || fail "the tend daemon changed pid ($pid, now $now): it restarted"
  [ "$(tend_online_count)" = "$APPS" ] || fail "not all $APPS apps are online any more"
  sample_rss tend "$pid"
}

pm2_rss() {
  local pid now
  pid=$(cat "$WORK/pm2-daemon-pid")
  now=$(tr -dc 0-9 < "$PM2_HOME/pm2.pid")
  [ "$now" = "$pid" ] || fail "the PM2 daemon changed pid ($pid, now $now)"
  [ "$(pm2_online_count)" = "$APPS" ] || fail "not all $APPS apps are online any more"
  sample_rss pm2 "$pid"
}

rss_row() {
  local who=$1 label=$2 failed=$3
  if [ -n "$failed" ]; then
    printf '| %s | | failed: %s | | | | | | |\n' "$label" "$failed"
    return
  fi
  local s med min max
  s=$(stats < "$OUT/rss-$who.txt")
  read -r med _ min max _ <<< "$s"
  local before=n/a
  if [ -s "$OUT/rss-$who-before.txt" ]; then
    before="$(fmt_num "$(awk '{print $1/1024}' "$OUT/rss-$who-before.txt")" 1) MB"
  fi
  printf '| %s | %s | **%s MB** | %s–%s MB | %s | %s MB | %s MB | %s MB | %s |\n' "$label" \
    "$(cat "$WORK/$who-daemon-pid")" \
    "$(fmt_num "$(awk -v x="$med" 'BEGIN{print x/1024}')" 1)" \
    "$(fmt_num "$(awk -v x="$min" 'BEGIN{print x/1024}')" 1)" \
    "$(fmt_num "$(awk -v x="$max" 'BEGIN{print x/1024}')" 1)" "$before" \
    "$(fmt_num "$(awk '$1=="VmHWM"{print $2/1024}' "$OUT/rss-$who-extra.txt")" 1)" \
    "$(fmt_num "$(awk '$1=="RssAnon"{print $2/1024}' "$OUT/rss-$who-extra.txt")" 1)" \
    "$(fmt_num "$(awk '$1=="RssFile"{print $2/1024}' "$OUT/rss-$who-extra.txt")" 1)" \
    "$(awk '$1=="Threads"{print $2}' "$OUT/rss-$who-extra.txt")"
}

log "figure (b): daemon RSS"
RSS_TEND_FAIL=$TEND_FAIL
RSS_PM2_FAIL=$PM2_FAIL
if [ -z "$RSS_TEND_FAIL" ]; then try RSS_TEND_FAIL tend_rss; fi
if [ -z "$RSS_PM2_FAIL" ]; then try RSS_PM2_FAIL pm2_rss; fi
{
  echo "## Daemon memory with $APPS apps"
  echo
  echo "Resident set size of the daemon process alone (not its apps), from \`VmRSS\` in"
  echo "\`/proc/<pid>/status\`: $RSS_SAMPLES samples one second apart, taken after the listing"
  echo "benchmark (and one before it, 2 s after the apps started), with the same $APPS"
  echo "\`sleep\` apps running under each manager. tend's pid"
  echo "comes from \`tend ping --json\`, PM2's God Daemon's from \`\$PM2_HOME/pm2.pid\`. Target:"
  echo "tend under 10 MB (PM2's daemon is quoted at 50-60 MB)."
  echo
  echo "| daemon | pid | VmRSS median | min–max | before the listing benchmark | VmHWM (peak) | RssAnon (heap, stacks) | RssFile (binary, libraries) | threads |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  rss_row tend "tend daemon" "$RSS_TEND_FAIL"
  rss_row pm2 "PM2 God Daemon" "$RSS_PM2_FAIL"
  echo
  if [ -z "$RSS_TEND_FAIL" ] && [ -z "$RSS_PM2_FAIL" ]; then
    t=$(stats < "$OUT/rss-tend.txt" | cut -d' ' -f1)
    p=$(stats < "$OUT/rss-pm2.txt" | cut -d' ' -f1)
    tmb=$(awk -v x="$t" 'BEGIN{print x/1024}')
    pmb=$(awk -v x="$p" 'BEGIN{print x/1024}')
    echo "| ratio (medians) | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    echo "| PM2 / tend | **$(ratio_x "$p" "$t")** | | |"
    echo "| tend VmRSS | $(fmt_num "$tmb" 1) MB | < 10 MB | $(meets "$tmb" lt 10) |"
    echo
    echo '```'
    printf '%-15s %7s MB %s\n' "tend daemon" "$(fmt_num "$tmb" 1)" "$(bar "$tmb" "$pmb")"
    printf '%-15s %7s MB %s\n' "PM2 God Daemon" "$(fmt_num "$pmb" 1)" "$(bar "$pmb" "$pmb")"
    echo '```'
    echo
  elif [ -z "$RSS_TEND_FAIL" ]; then
    t=$(stats < "$OUT/rss-tend.txt" | cut -d' ' -f1)
    echo "tend VmRSS $(fmt_num "$(awk -v x="$t" 'BEGIN{print x/1024}')" 1) MB; target < 10 MB."
    echo
  fi
} > "$RSS_MD"

# ---------------------------------------------------------------------------------------
# Figure (d): both daemons over minutes of monitoring (bench/ops.sh)

MONITOR_MD=$OUT/fig-monitor.md
log "figure (d): monitoring $APPS apps for $MONITOR_SECS s"
MON_FAIL=
try MON_FAIL fig_monitor
write_monitor_md "${TEND_FAIL:-$MON_FAIL}" "${PM2_FAIL:-$MON_FAIL}" > "$MONITOR_MD"

# ---------------------------------------------------------------------------------------
# Figure (c): crash to restarted

CRASH_MD=$OUT/fig-crash.md
# The probe: bash writes its own start time (EPOCHREALTIME, microseconds, no fork) and
# pid, then becomes `sleep`. The same argv runs under both managers, without a shell.
probe_script() { printf 'echo ${EPOCHREALTIME/./} $$ >> %s; exec /bin/sleep 100000' "$1"; }

start_tend_crash() {
  local stamps=$WORK/crash-tend.stamps
  : > "$stamps"
  # YAML single quotes: the probe has no single quote in it.
  cat > "$WORK/crash.yaml" <<EOF
apps:
  - name: crash
    run: [/bin/bash, -c, '$(probe_script "$stamps")']
    restart_delay: 0ms
    min_uptime: 1s
    max_restarts: 1000      # tend counts every restart in restart_window (15m) toward this
EOF
  cp "$WORK/crash.yaml" "$OUT/crash.yaml"
  logged timeout 30 "$TEND" start "$WORK/crash.yaml" > "$OUT/crash-tend-start.log" 2>&1 \
    || fail "tend start crash.yaml exited $?: $(tail -n 2 "$OUT/crash-tend-start.log" | tr '\n' ' ')"
  wait_for 20 test -s "$stamps" || fail "the crash app never started"
}

start_pm2_crash() {
  local stamps=$WORK/crash-pm2.stamps
  : > "$stamps"
  jq -n --arg s "$(probe_script "$stamps")" '{apps: [{name: "crash", script: "/bin/bash",
      args: ["-c", $s], interpreter: "none", autorestart: true, restart_delay: 0,
      min_uptime: 1000, max_restarts: 1000}]}' > "$WORK/crash-pm2.json"
  cp "$WORK/crash-pm2.json" "$OUT/crash-pm2.json"
  logged timeout 60 "$PM2" start "$WORK/crash-pm2.json" > "$OUT/crash-pm2-start.log" 2>&1 \
    || fail "pm2 start crash exited $?: $(tail -n 2 "$OUT/crash-pm2-start.log" | tr '\n' ' ')"
  wait_for 20 test -s "$stamps" || fail "the crash app never started"
}

# One kill -9 of the side's probe, then the time from just before the kill to the
# restarted probe's own timestamp, appended (in µs) to $OUT/crash-<who>.txt.
# The gap after the kill is also the wait that keeps every run longer than min_uptime.
crash_once() {
  local who=$1 n=$2 stamps=$WORK/crash-$1.stamps
  local lines pid t0 t1 newpid comm
  lines=$(wc -l < "$stamps")
  read -r _ pid < <(tail -n 1 "$stamps")
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || fail "kill #$n: probe pid $pid is not running"
  [ "$comm" = sleep ] || fail "kill #$n: pid $pid runs '$comm', not the probe's sleep"
  echo "$pid" >> "$WORK/app-pids"
  t0=$(now_us)
  kill -9 "$pid"
  sleep "$CRASH_GAP"
  local deadline=$((SECONDS + 10))
  while [ "$(wc -l < "$stamps")" -le "$lines" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "kill #$n: no restart within 10 s of kill -9"
    sleep 0.1
  done
  read -r t1 newpid < <(tail -n 1 "$stamps")
  [ "$newpid" != "$pid" ] || fail "kill #$n: same pid after restart"
  [ "$t1" -ge "$t0" ] || fail "kill #$n: restart stamp before the kill"
  echo "$newpid" >> "$WORK/app-pids"
  echo $((t1 - t0)) >> "$OUT/crash-$who.txt"
}

# The floor: the harness itself starting the same probe (fork + exec of bash), with no
# manager in between. Subtracting it leaves roughly what each manager adds.
floor_once() {
  local stamps=$WORK/crash-floor.stamps t0 t1
  t0=$(now_us)
  /bin/bash -c "echo \${EPOCHREALTIME/./} \$\$ >> $stamps"
  read -r t1 _ < <(tail -n 1 "$stamps")
  echo $((t1 - t0)) >> "$OUT/crash-floor.txt"
}

crash_check_tend() {
  local n=$1 row
  row=$(timeout 10 "$TEND" list --json | jq -c '.[] | select(.name == "crash")')
  read -r _ last < <(tail -n 1 "$WORK/crash-tend.stamps")
  jq -r --arg last "$last" --argjson n "$n" '
    "listed: status \(.status), restarts \(.restarts), pid \(.pid)" +
    (if (.pid | tostring) == $last then " = last probe pid" else " ≠ last probe pid \($last)" end) +
    (if .restarts == $n then "" else " (expected \($n) restarts)" end)' <<< "$row"
}

crash_check_pm2() {
  local n=$1 row
  row=$(timeout 30 "$PM2" jlist | jq -c '.[] | select(.name == "crash")')
  read -r _ last < <(tail -n 1 "$WORK/crash-pm2.stamps")
  jq -r --arg last "$last" --argjson n "$n" '
    "listed: status \(.pm2_env.status), restarts \(.pm2_env.restart_time), pid \(.pid)" +
    (if (.pid | tostring) == $last then " = last probe pid" else " ≠ last probe pid \($last)" end) +
    (if .pm2_env.restart_time == $n then "" else " (expected \($n) restarts)" end)' <<< "$row"
}

log "figure (c): crash to restarted ($CRASHES kills each, ${CRASH_GAP}s apart)"
CRASH_TEND_FAIL=$TEND_FAIL
CRASH_PM2_FAIL=$PM2_FAIL
CRASH_FLOOR_FAIL=
: > "$OUT/crash-tend.txt"; : > "$OUT/crash-pm2.txt"; : > "$OUT/crash-floor.txt"
if [ -z "$CRASH_TEND_FAIL" ]; then try CRASH_TEND_FAIL start_tend_crash; fi
if [ -z "$CRASH_PM2_FAIL" ]; then try CRASH_PM2_FAIL start_pm2_crash; fi
sleep "$CRASH_GAP"   # first runs longer than min_uptime too
cat >> "$CMDS" <<EOF
# crash loop, $CRASHES times, alternating tend / PM2 / floor:
#   t0=\$EPOCHREALTIME; kill -9 <probe pid>; sleep $CRASH_GAP; t1=<restarted probe's own EPOCHREALTIME>
#   floor: t0=\$EPOCHREALTIME; /bin/bash -c 'echo \${EPOCHREALTIME/./} \$\$ >> FILE'
EOF
for i in $(seq 1 "$CRASHES"); do
  if [ -z "$CRASH_TEND_FAIL" ]; then try CRASH_TEND_FAIL crash_once tend "$i"; fi
  if [ -z "$CRASH_PM2_FAIL" ]; then try CRASH_PM2_FAIL crash_once pm2 "$i"; fi
  if [ -z "$CRASH_FLOOR_FAIL" ]; then try CRASH_FLOOR_FAIL floor_once; fi
done
CHECK_TEND=; CHECK_PM2=
[ -n "$CRASH_TEND_FAIL" ] || CHECK_TEND=$(crash_check_tend "$CRASHES" 2>/dev/null || echo "tend list --json failed after the run")
[ -n "$CRASH_PM2_FAIL" ] || CHECK_PM2=$(crash_check_pm2 "$CRASHES" 2>/dev/null || echo "pm2 jlist failed after the run")

us_ms() { awk -v x="$1" 'BEGIN { if (x == "nan") print "nan"; else printf "%.2f", x / 1000 }'; }

crash_row() {
  local label=$1 file=$2 failed=$3 check=$4 floor_med=$5
  local done_n
  done_n=$(grep -c . "$file" || true)
  if [ "$done_n" -eq 0 ]; then
    printf '| %s | 0 | failed: %s | | | | | |\n' "$label" "${failed:-no data}"
    return
  fi
  local med p90 min max n
  read -r med p90 min max n <<< "$(stats < "$file")"
  local net=""
  [ -n "$floor_med" ] && net="$(awk -v a="$med" -v b="$floor_med" 'BEGIN { printf "%.2f ms", (a - b) / 1000 }')"
  printf '| %s | %s | **%s ms** | %s ms | %s ms | %s ms | %s | %s |\n' "$label" "$n" \
    "$(us_ms "$med")" "$(us_ms "$p90")" "$(us_ms "$min")" "$(us_ms "$max")" "${net:-}" \
    "${failed:+failed after $n runs: $failed. }${check}"
}

{
  echo "## Crash to restarted (restart_delay 0)"
  echo
  echo "An app that has been up longer than its min_uptime (1 s) is killed with \`kill -9\`;"
  echo "the figure is the time from just before the kill to the first instruction of the"
  echo "restarted process. The app is a probe, the same argv under both managers and run"
  echo "without a shell: \`/bin/bash -c 'echo \${EPOCHREALTIME/./} \$\$ >> FILE; exec /bin/sleep 100000'\`,"
  echo "so the restarted process stamps its own start (µs, no fork) and pid. The harness"
  echo "reads \$EPOCHREALTIME just before \`kill -9\` (no fork either), then waits ${CRASH_GAP} s,"
  echo "longer than min_uptime, so no backoff applies to the next kill. $CRASHES kills per"
  echo "manager, alternating tend and PM2, while both still supervise their $APPS other apps."
  echo "Both use restart_delay 0, min_uptime 1 s and max_restarts 1000. The floor row is the"
  echo "harness starting the same probe itself (fork + exec of bash, no manager): it is part"
  echo "of every restart, so \"minus floor\" estimates what the manager adds. Target: under"
  echo "10 ms plus backoff (no backoff here)."
  echo
  echo "| manager | runs | median | p90 | min | max | median minus floor | check |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  FLOOR_MED=
  if [ -s "$OUT/crash-floor.txt" ]; then FLOOR_MED=$(stats < "$OUT/crash-floor.txt" | cut -d' ' -f1); fi
  crash_row tend "$OUT/crash-tend.txt" "$CRASH_TEND_FAIL" "$CHECK_TEND" "$FLOOR_MED"
  crash_row PM2 "$OUT/crash-pm2.txt" "$CRASH_PM2_FAIL" "$CHECK_PM2" "$FLOOR_MED"
  crash_row "floor: bash starts the probe itself" "$OUT/crash-floor.txt" "$CRASH_FLOOR_FAIL" "" ""
  echo
  if [ -s "$OUT/crash-tend.txt" ] && [ -s "$OUT/crash-pm2.txt" ]; then
    t=$(stats < "$OUT/crash-tend.txt" | cut -d' ' -f1)
    p=$(stats < "$OUT/crash-pm2.txt" | cut -d' ' -f1)
    echo "| ratio / target | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    echo "| PM2 / tend (medians) | **$(ratio_x "$p" "$t")** | | |"
    if [ -n "$FLOOR_MED" ]; then
      echo "| PM2 / tend (medians minus floor) | $(ratio_x "$(awk -v a="$p" -v b="$FLOOR_MED" 'BEGIN{print a-b}')" "$(awk -v a="$t" -v b="$FLOOR_MED" 'BEGIN{print a-b}')") | | |"
    fi
    echo "| tend median | $(us_ms "$t") ms | < 10 ms | $(meets "$(us_ms "$t")" lt 10) |"
    echo
  fi
  for who in tend pm2 floor; do
    [ -s "$OUT/crash-$who.txt" ] || continue
    echo "<details><summary>$who: every run (ms, in order)</summary>"
    echo
    awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 / 1000 } END { print "" }' "$OUT/crash-$who.txt"
    echo
    echo "</details>"
    echo
  done
} > "$CRASH_MD"

# ---------------------------------------------------------------------------------------
# Figure (e): an app writing 50 MiB/s to stdout (bench/ops.sh)

LOGGING_MD=$OUT/fig-logging.md
log "figure (e): an app writing $LOG_RATE MiB/s ($LOG_MB MiB) through each manager"
fig_logging
write_logging_md > "$LOGGING_MD"

# ---------------------------------------------------------------------------------------
# Gateway figures (bench/gateway.sh: tend's gateway vs nginx vs direct), in their own
# temporary TEND_HOME and nginx prefix; BENCH_GATEWAY=0 skips them.

# Runs bench/NAME.sh into MD (a Markdown section headed TITLE), unless SWITCH is 0: then MD
# is empty. A script that fails leaves a section that says so, with its last lines.
run_section() {  # run_section NAME TITLE SWITCH MD
  local name=$1 title=$2 md=$4
  if [ "$3" = 0 ]; then : > "$md"; return; fi
  log "$name figures (bench/$name.sh)"
  if ! TEND_BIN=${TEND:-${TEND_BIN:-}} PM2=$PM2 timeout 900 "$BENCH_DIR/$name.sh" "$md" 2> "$OUT/$name.log" >/dev/null; then
    { echo "## $title"; echo; echo "failed: bench/$name.sh exited non-zero: $(tail -n 3 "$OUT/$name.log" | tr '\n' ' ')"; echo; } > "$md"
  fi
}

GATEWAY_MD=$OUT/gateway.md
run_section gateway Gateway "${BENCH_GATEWAY:-1}" "$GATEWAY_MD"

# ---------------------------------------------------------------------------------------
# Cluster figures (bench/cluster.sh: tend reload vs pm2 reload under wrk, and starting 100
# apps until each listens, tend vs PM2). BENCH_CLUSTER=0 skips them.
CLUSTER_MD=$OUT/cluster.md
run_section cluster Clusters "${BENCH_CLUSTER:-1}" "$CLUSTER_MD"

# Spawn latency (bench/spawn.sh: tend's spawner vs the fork-based one it replaced, in one
# process, interleaved). BENCH_SPAWN=0 skips it.

SPAWN_MD=$OUT/spawn.md
if [ "${BENCH_SPAWN:-1}" != 0 ]; then
  log "spawn latency (bench/spawn.sh)"
  {
    echo "## Spawn"
    echo
    echo "How long one spawn holds the daemon's thread: from the call to a pid that runs the"
    echo "program (the child has exec'd \`/bin/true\`), with 8 MB of touched heap in the"
    echo "process (about the daemon's RSS). \`clone\` is tend's spawner (\`clone(CLONE_VM |"
    echo "CLONE_VFORK)\`); \`fork\` is the fork + exec-error-pipe spawner it replaced, kept in"
    echo "bench/spawn_bench.cpp as the reference. 200 spawns each, interleaved. On a busy machine"
    echo "the medians and tails are the scheduler's (the daemon waits for the child to reach"
    echo "\`execve\` either way); the minimums are the cost of the mechanism."
    echo
    echo '```'
    timeout 600 "$BENCH_DIR/spawn.sh" 200 8 2>&1 || echo "bench/spawn.sh failed"
    echo '```'
    echo
  } > "$SPAWN_MD"
else
  : > "$SPAWN_MD"
fi

# ---------------------------------------------------------------------------------------
# The report

tend_version() {
  [ -n "$TEND" ] || { echo "not built"; return; }
  "$TEND" --version 2>/dev/null | head -n 1 || echo unknown
}
git_desc() {
  local head dirty
  head=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt 2>/dev/null | wc -l)
  if [ "$dirty" -gt 0 ]; then echo "$head (+ $dirty uncommitted changes under src/)"; else echo "$head"; fi
}
pm2_version() { [ -x "$PM2" ] && (cd "$NODE_DIR" && node -p 'require("pm2/package.json").version' 2>/dev/null) || echo "not installed"; }

# both A B: combines two `meets` answers.
both() {
  if [ "$1" = yes ] && [ "$2" = yes ]; then echo yes
  elif [ "$1" = n/a ] || [ "$2" = n/a ]; then echo n/a
  else echo "**no**"; fi
}

# or_failed VALUE TEXT: TEXT when VALUE is set, else "failed".
or_failed() { if [ -n "$1" ]; then printf '%s' "$2"; else printf 'failed'; fi; }

ELAPSED=$((SECONDS - T_START))
mkdir -p "$(dirname "$DOC")"
{
  echo "# Benchmarks"
  echo
  echo "Generated by \`bench/run.sh\` on $START_TIME (took ${ELAPSED} s). Every figure ran"
  echo "side by side with its anchor in this one run, on this machine; numbers are medians"
  echo "and the machine is noisy (a 2-core VM, shared with builds and tests), so read"
  echo "ratios, not single values. Re-run with \`bench/run.sh\`; raw results land in"
  echo "\`bench/out/\`."
  echo
  echo "## Summary"
  echo
  echo "| figure | tend | PM2 | PM2 / tend | target | met |"
  echo "| --- | ---: | ---: | ---: | --- | --- |"
  if [ -z "$LIST_FAIL" ] && [ -f "$WORK/list.tsv" ]; then
    t=$(awk -F'\t' '$1 == "tend list" { print $2 * 1000 }' "$WORK/list.tsv")
    p=$(awk -F'\t' '$1 == "pm2 ls" { print $2 * 1000 }' "$WORK/list.tsv")
    echo "| list, $APPS apps (median wall time) | $(or_failed "$t" "$(fmt_num "${t:-0}" 2) ms") | $(or_failed "$p" "$(fmt_num "${p:-0}" 1) ms") | $(ratio_x "$p" "$t") | < 10 ms, ≥ 20x | $(both "$(meets "${t:-}" lt 10)" "$(meets "$(ratio "$p" "$t")" ge 20)") |"
  else
    echo "| list, $APPS apps | failed: $LIST_FAIL | | | < 10 ms, ≥ 20x | n/a |"
  fi
  t=; p=
  [ -n "$RSS_TEND_FAIL" ] || t=$(awk '{print}' "$OUT/rss-tend.txt" | stats | awk '{ printf "%.1f", $1 / 1024 }')
  [ -n "$RSS_PM2_FAIL" ] || p=$(awk '{print}' "$OUT/rss-pm2.txt" | stats | awk '{ printf "%.1f", $1 / 1024 }')
  echo "| daemon RSS, $APPS apps (median VmRSS) | $(or_failed "$t" "$t MB") | $(or_failed "$p" "$p MB") | $(ratio_x "$p" "$t") | < 10 MB | $(meets "${t:-}" lt 10) |"
  t=; p=
  [ -s "$OUT/crash-tend.txt" ] && t=$(stats < "$OUT/crash-tend.txt" | cut -d' ' -f1)
  [ -s "$OUT/crash-pm2.txt" ] && p=$(stats < "$OUT/crash-pm2.txt" | cut -d' ' -f1)
  echo "| crash to restarted (median) | $(or_failed "$t" "$(us_ms "${t:-0}") ms") | $(or_failed "$p" "$(us_ms "${p:-0}") ms") | $(ratio_x "$p" "$t") | < 10 ms + backoff | $(meets "$(if [ -n "$t" ]; then us_ms "$t"; fi)" lt 10) |"
  t=$(monitor_value "$OUT/monitor-tend.txt" cpu 2>/dev/null); p=$(monitor_value "$OUT/monitor-pm2.txt" cpu 2>/dev/null)
  echo "| daemon CPU, $APPS apps over $MONITOR_SECS s | $(or_failed "$t" "$t %") | $(or_failed "$p" "$p %") | $(ratio_x "$p" "$t") | | |"
  t=$(awk '$1 == "tend" && $2 == "paced" { print $3 }' "$OUT/logging.txt" 2>/dev/null)
  p=$(awk '$1 == "pm2" && $2 == "paced" { print $3 }' "$OUT/logging.txt" 2>/dev/null)
  d=$(awk '$1 == "direct" && $2 == "paced" { print $3 }' "$OUT/logging.txt" 2>/dev/null)
  echo "| app writing $LOG_RATE MiB/s: elapsed vs /dev/null (${d:-?} s) | $(or_failed "$t" "$(ratio_x "$t" "$d" 2)") | $(or_failed "$p" "$(ratio_x "$p" "$d" 2)") | | | |"
  t=$(awk '$1 == "tend" && $2 == "paced" { print $5 }' "$OUT/logging.txt" 2>/dev/null)
  p=$(awk '$1 == "pm2" && $2 == "paced" { print $5 }' "$OUT/logging.txt" 2>/dev/null)
  echo "| daemon CPU while logging $LOG_RATE MiB/s | $(or_failed "$t" "$t %") | $(or_failed "$p" "$p %") | $(ratio_x "$p" "$t") | | |"
  echo
  if [ -s "$GATEWAY_MD" ]; then
    echo "The gateway's targets, from [Gateway](#gateway) (tend vs nginx vs the app directly):"
    echo
    echo "| figure | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    grep -E '^\| .* \| (yes|\*\*no\*\*) \|$' "$GATEWAY_MD" || true
    echo
  fi
  [ ! -s "$CLUSTER_MD" ] || { echo "Reload under load and starting 100 apps, tend vs PM2: [Clusters](#clusters-reload-under-load-and-starting-100-apps)."; echo; }
  echo "## Machine"
  echo
  machine_info
  echo "- Load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares its 2 cores)"
  echo "- Date: $START_TIME"
  echo
  echo "## Versions"
  echo
  echo "- tend: $(tend_version), git $(git_desc), build type $(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$ROOT/build/CMakeCache.txt" 2>/dev/null || echo unknown)"
  [ -z "$TEND_NOTE" ] || echo "- note: $TEND_NOTE"
  echo "- PM2: $(pm2_version) (npm, in bench/.node)"
  echo "- Node.js: $(node --version 2>/dev/null || echo missing), npm $(npm --version 2>/dev/null || echo missing)"
  echo "- hyperfine: $(hyperfine --version 2>/dev/null | awk '{print $2}' || echo missing)"
  echo "- bash: ${BASH_VERSION}, jq: $(jq --version 2>/dev/null || echo missing)"
  echo
  [ -z "$TEND_FAIL" ] || { echo "**tend set-up failed:** $TEND_FAIL"; echo; }
  [ -z "$PM2_FAIL" ] || { echo "**PM2 set-up failed:** $PM2_FAIL"; echo; }
  cat "$LIST_MD" "$RSS_MD" "$MONITOR_MD" "$CRASH_MD" "$LOGGING_MD" "$GATEWAY_MD" "$CLUSTER_MD" "$SPAWN_MD"
  echo "## Exact commands"
  echo
  echo "\`\$WORK\` is the run's temporary directory (\`TEND_HOME=\$WORK/tend-home\`,"
  echo "\`PM2_HOME=\$WORK/pm2-home\`); \`\$ROOT\` is the repository."
  echo
  echo '```sh'
  sed -e "s#$WORK#\$WORK#g" -e "s#$ROOT#\$ROOT#g" "$CMDS"
  echo '```'
  echo
  echo "The $APPS apps, in tend.yaml (PM2: the same in an ecosystem JSON file, \`script: /bin/sleep\`,"
  echo "\`args: [\"100000\"]\`, \`interpreter: none\`):"
  echo
  echo '```yaml'
  head -n 5 "$OUT/tend.yaml" 2>/dev/null || true
  echo "  # ... through $(app_name "$APPS")"
  echo '```'
  echo
  if [ -f "$OUT/crash.yaml" ]; then
    echo "The crash probe under tend (PM2: \`script: /bin/bash\`, the same \`args\`, \`restart_delay: 0\`,"
    echo "\`min_uptime: 1000\`, \`max_restarts: 1000\`):"
    echo
    echo '```yaml'
    sed -e "s#$WORK#\$WORK#g" "$OUT/crash.yaml"
    echo '```'
    echo
  fi
} > "$DOC"

log "wrote $DOC"
sed -n '/^## Summary/,/^## Machine/p' "$DOC" | sed '$d' >&2
