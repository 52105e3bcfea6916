#!/usr/bin/env bash
# Cluster benchmarks of issue 5, tend and PM2 side by side in one run. Writes a Markdown
# section (default bench/out/cluster/cluster.md) that bench/run.sh puts into
# docs/BENCHMARKS.md; it can also run alone:
#
#   bench/cluster.sh [OUTPUT.md]
#
# Figures:
#   (a) reload  a 4-instance Node app (bench/apps/cluster-app.js) under wrk (-t2 -c16, 10 s),
#               reloaded 3 s in: tend with share_port: socket (`tend reload`), PM2 in cluster
#               mode (`pm2 reload`); failed requests (wrk's non-2xx and socket errors) and
#               requests served, BENCH_CL_ROUNDS rounds each, alternating
#   (b) start   100 apps (tests' C++ backend, one port each) started until every port accepts
#               a connection: `tend start tend.yaml` (ready: tcp on each app's port; and the
#               time `tend start --wait` takes to return) vs `pm2 start ecosystem.config.js`
#
# Environment (all optional): TEND_BIN, TEND_BACKEND_BIN, BENCH_CL_ROUNDS=3,
# BENCH_CL_APPS=100, PM2 (path of pm2; default bench/.node/node_modules/.bin/pm2).
set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
source "$BENCH_DIR/lib.sh"

OUT_MD=${1:-$BENCH_DIR/out/cluster/cluster.md}
OUT=$BENCH_DIR/out/cluster
mkdir -p "$OUT" "$(dirname "$OUT_MD")"
TEND=${TEND_BIN:-$ROOT/build/src/tend}
BACKEND=${TEND_BACKEND_BIN:-$ROOT/build/tests/tend_backend}
PM2=${PM2:-$BENCH_DIR/.node/node_modules/.bin/pm2}
ROUNDS=${BENCH_CL_ROUNDS:-3}
NAPPS=${BENCH_CL_APPS:-100}
APP_JS=$BENCH_DIR/apps/cluster-app.js

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tend-cluster.XXXXXX")
export TEND_HOME=$WORK/tend-home PM2_HOME=$WORK/pm2-home
mkdir -p "$TEND_HOME" "$PM2_HOME"

