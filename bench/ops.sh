# shellcheck shell=bash
# The day-to-day figures of bench/run.sh, sourced by it once both daemons supervise their
# APPS apps (it uses run.sh's TEND, PM2, WORK, OUT, TEND_FAIL, PM2_FAIL and helpers):
#
#   monitor  each daemon's CPU and RSS over MONITOR_SECS while it supervises (and, for
#            tend, samples the CPU and memory of) the APPS apps
#   logging  an app writing LOG_RATE MiB/s of 100-byte lines to stdout for LOG_MB MiB:
#            the app's own elapsed time (its slowdown, when the reader lags) and the
#            daemon's CPU, through tend, through PM2, and to /dev/null directly; then the
#            same amount as fast as the app can write. Every line must reach the log.

MONITOR_SECS=${BENCH_MONITOR_SECS:-180}
MONITOR_STEP=5
LOG_RATE=${BENCH_LOG_RATE:-50}
LOG_MB=${BENCH_LOG_MB:-500}
WRITER=$BENCH_DIR/writer.py
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# ---------------------------------------------------------------------------------------
# monitor

monitor_sample() {
  local who pid
  for who in tend pm2; do
    [ -s "$WORK/$who-daemon-pid" ] || continue
    pid=$(cat "$WORK/$who-daemon-pid")
    [ -r "/proc/$pid/stat" ] || continue
    printf '%s %s %s\n' "$(now_us)" "$(cpu_ticks "$pid")" "$(status_kb "$pid" VmRSS)" \
      >> "$OUT/monitor-$who.txt"
  done
}

fig_monitor() {
  : > "$OUT/monitor-tend.txt"; : > "$OUT/monitor-pm2.txt"
  local end=$((SECONDS + MONITOR_SECS))
  monitor_sample
  while [ "$SECONDS" -lt "$end" ]; do
    sleep "$MONITOR_STEP"
    monitor_sample
  done
}

# monitor_row LABEL FILE FAILED
monitor_row() {
  local label=$1 file=$2 failed=$3
  if [ -n "$failed" ] || [ "$(grep -c . "$file" 2>/dev/null || echo 0)" -lt 2 ]; then
    printf '| %s | failed: %s | | | | |\n' "$label" "${failed:-no samples}"
    return
  fi
  awk -v tck="$CLK_TCK" -v label="$label" '
    NR == 1 { t0 = $1; c0 = $2; r0 = $3; min = $3; max = $3 }
    { t = $1; c = $2; r = $3; if (r < min) min = r; if (r > max) max = r; n = NR }
    END {
      secs = (t - t0) / 1e6
      printf "| %s | **%.2f %%** | %.1f s | %.1f MB | %.1f–%.1f MB | %d over %.0f s |\n",
        label, (c - c0) / tck / secs * 100, (c - c0) / tck, r / 1024, min / 1024, max / 1024, n, secs
    }' "$file"
}

# monitor_value FILE cpu|rss: the CPU percent over the window, or the last RSS in MB.
monitor_value() {
  awk -v tck="$CLK_TCK" -v what="$2" '
    NR == 1 { t0 = $1; c0 = $2 } { t = $1; c = $2; r = $3 }
    END { if (NR < 2) exit; if (what == "cpu") printf "%.2f", (c - c0) / tck / ((t - t0) / 1e6) * 100
          else printf "%.1f", r / 1024 }' "$1"
}

write_monitor_md() {
  local tend_fail=$1 pm2_fail=$2
  echo "## Monitoring $APPS apps for $MONITOR_SECS s"
  echo
  echo "Each daemon left alone for $MONITOR_SECS s with its $APPS \`sleep\` apps, sampled every"
  echo "$MONITOR_STEP s from \`/proc/<pid>/stat\` (utime + stime) and \`/proc/<pid>/status\`"
  echo "(VmRSS), both daemons in the same window. tend samples every instance's process tree"
  echo "(CPU and RSS from /proc) every 2 s all along; PM2's God Daemon does its own"
  echo "bookkeeping. Issue 4 asks for this side by side; no target beyond \"smaller\"."
  echo
  echo "| daemon | CPU (whole window) | CPU time used | VmRSS at the end | VmRSS min–max | samples |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  monitor_row "tend daemon" "$OUT/monitor-tend.txt" "$tend_fail"
  monitor_row "PM2 God Daemon" "$OUT/monitor-pm2.txt" "$pm2_fail"
  echo
  if [ -z "$tend_fail" ] && [ -z "$pm2_fail" ]; then
    local tc pc tr pr
    tc=$(monitor_value "$OUT/monitor-tend.txt" cpu); pc=$(monitor_value "$OUT/monitor-pm2.txt" cpu)
    tr=$(monitor_value "$OUT/monitor-tend.txt" rss); pr=$(monitor_value "$OUT/monitor-pm2.txt" rss)
    echo "| ratio | value |"
    echo "| --- | ---: |"
    echo "| PM2 / tend, CPU | **$(ratio_x "$pc" "$tc")** |"
    echo "| PM2 / tend, RSS | **$(ratio_x "$pr" "$tr")** |"
    echo
  fi
}

# ---------------------------------------------------------------------------------------
# logging

# log_run WHO MODE: one writer run (MODE paced or fast) under WHO (direct, tend, pm2).
# Appends "who mode elapsed lines daemon_cpu_percent logged_lines" to $OUT/logging.txt.
log_run() {
  local who=$1 mode=$2 rate=$LOG_RATE
  [ "$mode" = fast ] && rate=0
  local res=$WORK/logw-$who-$mode.res name=logw$mode
  rm -f "$res"
  local daemon_pid= c0= t0 t1 c1 logfile=
  case $who in
    tend) daemon_pid=$(cat "$WORK/tend-daemon-pid") ;;
    pm2) daemon_pid=$(cat "$WORK/pm2-daemon-pid") ;;
  esac
  [ -z "$daemon_pid" ] || c0=$(cpu_ticks "$daemon_pid")
  t0=$(now_us)
  case $who in
    direct)
      python3 "$WRITER" "$rate" "$LOG_MB" "$res" > /dev/null &
      echo $! > "$WORK/logw-direct.pid"
      ;;
    tend)
      cat > "$WORK/$name.yaml" <<EOF
apps:
  - name: $name
    run: [python3, "$WRITER", "$rate", "$LOG_MB", "$res"]
    autorestart: false
    logs: { max_size: 8G }
EOF
      cp "$WORK/$name.yaml" "$OUT/$name.yaml"
      logged timeout 30 "$TEND" start "$WORK/$name.yaml" > "$OUT/$name-tend-start.log" 2>&1 \
        || fail "tend start $name.yaml exited $?"
      logfile=$TEND_HOME/logs/$name-0-out.log
      ;;
    pm2)
      jq -n --arg w "$WRITER" --arg r "$rate" --arg mb "$LOG_MB" --arg res "$res" --arg n "$name" \
        '{apps: [{name: $n, script: "python3", args: [$w, $r, $mb, $res], interpreter: "none",
                  autorestart: false}]}' > "$WORK/$name-pm2.json"
      cp "$WORK/$name-pm2.json" "$OUT/$name-pm2.json"
      logged timeout 60 "$PM2" start "$WORK/$name-pm2.json" > "$OUT/$name-pm2-start.log" 2>&1 \
        || fail "pm2 start $name exited $?"
      logfile=$PM2_HOME/logs/$name-out.log
      ;;
  esac
  wait_for 300 test -s "$res" || fail "$who $mode: the writer did not finish within 300 s"
  local elapsed lines logged=
  read -r elapsed lines < "$res"
  if [ -n "$logfile" ]; then
    # The daemon may still be draining the pipe: wait until the log holds every line (or
    # stops growing), then count.
    local prev=-1 cur
    for _ in $(seq 1 300); do
      cur=$(wc -l < "$logfile" 2>/dev/null || echo 0)
      [ "$cur" -ge "$lines" ] && break
      [ "$cur" = "$prev" ] && break
      prev=$cur
      sleep 1
    done
    logged=$(wc -l < "$logfile" 2>/dev/null || echo 0)
  fi
  t1=$(now_us)
  local cpu=-
  if [ -n "$daemon_pid" ]; then
    c1=$(cpu_ticks "$daemon_pid")
    cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v tck="$CLK_TCK" \
      'BEGIN { printf "%.1f", (b - a) / tck / ((t1 - t0) / 1e6) * 100 }')
  fi
  echo "$who $mode $elapsed $lines $cpu ${logged:--}" >> "$OUT/logging.txt"
  case $who in
    direct) kill "$(cat "$WORK/logw-direct.pid")" 2>/dev/null || true ;;
    tend) timeout 30 "$TEND" delete "$name" > /dev/null 2>&1 || true; rm -f "$logfile" ;;
    pm2) timeout 60 "$PM2" delete "$name" > /dev/null 2>&1 || true; rm -f "$logfile" ;;
  esac
}