cleanup() {
  set +e
  timeout 30 "$TEND" kill >/dev/null 2>&1
  timeout 60 "$PM2" kill >/dev/null 2>&1
  pkill -9 -f "$WORK" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


for tool in wrk node jq; do command -v "$tool" >/dev/null || apt_ensure "$tool"; done
if [ ! -x "$PM2" ]; then
  log "installing PM2 into bench/.node"
  npm install --prefix "$BENCH_DIR/.node" --no-audit --no-fund pm2 >&2
fi
[ -x "$TEND" ] && [ -x "$BACKEND" ] || { echo "build tend first (build/src/tend, build/tests/tend_backend)" >&2; exit 1; }

# free_port_run N: the first of N consecutive ports nothing listens on (10000-19999).
free_port_run() {
  python3 - "$1" <<'PY'
import socket, sys, random
n = int(sys.argv[1])
for _ in range(500):
    first = random.randint(10000, 19999 - n)
    ok = True
    for p in range(first, first + n):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try: s.bind(("0.0.0.0", p))
        except OSError: ok = False
        finally: s.close()
        if not ok: break
    if ok: print(first); sys.exit(0)
sys.exit(1)
PY
}

# wrk_failures FILE: non-2xx + socket errors in a wrk report; requests in $2 (nameref).
wrk_failures() {
  awk '/Non-2xx/ { f += $NF } /Socket errors/ { gsub(",", ""); f += $4 + $6 + $8 + $10 }
       END { print f + 0 }' "$1"
}
wrk_requests() { awk '/requests in/ { print $1 }' "$1"; }

# ---------------------------------------------------------------------------------------
# (a) reload under load

# wrk against PORT for 10 s, and 3 s in the command after the first three arguments (the
# reload); its time and wrk's output go to $OUT/reload-WHO-ROUND.txt.
reload_under_load() {  # reload_under_load WHO ROUND PORT COMMAND...
  local who=$1 round=$2 port=$3
  shift 3
  local out=$OUT/reload-$who-$round.txt
  wait_for 20 curl -sf "http://127.0.0.1:$port/"
  wrk -t2 -c16 -d10s "http://127.0.0.1:$port/" > "$out" 2>&1 &
  local wrk_pid=$!
  sleep 3
  local t0 t1
  t0=$(now_us)
  "$@" > "$OUT/reload-$who-$round.cmd" 2>&1 || echo "$who reload failed" >> "$out"
  t1=$(now_us)
  wait "$wrk_pid"
  echo "reload_ms $(( (t1 - t0) / 1000 ))" >> "$out"
}

reload_tend() {  # reload_tend ROUND
  local port
  port=$(free_port_run 1)
  cat > "$WORK/cluster.yaml" <<YAML
apps:
  - name: web
    run: [node, "$APP_JS"]
    instances: 4
    port: $port
    share_port: socket
YAML
  "$TEND" start "$WORK/cluster.yaml" >/dev/null
  reload_under_load tend "$1" "$port" "$TEND" reload web
  "$TEND" delete web >/dev/null
}

reload_pm2() {  # reload_pm2 ROUND
  local port
  port=$(free_port_run 1)
  PORT=$port "$PM2" start "$APP_JS" --name web -i 4 >/dev/null
  reload_under_load pm2 "$1" "$port" "$PM2" reload web
  "$PM2" delete web >/dev/null
}

# ---------------------------------------------------------------------------------------
# (b) starting NAPPS apps until every port accepts

start_tend() {  # start_tend ROUND
  local first t0 done_at wait_at
  first=$(free_port_run "$NAPPS")
  {
    echo "apps:"
    for i in $(seq 0 $((NAPPS - 1))); do
      printf '  - name: s%03d\n    run: ["%s"]\n    port: %d\n    ready: { tcp: %d }\n' \
        "$i" "$BACKEND" $((first + i)) $((first + i))
    done
  } > "$WORK/many.yaml"
  python3 "$BENCH_DIR/portwait.py" "$first" "$NAPPS" 60 > "$WORK/portwait" &
  local poll=$!
  t0=$(now_us)
  "$TEND" start --wait "$WORK/many.yaml" > "$OUT/start-tend-$1.cmd" 2>&1 || true
  wait_at=$(now_us)
  wait "$poll" || true
  done_at=$(awk '{ printf "%.0f", $1 * 1e6 }' "$WORK/portwait")
  echo "$(( (done_at - t0) / 1000 )) $(( (wait_at - t0) / 1000 ))" >> "$OUT/start-tend.txt"
  "$TEND" delete all >/dev/null
}

start_pm2() {
  local first t0 done_at
  first=$(free_port_run "$NAPPS")
  {
    echo "module.exports = { apps: ["
    for i in $(seq 0 $((NAPPS - 1))); do
      printf '  { name: "s%03d", script: "%s", interpreter: "none", env: { PORT: "%d" } },\n' \
        "$i" "$BACKEND" $((first + i))
    done
    echo "] };"
  } > "$WORK/ecosystem.config.js"
  python3 "$BENCH_DIR/portwait.py" "$first" "$NAPPS" 60 > "$WORK/portwait" &
  local poll=$!
  t0=$(now_us)
  "$PM2" start "$WORK/ecosystem.config.js" > "$OUT/start-pm2-$1.cmd" 2>&1 || true
  local cmd_at
  cmd_at=$(now_us)
  wait "$poll" || true
  done_at=$(awk '{ printf "%.0f", $1 * 1e6 }' "$WORK/portwait")
  echo "$(( (done_at - t0) / 1000 )) $(( (cmd_at - t0) / 1000 ))" >> "$OUT/start-pm2.txt"
  "$PM2" delete all >/dev/null
}

# ---------------------------------------------------------------------------------------

log "work dir $WORK"
"$TEND" ping >/dev/null
"$PM2" ping >/dev/null 2>&1
: > "$OUT/start-tend.txt"; : > "$OUT/start-pm2.txt"
for r in $(seq 1 "$ROUNDS"); do
  log "round $r: reload"
  if [ $((r % 2)) = 1 ]; then reload_tend "$r"; reload_pm2 "$r"; else reload_pm2 "$r"; reload_tend "$r"; fi
  log "round $r: start $NAPPS apps"
  if [ $((r % 2)) = 1 ]; then start_tend "$r"; start_pm2 "$r"; else start_pm2 "$r"; start_tend "$r"; fi
done

{
  echo "## Clusters: reload under load, and starting $NAPPS apps"
  echo
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/cluster.sh\`; tend vs PM2 $("$PM2" -v 2>/dev/null | tail -n 1) on Node $(node -v), $ROUNDS rounds each, the order alternated."
  echo
  echo "### Reload of a 4-instance app under load"
  echo
  echo "\`bench/apps/cluster-app.js\` (a Node HTTP server that drains on SIGTERM/SIGINT) with 4"
  echo "instances: under tend with \`share_port: socket\` (tend holds the listening socket),"
  echo "under PM2 in cluster mode (\`-i 4\`). \`wrk -t2 -c16 -d10s\` against the port, and"
  echo "\`tend reload web\` / \`pm2 reload web\` 3 s in. A failed request is a non-2xx answer or a"
  echo "socket error (connect, read, write, timeout) as wrk counts them. tend's reload is quick"
  echo "because its default ready check (a TCP connect to the port) passes at once on the socket"
  echo "tend holds: connections wait in that socket's backlog until a new process accepts them;"
  echo "PM2 waits for each new worker to listen."
  echo
  echo "| round | tend: failed / served | tend reload took | PM2: failed / served | pm2 reload took |"
  echo "| --- | --- | --- | --- | --- |"
  for r in $(seq 1 "$ROUNDS"); do
    t=$OUT/reload-tend-$r.txt p=$OUT/reload-pm2-$r.txt
    printf '| %s | **%s** / %s | %s ms | **%s** / %s | %s ms |\n' "$r" \
      "$(wrk_failures "$t")" "$(wrk_requests "$t")" "$(awk '/reload_ms/ { print $2 }' "$t")" \
      "$(wrk_failures "$p")" "$(wrk_requests "$p")" "$(awk '/reload_ms/ { print $2 }' "$p")"
  done
  echo
  echo "### Starting $NAPPS apps until every one accepts connections"
  echo
  echo "$NAPPS copies of the tests' C++ HTTP backend, each on its own port. The time is from"
  echo "the command's start until the last port accepted a TCP connection (polled every 2 ms"
  echo "by \`bench/portwait.py\`). tend: \`tend start --wait tend.yaml\` with \`ready: { tcp: PORT }\`"
  echo "per app (the second figure is when that command returned: every app ready). PM2:"
  echo "\`pm2 start ecosystem.config.js\` (the second figure is when it returned)."
  echo
  read -r tm _ _ _ _ < <(awk '{ print $1 }' "$OUT/start-tend.txt" | stats)
  read -r tw _ _ _ _ < <(awk '{ print $2 }' "$OUT/start-tend.txt" | stats)
  read -r pm _ _ _ _ < <(awk '{ print $1 }' "$OUT/start-pm2.txt" | stats)
  read -r pw _ _ _ _ < <(awk '{ print $2 }' "$OUT/start-pm2.txt" | stats)
  echo "| | all $NAPPS listening (median) | command returned (median) | each round (listening ms) |"
  echo "| --- | --- | --- | --- |"
  echo "| tend | **$tm ms** | $tw ms | $(awk '{ print $1 }' "$OUT/start-tend.txt" | paste -sd' ') |"
  echo "| PM2 | **$pm ms** | $pw ms | $(awk '{ print $1 }' "$OUT/start-pm2.txt" | paste -sd' ') |"
  echo
  echo "Machine load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} > "$OUT_MD"
log "wrote $OUT_MD"
cat "$OUT_MD"