LOG_DIRECT_FAIL=
LOG_TEND_FAIL=
LOG_PM2_FAIL=

fig_logging() {
  : > "$OUT/logging.txt"
  command -v python3 >/dev/null || apt_ensure python3
  local mode
  for mode in paced fast; do
    try LOG_DIRECT_FAIL log_run direct "$mode"
    [ -n "$TEND_FAIL" ] || try LOG_TEND_FAIL log_run tend "$mode"
    [ -n "$PM2_FAIL" ] || try LOG_PM2_FAIL log_run pm2 "$mode"
  done
}

write_logging_md() {
  echo "## An app writing $LOG_RATE MiB/s to stdout"
  echo
  echo "\`bench/writer.py\` writes $LOG_MB MiB of 100-byte lines to stdout in 64 KiB writes, paced"
  echo "to $LOG_RATE MiB/s (so $(awk -v a="$LOG_MB" -v b="$LOG_RATE" 'BEGIN{printf "%.0f", a/b}') s when nothing holds it back), then"
  echo "records its own elapsed time. When the manager reads its pipe too slowly the app"
  echo "blocks in write() and its elapsed time grows: that growth is the slowdown. Run to"
  echo "/dev/null directly, under tend (default log settings: a timestamp on every line;"
  echo "\`max_size: 8G\` so that no rotation happens mid-count) and under PM2 (its defaults),"
  echo "one after the other while both daemons keep supervising their $APPS apps. The"
  echo "\"fast\" rows write the same amount with no pacing: the highest rate each manager"
  echo "takes in. Daemon CPU is the daemon's utime + stime over the run divided by the run's"
  echo "wall time (100 % = one core). Every line written must be in the log file."
  echo
  echo "| path | pacing | app elapsed | app rate | slowdown vs direct | daemon CPU | lines written | lines in the log |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  local who mode elapsed lines cpu logged base
  while read -r who mode elapsed lines cpu logged; do
    base=$(awk -v m="$mode" '$1 == "direct" && $2 == m { print $3 }' "$OUT/logging.txt")
    local label=$who
    [ "$who" = direct ] && label="/dev/null directly"
    [ "$who" = pm2 ] && label=PM2
    local check=$logged
    if [ "$logged" != - ]; then
      if [ "$logged" -ge "$lines" ]; then check="$logged (all)"; else check="**$logged (lost $((lines - logged)))**"; fi
    fi
    printf '| %s | %s | %s s | %s MiB/s | %s | %s | %s | %s |\n' "$label" \
      "$([ "$mode" = paced ] && echo "$LOG_RATE MiB/s" || echo "none")" "$elapsed" \
      "$(awk -v e="$elapsed" -v mb="$LOG_MB" 'BEGIN { printf "%.1f", mb / e }')" \
      "$(if [ "$who" = direct ]; then echo 1.00x; else ratio_x "$elapsed" "$base" 2; fi)" \
      "$([ "$cpu" = - ] && echo - || echo "$cpu %")" "$lines" "$check"
  done < "$OUT/logging.txt"
  [ -z "$LOG_DIRECT_FAIL" ] || echo "| /dev/null directly | | failed: $LOG_DIRECT_FAIL | | | | | |"
  [ -z "$LOG_TEND_FAIL" ] || echo "| tend | | failed: $LOG_TEND_FAIL | | | | | |"
  [ -z "$LOG_PM2_FAIL" ] || echo "| PM2 | | failed: $LOG_PM2_FAIL | | | | | |"
  echo
}
