#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted $ and backticks are meant literally here
# Gateway benchmarks: tend's on-demand HTTP gateway side by side with the app directly and
# with nginx (Debian's, as a keep-alive reverse proxy), in one run. Writes a Markdown
# section (default bench/out/gateway/gateway.md) that bench/run.sh puts into
# docs/BENCHMARKS.md; it can also run alone:
#
#   bench/gateway.sh [OUTPUT.md]
#
# Figures:
#   (a) rps      warm app, keep-alive, small response: wrk -t2 -c32 -d5s, direct / nginx / tend
#   (a) and (b): BENCH_GW_ROUNDS rounds, medians; in (a) the sides' order is reversed
#                every other round
#   (b) latency  bench/latency.cpp at a fixed rate, the three sides interleaved request by
#                request: p50 and p99 of direct / nginx / tend, and the added part
#   (c) cold     time to first byte through tend for a stopped app, minus the app's own
#                spawn-to-listening time without tend (medians of BENCH_GW_COLD runs each),
#                for an app that listens itself and for one with socket_activation
#   (d) stream   1 GiB uploaded (POST) and downloaded (GET) directly, through nginx and
#                through tend (MB/s), with the client sharing both cores with the server side
#                and with the client on a core of its own; the tend daemon's VmHWM afterwards
#   (e) burst    1,000 concurrent requests (bench/burst.py) to a stopped app through tend:
#                all answered, one start, time to the last answer; the same burst to the
#                running app through tend and directly for comparison
#
# Environment (all optional):
#   TEND_BIN=path           tend binary (default build/src/tend; built with ninja when missing)
#   TEND_BACKEND_BIN=path   the test backend (default build/tests/tend_backend)
#   BENCH_GW_DURATION=5s    duration of each run in (a) and (b)
#   BENCH_GW_LAT_RATE=3000  requests per second in (b), all sides together
#   BENCH_GW_ROUNDS=3       rounds of (a) and (b)
#   BENCH_GW_COLD=10        cold starts per side in (c)
#   BENCH_GW_STREAM=3       1 GiB transfers per side, direction and placement in (d)
#   BENCH_GW_BURST=3        rounds of (e) (cold, warm, direct in each)
#   BENCH_GW_BURST_N=1000   requests per burst in (e)
#   BENCH_KEEP=1            keep the temporary directory
#
# Loopback only. Uses its own temporary TEND_HOME and nginx prefix, stops both (tend kill,
# nginx by pid) on exit. nginx and the hand-run apps are started with setsid, each in its
# own session like the tend daemon and the apps it spawns: with the kernel's autogroup
# scheduling (on by default) every session shares the CPU as one group, so otherwise nginx
# and its app would share the script's group while tend and its app get a group each, and
# on a machine busy with other work the two proxies would not get the same CPU share. Every step is under `timeout`; the whole run takes about a minute.
set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

GOUT=$BENCH_DIR/out/gateway                 # raw results (git-ignored)
MD=${1:-$GOUT/gateway.md}
DUR=${BENCH_GW_DURATION:-5s}
ROUNDS=${BENCH_GW_ROUNDS:-3}
COLD_N=${BENCH_GW_COLD:-10}
STREAM_N=${BENCH_GW_STREAM:-3}
LAT_RATE=${BENCH_GW_LAT_RATE:-3000}
BURST_ROUNDS=${BENCH_GW_BURST:-3}
BURST_N=${BENCH_GW_BURST_N:-1000}

rm -rf "$GOUT"
mkdir -p "$GOUT"
GW=$(mktemp -d "${TMPDIR:-/tmp}/tend-gw-bench.XXXXXX")
export TEND_HOME=$GW/tend-home
mkdir -p "$TEND_HOME"
GCMDS=$GOUT/commands.txt
: > "$GCMDS"
TEND=

gw_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  log "gateway: cleaning up"
  if [ -n "$TEND" ] && [ -x "$TEND" ] && { [ -S "$TEND_HOME/tend.sock" ] || [ -f "$TEND_HOME/tend.pid" ]; }; then
    timeout 30 "$TEND" kill >/dev/null 2>&1
  fi
  if [ -f "$TEND_HOME/tend.pid" ]; then
    local p
    p=$(tr -dc 0-9 < "$TEND_HOME/tend.pid")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  fi
  # They were started inside `try` subshells: their pids are in files, not in variables here.
  local f pids=()
  for f in "$GW"/direct.pid "$GW"/nginx.pid "$GW"/sink.pid; do
    [ -f "$f" ] && p=$(tr -dc 0-9 < "$f") && [ -n "$p" ] && kill "$p" 2>/dev/null && pids+=("$p")
  done
  for p in "${pids[@]+"${pids[@]}"}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $GW"; else rm -rf "$GW"; fi
  exit "$rc"
}
trap gw_cleanup EXIT
trap 'exit 130' INT TERM

glogged() {
  local a line=
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=+@%-]+$ ]]; then line+="$a "; else line+="'$a' "; fi
  done
  printf '%s\n' "${line% }" >> "$GCMDS"
  "$@"
}

accepts() { { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1; exec 9>&-; }

# A TCP port below the ephemeral range that no socket on this machine uses (ss).
used_ports=" "
free_port() {
  local p lo
  lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$lo" -gt 12000 ] || lo=32768
  while :; do
    p=$((10000 + RANDOM % (lo - 11000)))
    [[ $used_ports == *" $p "* ]] && continue
    if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ] && ! accepts "$p"; then
      used_ports+="$p "
      echo "$p"
      return
    fi
  done
}

# ---------------------------------------------------------------------------------------
# Set-up

SETUP_FAIL=
NGINX_FAIL=
setup_tools() {
  local need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v curl >/dev/null || need+=(curl)
  command -v jq >/dev/null || need+=(jq)
  [ ${#need[@]} -eq 0 ] || apt_ensure "${need[@]}"
  command -v wrk >/dev/null || fail "wrk is not installed"
  command -v curl >/dev/null || fail "curl is not installed"
}
setup_nginx() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_ensure nginx
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || fail "nginx is not installed"
}
# Binaries are copied into the temp dir, so a concurrent rebuild cannot swap them mid-run.
setup_bins() {
  local t=${TEND_BIN:-$ROOT/build/src/tend} b=${TEND_BACKEND_BIN:-$ROOT/build/tests/tend_backend}
  if [ ! -x "$t" ] || [ ! -x "$b" ]; then
    (cd "$ROOT" && ninja -C build tend tend_backend) > "$GOUT/build.log" 2>&1 \
      || fail "ninja -C build tend tend_backend failed (bench/out/gateway/build.log)"
  fi
  cp "$t" "$GW/tend"; cp "$b" "$GW/tend_backend"; cp "$BENCH_DIR/sink.py" "$GW/sink.py"
  cp "$BENCH_DIR/burst.py" "$GW/burst.py"
  command -v python3 >/dev/null || fail "python3 (for bench/sink.py) is missing"
  g++ -std=c++20 -O2 -o "$GW/latency" "$BENCH_DIR/latency.cpp" > "$GOUT/latency-build.log" 2>&1 \
    || fail "g++ could not build bench/latency.cpp (bench/out/gateway/latency-build.log)"
}
try SETUP_FAIL setup_tools
[ -n "$SETUP_FAIL" ] || try SETUP_FAIL setup_bins
try NGINX_FAIL setup_nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
BACKEND=$GW/tend_backend

P_DIRECT=$(free_port)   # the backend run by hand
P_NGINX=$(free_port)    # nginx in front of P_DIRECT
P_GW=$(free_port)       # tend's gateway
P_APP=$(free_port)      # the backend tend runs on demand
P_COLD=$(free_port)     # the backend started by hand in (c)
P_SINK=$(free_port)     # bench/sink.py run by hand in (d)
P_NGINX_SINK=$(free_port) # nginx in front of P_SINK
P_SINK_APP=$(free_port) # bench/sink.py run by tend on demand in (d)
P_SA_APP=$(free_port)   # the backend tend runs on demand with socket activation in (c)
HOST=b.localhost
SINK_HOST=s.localhost
SA_HOST=a.localhost

start_direct() {
  PORT=$P_DIRECT setsid "$BACKEND" > "$GOUT/direct.log" 2>&1 &
  echo $! > "$GW/direct.pid"
  echo "PORT=$P_DIRECT setsid \$WORK/tend_backend &" >> "$GCMDS"
  wait_for 10 accepts "$P_DIRECT" || fail "tend_backend on $P_DIRECT did not accept in 10 s"
  curl -fsS -m 5 "http://127.0.0.1:$P_DIRECT/" > /dev/null || fail "GET / on the direct backend failed"
}

start_nginx() {
  local d=$GW/nginx
  mkdir -p "$d/logs" "$d/tmp"
  cat > "$d/nginx.conf" <<EOF
worker_processes 1;
error_log $d/logs/error.log warn;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  upstream app { server 127.0.0.1:$P_DIRECT; keepalive 64; }
  upstream sink { server 127.0.0.1:$P_SINK; keepalive 8; }
  server {
    listen 127.0.0.1:$P_NGINX;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
  # (d): bodies streamed both ways, never to a temporary file
  server {
    listen 127.0.0.1:$P_NGINX_SINK;
    client_max_body_size 0;
    location / {
      proxy_pass http://sink;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_request_buffering off;
      proxy_buffers 16 64k;
      proxy_busy_buffers_size 512k;
      proxy_max_temp_file_size 0;
    }
  }
}
EOF
  cp "$d/nginx.conf" "$GOUT/nginx.conf"
  setsid "$NGINX" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' > "$GOUT/nginx.log" 2>&1 &
  echo $! > "$GW/nginx.pid"
  echo "setsid nginx -p \$WORK/nginx -c \$WORK/nginx/nginx.conf -g 'daemon off;' &" >> "$GCMDS"
  wait_for 10 accepts "$P_NGINX" || fail "nginx did not listen on $P_NGINX: $(tail -n 2 "$GOUT/nginx.log" | tr '\n' ' ')"
  curl -fsS -m 5 "http://127.0.0.1:$P_NGINX/" > /dev/null || fail "GET / through nginx failed"
}

tend_status() { timeout 10 "$TEND" list --json | jq -r --arg n "${1:-b}" '.[] | select(.name == $n) | .status'; }

start_tend() {
  cat > "$GW/tend.yaml" <<EOF
gateway: {listen: 127.0.0.1:$P_GW}
apps:
  - name: b
    run: [$BACKEND]
    port: $P_APP
    on_demand: {hosts: [$HOST], idle_timeout: 10m}
  - name: s
    run: [$(command -v python3), $GW/sink.py]
    port: $P_SINK_APP
    on_demand: {hosts: [$SINK_HOST], idle_timeout: 10m}
  - name: a
    run: [$BACKEND]
    port: $P_SA_APP
    on_demand: {hosts: [$SA_HOST], idle_timeout: 10m, socket_activation: true}
EOF
  sed "s#$GW#\$WORK#g" "$GW/tend.yaml" > "$GOUT/tend.yaml"
  echo "tend start \$WORK/tend.yaml" >> "$GCMDS"
  timeout 30 "$TEND" start "$GW/tend.yaml" > "$GOUT/tend-start.log" 2>&1 \
    || fail "tend start exited $?: $(tail -n 2 "$GOUT/tend-start.log" | tr '\n' ' ')"
  timeout 10 "$TEND" ping --json | jq -er .pid > "$GW/tend-pid" || fail "tend ping --json gave no pid"
  wait_for 10 accepts "$P_GW" || fail "tend's gateway did not listen on $P_GW"
  # warm it: the first request starts the app
  curl -fsS -m 30 -H "Host: $HOST" "http://127.0.0.1:$P_GW/" > /dev/null \
    || fail "warm-up GET through tend's gateway failed"
  [ "$(tend_status)" = online ] || fail "app b is $(tend_status) after the warm-up request"
}

TEND_FAIL=$SETUP_FAIL
DIRECT_FAIL=$SETUP_FAIL
if [ -z "$SETUP_FAIL" ]; then
  TEND=$GW/tend
  log "gateway: ports direct $P_DIRECT, nginx $P_NGINX, tend gateway $P_GW, app $P_APP"
  try DIRECT_FAIL start_direct
  if [ -z "$DIRECT_FAIL" ] && [ -z "$NGINX_FAIL" ]; then try NGINX_FAIL start_nginx; fi
  [ -z "$DIRECT_FAIL" ] || NGINX_FAIL=${NGINX_FAIL:-backend: $DIRECT_FAIL}
  try TEND_FAIL start_tend
fi

# URL and extra wrk/curl args per side.
url_of() {
  case $1 in
    direct) echo "http://127.0.0.1:$P_DIRECT/" ;;
    nginx) echo "http://127.0.0.1:$P_NGINX/" ;;
    tend) echo "http://127.0.0.1:$P_GW/" ;;
  esac
}
fail_of() {
  case $1 in direct) echo "$DIRECT_FAIL" ;; nginx) echo "$NGINX_FAIL" ;; tend) echo "$TEND_FAIL" ;; esac
}

# run_wrk SIDE NAME ROUND WRK-ARGS...: runs wrk against SIDE, output in
# $GOUT/NAME-SIDE-ROUND.txt.
run_wrk() {
  local side=$1 name=$2 round=$3; shift 3
  local hdr=()
  [ "$side" = tend ] && hdr=(-H "Host: $HOST")
  local out=$GOUT/$name-$side-$round.txt
  glogged timeout 60 wrk "$@" "${hdr[@]+"${hdr[@]}"}" "$(url_of "$side")" > "$out" 2>&1 \
    || fail "wrk exited $?: $(tail -n 2 "$out" | tr '\n' ' ')"
  if grep -q 'Non-2xx\|Socket errors' "$out"; then
    fail "wrk saw errors: $(grep 'Non-2xx\|Socket errors' "$out" | tr '\n' ' ' | tr -s ' ')"
  fi
  grep -q '^Requests/sec' "$out" || fail "no Requests/sec in wrk's output"
}

# Every round's value, then the median: req/s of figure NAME for SIDE, and a latency
# percentile ("50%", "99%", "99.9%") or the sample count ("count") for SIDE.
rps_runs() {
  local f
  for f in "$GOUT/$2-$1"-*.txt; do [ -f "$f" ] && awk '/^Requests\/sec/ { print $2 }' "$f"; done
  return 0
}
rps_of() { rps_runs "$1" "${2:-rps}" | stats | awk '{ print $1 }'; }
pct_runs() {
  local f col
  case $2 in 50%) col=3 ;; 99%) col=5 ;; 99.9%) col=6 ;; count) col=2 ;; *) return 1 ;; esac
  for f in "$GOUT"/lat-*.txt; do [ -f "$f" ] && awk -v s="$1" -v c="$col" '$1 == s { print $c }' "$f"; done
  return 0
}
pct_of() { pct_runs "$1" "$2" | stats | awk '{ print $1 }'; }
# The sides in round N: reversed every other round, so no side always goes first.
order_of() { if (( $1 % 2 )); then echo "${SIDES[@]}"; else printf '%s\n' "${SIDES[@]}" | tac | tr '\n' ' '; fi; }

# ---------------------------------------------------------------------------------------
# (a) throughput and (b) latency, the three sides one after the other in each figure

SIDES=(direct nginx tend)
declare -A RPS_FAIL LAT_FAIL
for s in "${SIDES[@]}"; do RPS_FAIL[$s]=$(fail_of "$s"); LAT_FAIL[$s]=$(fail_of "$s"); done
log "gateway (a): wrk -t2 -c32 -d$DUR, direct / nginx / tend, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  for s in $(order_of "$round"); do
    if [ -z "${RPS_FAIL[$s]}" ]; then try r run_wrk "$s" rps "$round" -t2 -c32 "-d$DUR"; RPS_FAIL[$s]=$r; fi
  done
done
# One run of bench/latency.cpp over the sides that have not failed. When it fails, the side
# it names is marked failed (or every side, when it names none) and the run is tried again
# without it.
run_latency() {
  local round=$1 s args=() out=$GOUT/lat-$1.txt
  for s in "${SIDES[@]}"; do
    [ -z "${LAT_FAIL[$s]}" ] || continue
    case $s in
      direct) args+=("direct=$P_DIRECT") ;;
      nginx) args+=("nginx=$P_NGINX@$HOST") ;;
      tend) args+=("tend=$P_GW@$HOST") ;;
    esac
  done
  [ ${#args[@]} -gt 0 ] || return 0
  if glogged timeout 120 "$GW/latency" "$LAT_RATE" "${DUR%s}" "${args[@]}" > "$out" 2> "$out.err"; then
    return 0
  fi
  local why bad
  why=$(head -c 200 "$out.err" | tr '\n' ' ')
  bad=$(sed -n 's/^latency: \([a-z]*\): .*/\1/p' "$out.err" | head -n 1)
  rm -f "$out"
  for s in "${SIDES[@]}"; do
    if [ -z "$bad" ] || [ "$s" = "$bad" ]; then LAT_FAIL[$s]=${LAT_FAIL[$s]:-latency exited: $why}; fi
  done
  [ -z "$bad" ] || run_latency "$round"
}
log "gateway (b): latency at $LAT_RATE req/s for ${DUR}, direct / nginx / tend interleaved, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do run_latency "$round"; done

# ---------------------------------------------------------------------------------------
# (c) cold start

COLD_TEND_FAIL=$TEND_FAIL
COLD_SA_FAIL=$TEND_FAIL
COLD_FLOOR_FAIL=$SETUP_FAIL
: > "$GOUT/cold-tend.txt"; : > "$GOUT/cold-sa.txt"; : > "$GOUT/cold-floor.txt"
: > "$GOUT/cold-tend-codes.txt"

cold_tend_once() {
  timeout 30 "$TEND" stop b > /dev/null 2>&1 || fail "tend stop b exited $?"
  wait_for 10 test_status stopped || fail "b is $(tend_status) 10 s after tend stop"
  wait_for 10 not_accepts "$P_APP" || fail "port $P_APP still accepts after tend stop"
  local res code ttfb
  res=$(curl -sS -m 30 -o /dev/null -w '%{http_code} %{time_starttransfer}' -H "Host: $HOST" \
    "http://127.0.0.1:$P_GW/") || fail "curl through tend failed: $res"
  read -r code ttfb <<< "$res"
  echo "$code" >> "$GOUT/cold-tend-codes.txt"
  [ "$code" = 200 ] || fail "cold request got HTTP $code"
  awk -v t="$ttfb" 'BEGIN { printf "%.0f\n", t * 1e6 }' >> "$GOUT/cold-tend.txt"
}
test_status() { [ "$(tend_status "${2:-b}")" = "$1" ]; }

# The same for app a, which has socket_activation: tend holds its listening socket, so its
# port accepts connections whether the app runs or not.
cold_sa_once() {
  timeout 30 "$TEND" stop a > /dev/null 2>&1 || fail "tend stop a exited $?"
  wait_for 10 test_status stopped a || fail "a is $(tend_status a) 10 s after tend stop"
  local res code ttfb
  res=$(curl -sS -m 30 -o /dev/null -w '%{http_code} %{time_starttransfer}' -H "Host: $SA_HOST" \
    "http://127.0.0.1:$P_GW/") || fail "curl through tend failed: $res"
  read -r code ttfb <<< "$res"
  echo "$code" >> "$GOUT/cold-tend-codes.txt"
  [ "$code" = 200 ] || fail "cold request (socket activation) got HTTP $code"
  awk -v t="$ttfb" 'BEGIN { printf "%.0f\n", t * 1e6 }' >> "$GOUT/cold-sa.txt"
}
not_accepts() { ! accepts "$1"; }

# fork + exec of the backend to the moment it accepts a TCP connection; busy-polls with
# bash's /dev/tcp (no fork per poll).
cold_floor_once() {
  local t0 t1 pid deadline=$((SECONDS + 10))
  t0=$(now_us)
  PORT=$P_COLD "$BACKEND" > /dev/null 2>&1 &
  pid=$!
  until accepts "$P_COLD"; do
    if [ "$SECONDS" -ge "$deadline" ]; then kill "$pid"; wait "$pid" 2>/dev/null; fail "no accept in 10 s"; fi
  done
  t1=$(now_us)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo $((t1 - t0)) >> "$GOUT/cold-floor.txt"
  wait_for 5 not_accepts "$P_COLD" || fail "port $P_COLD still accepts after kill"
}

log "gateway (c): cold start, $COLD_N times each"
cat >> "$GCMDS" <<EOF
# cold start, $COLD_N times, alternating:
#   tend stop b; (wait for stopped); curl -o /dev/null -w '%{http_code} %{time_starttransfer}' -H 'Host: $HOST' http://127.0.0.1:GPORT/
#   tend stop a; (wait for stopped); curl -o /dev/null -w '%{http_code} %{time_starttransfer}' -H 'Host: $SA_HOST' http://127.0.0.1:GPORT/
#   floor: t0=\$EPOCHREALTIME; PORT=P \$WORK/tend_backend & ; busy-poll connect (bash /dev/tcp) until it accepts; t1=\$EPOCHREALTIME
EOF
for i in $(seq 1 "$COLD_N"); do
  if [ -z "$COLD_TEND_FAIL" ]; then try COLD_TEND_FAIL cold_tend_once; fi
  if [ -z "$COLD_SA_FAIL" ]; then try COLD_SA_FAIL cold_sa_once; fi
  if [ -z "$COLD_FLOOR_FAIL" ]; then try COLD_FLOOR_FAIL cold_floor_once; fi
done

# ---------------------------------------------------------------------------------------
# (d) 1 GiB streamed

STREAM_FILE=$GW/1g.bin
STREAM_BYTES=1073741824
declare -A STREAM_FAIL=([direct]=$DIRECT_FAIL [nginx]=$NGINX_FAIL [tend]=$TEND_FAIL)
HWM_BEFORE=; HWM_AFTER=; RSS_AFTER=
if [ -z "$TEND_FAIL" ] && [ -s "$GW/tend-pid" ]; then
  HWM_BEFORE=$(status_kb "$(cat "$GW/tend-pid")" VmHWM 2>/dev/null || true)
fi
NCPU=$(nproc)
PLACES=(shared)
[ "$NCPU" -lt 2 ] || PLACES+=(pinned)

start_sink() {
  PORT=$P_SINK setsid python3 "$GW/sink.py" > "$GOUT/sink.log" 2>&1 &
  echo $! > "$GW/sink.pid"
  echo "PORT=$P_SINK setsid python3 \$WORK/sink.py &" >> "$GCMDS"
  wait_for 10 accepts "$P_SINK" || fail "sink.py on $P_SINK did not accept in 10 s"
  curl -fsS -m 5 "http://127.0.0.1:$P_SINK/" > /dev/null || fail "GET / on sink.py failed"
}
warm_nginx_sink() {
  curl -fsS -m 10 "http://127.0.0.1:$P_NGINX_SINK/" > /dev/null || fail "GET / on sink.py through nginx failed"
}
warm_tend_sink() {
  curl -fsS -m 30 -H "Host: $SINK_HOST" "http://127.0.0.1:$P_GW/" > /dev/null \
    || fail "warm-up GET of app s through tend failed"
}

# The processes of the server side of (d): the hand-run sink, nginx's master and worker,
# the tend daemon and its app s.
server_pids() {
  local f p
  for f in "$GW/sink.pid" "$GW/nginx/nginx.pid" "$GW/tend-pid"; do
    [ -s "$f" ] && p=$(tr -dc 0-9 < "$f") && [ -n "$p" ] && echo "$p" && pgrep -P "$p" || true
  done
  [ -z "$TEND_FAIL" ] && timeout 10 "$TEND" list --json | jq -r '.[] | select(.name == "s") | .pid // empty' || true
}
# Pins every thread of the server side to the last core, or lets it run on all of them.
place_servers() {
  local cpus=0-$((NCPU - 1)) p
  [ "$1" = pinned ] && cpus=$((NCPU - 1))
  : > "$GOUT/placement-$1.txt"
  for p in $(server_pids | sort -u); do
    taskset -a -p -c "$cpus" "$p" > /dev/null 2>&1 || true
    echo "$(ps -o comm= -p "$p" 2>/dev/null) $(taskset -c -p "$p" 2>&1)" >> "$GOUT/placement-$1.txt"
  done
}

# One transfer of 1 GiB: SIDE (direct, nginx, tend), DIR (up: POST the file; down: GET
# /bytes/N), PLACE (shared: the client may run on any core; pinned: the client on core 0,
# the server side on the last one), RECORD (0 for the warm-up).
stream_once() {
  local side=$1 dir=$2 place=$3 port hdr=() pin=()
  case $side in
    direct) port=$P_SINK ;;
    nginx) port=$P_NGINX_SINK ;;
    tend) port=$P_GW; hdr=(-H "Host: $SINK_HOST") ;;
  esac
  [ "$place" = shared ] || pin=(taskset -c 0)
  local tag=$place-$dir-$side
  local out=$GOUT/stream-$tag.last body=$GOUT/stream-$tag.body
  if [ "$dir" = up ]; then
    # -T streams the file (--data-binary @file would read all of it into curl's memory
    # first); -X POST keeps the method; an empty Expect skips 100-continue.
    glogged timeout 300 "${pin[@]+"${pin[@]}"}" curl -sS -X POST -T "$STREAM_FILE" -H 'Expect:' \
      -H 'Content-Type: application/octet-stream' "${hdr[@]+"${hdr[@]}"}" -o "$body" \
      -w '%{http_code} %{speed_upload} %{size_upload} %{time_total}\n' \
      "http://127.0.0.1:$port/echo" > "$out" 2> "$out.err" \
      || fail "curl exited $?: $(head -c 200 "$out.err" | tr '\n' ' ')"
  else
    glogged timeout 300 "${pin[@]+"${pin[@]}"}" curl -sS "${hdr[@]+"${hdr[@]}"}" -o /dev/null \
      -w '%{http_code} %{speed_download} %{size_download} %{time_total}\n' \
      "http://127.0.0.1:$port/bytes/$STREAM_BYTES" > "$out" 2> "$out.err" \
      || fail "curl exited $?: $(head -c 200 "$out.err" | tr '\n' ' ')"
    echo "bytes=$STREAM_BYTES" > "$body"
  fi
  local code size
  read -r code _ size _ < "$out"
  [ "$code" = 200 ] || fail "HTTP $code: $(head -c 200 "$body" 2>/dev/null | tr '\n' ' ')"
  [ "$size" = "$STREAM_BYTES" ] || fail "curl moved $size bytes, not $STREAM_BYTES"
  [ "$dir" = down ] || grep -q "bytes=$STREAM_BYTES" "$body" \
    || fail "the sink did not count $STREAM_BYTES bytes: $(head -c 200 "$body" | tr '\n' ' ')"
  [ "${4:-1}" = 0 ] || cat "$out" >> "$GOUT/stream-$tag.txt"
}

log "gateway (d): 1 GiB up and down, direct / nginx / tend, placements: ${PLACES[*]}"
if [ -z "${STREAM_FAIL[direct]}" ]; then try r start_sink; STREAM_FAIL[direct]=$r; fi
[ -z "${STREAM_FAIL[direct]}" ] || STREAM_FAIL[nginx]=${STREAM_FAIL[nginx]:-sink: ${STREAM_FAIL[direct]}}
if [ -z "${STREAM_FAIL[nginx]}" ]; then try r warm_nginx_sink; STREAM_FAIL[nginx]=$r; fi
if [ -z "${STREAM_FAIL[tend]}" ]; then try r warm_tend_sink; STREAM_FAIL[tend]=$r; fi
truncate -s 1G "$STREAM_FILE"
echo "truncate -s 1G \$WORK/1g.bin" >> "$GCMDS"
for place in "${PLACES[@]}"; do
  place_servers "$place"
  echo "# placement $place: server side pinned with taskset -a -p -c CPUS PID" >> "$GCMDS"
  for dir in up down; do
    for s in direct nginx tend; do : > "$GOUT/stream-$place-$dir-$s.txt"; done
    for i in $(seq 0 "$STREAM_N"); do   # round 0 is an unrecorded warm-up
      for s in $(if (( i % 2 )); then echo direct nginx tend; else echo tend nginx direct; fi); do
        if [ -z "${STREAM_FAIL[$s]}" ]; then try r stream_once "$s" "$dir" "$place" "$((i > 0))"; STREAM_FAIL[$s]=$r; fi
      done
    done
  done
done
place_servers shared
if [ -z "$TEND_FAIL" ] && [ -s "$GW/tend-pid" ]; then
  HWM_AFTER=$(status_kb "$(cat "$GW/tend-pid")" VmHWM 2>/dev/null || true)
  RSS_AFTER=$(status_kb "$(cat "$GW/tend-pid")" VmRSS 2>/dev/null || true)
fi
rm -f "$STREAM_FILE"
# The median MB/s of TAG (place-dir-side), and every run's.
speed_of() { awk '{ print $2 / 1e6 }' "$GOUT/stream-$1.txt" 2>/dev/null | stats | awk '{ printf "%.1f", $1 }'; }
speed_runs() { awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $2 / 1e6 }' "$GOUT/stream-$1.txt"; }

# ---------------------------------------------------------------------------------------
# (e) a burst of concurrent requests to a stopped app

declare -A BURST_FAIL=([cold]=$TEND_FAIL [warm]=$TEND_FAIL [direct]=$DIRECT_FAIL)
for k in cold warm direct; do : > "$GOUT/burst-$k.txt"; done
: > "$GOUT/burst-cold-starts.txt"
activations_of_b() { timeout 10 "$TEND" describe b --json | jq -er '.[0].gateway.activations'; }
processes_of_b() { grep -c 'b\[0\]: started pid' "$TEND_HOME/daemon.log" || true; }

# burst_once KIND PORT HOST: one burst.py run, its line appended to burst-KIND.txt.
burst_once() {
  local kind=$1 port=$2 host=$3 out
  out=$(timeout 120 python3 "$GW/burst.py" "$port" "$host" "$BURST_N" 2>&1) \
    || fail "burst.py exited $?: $(printf '%s' "$out" | tail -n 1)"
  echo "$out" >> "$GOUT/burst-$kind.txt"
}
burst_cold_once() {
  timeout 30 "$TEND" stop b > /dev/null 2>&1 || fail "tend stop b exited $?"
  wait_for 10 test_status stopped || fail "b is $(tend_status) 10 s after tend stop"
  wait_for 10 not_accepts "$P_APP" || fail "port $P_APP still accepts after tend stop"
  local a0 p0 a1 p1
  a0=$(activations_of_b) || fail "tend describe b --json has no gateway.activations"
  p0=$(processes_of_b)
  burst_once cold "$P_GW" "$HOST"
  a1=$(activations_of_b) || fail "tend describe b --json has no gateway.activations"
  p1=$(processes_of_b)
  echo "$((a1 - a0)) $((p1 - p0))" >> "$GOUT/burst-cold-starts.txt"
  [ $((a1 - a0)) -eq 1 ] && [ $((p1 - p0)) -eq 1 ] \
    || fail "the burst activated b $((a1 - a0)) times and spawned it $((p1 - p0)) times"
}

log "gateway (e): $BURST_N concurrent requests, $BURST_ROUNDS rounds of cold / warm / direct"
cat >> "$GCMDS" <<EOF
# burst, $BURST_ROUNDS rounds of:
#   tend stop b; (wait for stopped); python3 \$WORK/burst.py GPORT $HOST $BURST_N    (cold)
#   python3 \$WORK/burst.py GPORT $HOST $BURST_N                                     (warm)
#   python3 \$WORK/burst.py $P_DIRECT $HOST $BURST_N                                 (direct)
EOF
for i in $(seq 1 "$BURST_ROUNDS"); do
  if [ -z "${BURST_FAIL[cold]}" ]; then try r burst_cold_once; BURST_FAIL[cold]=$r; fi
  if [ -z "${BURST_FAIL[warm]}" ]; then try r burst_once warm "$P_GW" "$HOST"; BURST_FAIL[warm]=$r; fi
  if [ -z "${BURST_FAIL[direct]}" ]; then try r burst_once direct "$P_DIRECT" "$HOST"; BURST_FAIL[direct]=$r; fi
done
burst_field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$GOUT/burst-$1.txt"; }

# ---------------------------------------------------------------------------------------
# The report section

cell_fail() { printf 'failed: %s' "$1"; }
kb_mb() { awk -v x="$1" 'BEGIN { printf "%.1f MB", x / 1024 }'; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "") print "n/a"; else printf "%+.3f ms", a - b }'; }

nginx_ver=$("$NGINX" -v 2>&1 | sed 's#.*/##' || echo unknown)
wrk_ver=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo unknown)
{
  echo "## Gateway"
  echo
  echo "tend's on-demand HTTP gateway next to the same app reached directly and through"
  echo "nginx $nginx_ver (Debian's package, \`worker_processes 1\`, run by the script with its"
  echo "own prefix, as a reverse proxy with an upstream \`keepalive 64\`, \`proxy_http_version"
  echo "1.1\` and \`Connection \"\"\`). The app is \`tests/tend_backend\` (GET → a small text"
  echo "body, POST /echo → the byte count). Under tend it is an \`on_demand\` app routed by"
  echo "\`Host: $HOST\`, warmed with one request before the figures. Loopback only; wrk"
  echo "$wrk_ver, curl $(curl --version | awk 'NR == 1 { print $2 }'). Raw output in"
  echo "\`bench/out/gateway/\`."
  echo
  [ -z "$SETUP_FAIL" ] || { echo "**set-up failed:** $SETUP_FAIL"; echo; }

  echo "### Warm app, keep-alive, small response"
  echo
  echo "\`wrk -t2 -c32 -d$DUR\`, one side after the other, $ROUNDS rounds (the order reversed every"
  echo "other round); median req/s. Target: tend ≥ 1.0x nginx."
  echo
  echo "| path | req/s | vs direct | every round (req/s) | check |"
  echo "| --- | ---: | ---: | --- | --- |"
  d=$(rps_of direct || true)
  for s in "${SIDES[@]}"; do
    if [ -n "${RPS_FAIL[$s]}" ]; then echo "| $s | $(cell_fail "${RPS_FAIL[$s]}") | | | |"; continue; fi
    v=$(rps_of "$s")
    every=$(rps_runs "$s" rps | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }')
    total=$(cat "$GOUT/rps-$s"-*.txt | awk '/requests in/ { n += $1 } END { print n }')
    echo "| $s | **$(fmt_num "$v" 0)** | $(ratio_x "$v" "$d" 2) | $every | $total requests, no errors |"
  done
  echo
  t=$(rps_of tend || true); n=$(rps_of nginx || true)
  if [ -z "${RPS_FAIL[tend]}" ] && [ -z "${RPS_FAIL[nginx]}" ]; then
    echo "| ratio | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    echo "| tend / nginx (req/s) | **$(ratio_x "$t" "$n" 2)** | ≥ 1.0x | $(meets "$(ratio "$t" "$n" 2)" ge 1.0) |"
    echo
  fi

  echo "### Added latency"
  echo
  echo "\`bench/latency.cpp\`, $ROUNDS rounds of ${DUR}: one keep-alive connection per side and"
  echo "$LAT_RATE \`GET /\` requests per second in all, sent one at a time on a fixed schedule to"
  echo "direct, nginx and tend in turn (the order rotated every cycle). A request's latency runs"
  echo "from its send to the last byte of its answer. Interleaving request by request means a"
  echo "moment when the machine is busy elsewhere lands on every side alike; runs of one side"
  echo "after the other (as \`wrk -c1\` would be) put each such moment on one side only, and on"
  echo "two shared cores that swung the added p99 from +0.09 to +3.5 ms between runs. Each"
  echo "percentile is the median of the rounds' values, and \"added\" is the side's percentile"
  echo "minus the direct one. nginx is given \`keepalive_requests 1000000\` so that, like tend,"
  echo "it keeps the client's connection (its default closes it every 1,000 requests, and the"
  echo "reconnect held the schedule up by 20 ms). Target: added p50 < 0.1 ms, added p99 < 0.5 ms."
  echo
  echo "| path | p50 | p99 | p99.9 | added p50 | added p99 | requests |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  dp50=$(pct_of direct 50% || true); dp99=$(pct_of direct 99% || true)
  for s in "${SIDES[@]}"; do
    if [ -n "${LAT_FAIL[$s]}" ]; then echo "| $s | $(cell_fail "${LAT_FAIL[$s]}") | | | | | |"; continue; fi
    p50=$(pct_of "$s" 50%); p99=$(pct_of "$s" 99%); p999=$(pct_of "$s" 99.9%)
    a50=; a99=
    if [ "$s" != direct ] && [ -z "${LAT_FAIL[direct]}" ]; then a50=$(diff_ms "$p50" "$dp50"); a99=$(diff_ms "$p99" "$dp99"); fi
    echo "| $s | $(fmt_num "$p50" 3) ms | $(fmt_num "$p99" 3) ms | $(fmt_num "$p999" 3) ms | ${a50:-} | ${a99:-} | $(pct_runs "$s" count | awk '{ n += $1 } END { print n }') |"
  done
  echo
  if [ -z "${LAT_FAIL[tend]}" ] && [ -z "${LAT_FAIL[direct]}" ]; then
    tp50=$(pct_of tend 50%); tp99=$(pct_of tend 99%)
    a50=$(awk -v a="$tp50" -v b="$dp50" 'BEGIN { printf "%.3f", a - b }')
    a99=$(awk -v a="$tp99" -v b="$dp99" 'BEGIN { printf "%.3f", a - b }')
    echo "| target | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    echo "| tend added p50 | $a50 ms | < 0.1 ms | $(meets "$a50" lt 0.1) |"
    echo "| tend added p99 | $a99 ms | < 0.5 ms | $(meets "$a99" lt 0.5) |"
    echo
  fi
  echo "<details><summary>every round (ms)</summary>"
  echo
  for s in "${SIDES[@]}"; do
    [ -z "${LAT_FAIL[$s]}" ] || continue
    echo "- $s: p50 $(pct_runs "$s" 50% | awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), $1 }'); p99 $(pct_runs "$s" 99% | awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), $1 }')"
  done
  echo
  echo "</details>"
  echo

  echo "### Cold start"
  echo
  echo "Time to first byte through tend for a stopped app (\`tend stop b\`, wait until it is"
  echo "listed stopped and its port refuses, then \`curl -w '%{time_starttransfer}'\` through the"
  echo "gateway), against the floor: the harness starting the same backend itself (fork +"
  echo "exec) and busy-polling a TCP connect until it accepts. The same for app \`a\`, the same"
  echo "backend with \`socket_activation: true\` (tend holds its listening socket and hands it"
  echo "over as fd 3, so the request is queued by the kernel and answered as soon as the"
  echo "process accepts). $COLD_N runs each, alternating b / a / floor. Overhead = tend median"
  echo "minus floor median. Targets: under 5 ms; under 1 ms with socket activation."
  echo
  echo "| side | runs | median | p90 | min | max | check |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  for who in tend sa floor; do
    f=$GOUT/cold-$who.txt
    case $who in
      tend) fl=$COLD_TEND_FAIL; label="tend: TTFB of a stopped app" ;;
      sa) fl=$COLD_SA_FAIL; label="tend: TTFB of a stopped app, socket activation" ;;
      floor) fl=$COLD_FLOOR_FAIL; label="floor: spawn to listening, no tend" ;;
    esac
    if [ ! -s "$f" ]; then echo "| $label | 0 | $(cell_fail "${fl:-no data}") | | | | |"; continue; fi
    read -r med p90 min max n <<< "$(stats < "$f")"
    echo "| $label | $n | **$(awk -v x="$med" 'BEGIN{printf "%.2f", x/1000}') ms** | $(awk -v x="$p90" 'BEGIN{printf "%.2f", x/1000}') ms | $(awk -v x="$min" 'BEGIN{printf "%.2f", x/1000}') ms | $(awk -v x="$max" 'BEGIN{printf "%.2f", x/1000}') ms | ${fl:+failed after $n runs: $fl}${fl:-ok} |"
  done
  echo
  if [ -s "$GOUT/cold-floor.txt" ] && { [ -s "$GOUT/cold-tend.txt" ] || [ -s "$GOUT/cold-sa.txt" ]; }; then
    fm=$(stats < "$GOUT/cold-floor.txt" | cut -d' ' -f1)
    echo "| target | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    if [ -s "$GOUT/cold-tend.txt" ]; then
      tm=$(stats < "$GOUT/cold-tend.txt" | cut -d' ' -f1)
      ov=$(awk -v a="$tm" -v b="$fm" 'BEGIN { printf "%.2f", (a - b) / 1000 }')
      echo "| cold start overhead (medians) | **$ov ms** | < 5 ms | $(meets "$ov" lt 5) |"
    fi
    if [ -s "$GOUT/cold-sa.txt" ]; then
      tm=$(stats < "$GOUT/cold-sa.txt" | cut -d' ' -f1)
      ov=$(awk -v a="$tm" -v b="$fm" 'BEGIN { printf "%.2f", (a - b) / 1000 }')
      echo "| cold start overhead with socket activation (medians) | **$ov ms** | < 1 ms | $(meets "$ov" lt 1) |"
    fi
    echo
    for who in tend sa floor; do
      [ -s "$GOUT/cold-$who.txt" ] || continue
      echo "<details><summary>$who: every run (ms, in order)</summary>"
      echo
      awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 / 1000 } END { print "" }' "$GOUT/cold-$who.txt"
      echo
      echo "</details>"
      echo
    done
  fi

  echo "### 1 GiB streamed"
  echo
  echo "1 GiB through each path, both ways, to and from \`bench/sink.py\` (run by hand for"
  echo "direct and nginx, and as a second on_demand app \`s\` under tend, \`Host: $SINK_HOST\`,"
  echo "warmed first). Up: \`curl -X POST -T FILE -H 'Expect:'\` of a sparse 1 GiB file; the sink"
  echo "reads the body in 1 MiB reads, counts and drops it (\`-T\` streams the file;"
  echo "\`--data-binary @FILE\` would first read all of it into curl). Down: \`curl -o /dev/null\`"
  echo "of \`GET /bytes/1073741824\`, which the sink answers with sendfile(2) from a file in the"
  echo "page cache, as a static file server would. nginx streams both ways"
  echo "(\`proxy_request_buffering off\`, \`proxy_buffers 16 64k\`, no temporary file). MB is 10^6"
  echo "bytes; $STREAM_N transfers per side, direction and placement after one unrecorded"
  echo "warm-up, the sides' order reversed every other round; medians."
  echo
  echo "Two placements. *Shared*: every process may run on either of the $NCPU cores, so curl,"
  echo "the proxy and the sink, three busy processes, share two cores, and with the kernel's"
  echo "autogroup scheduling each session gets a third of them; direct has two processes for"
  echo "two cores. Then the figure is mostly the machine's: curl alone spends about 0.45 s of"
  echo "CPU per GiB uploaded (a copy out of the page cache and one into the socket), the sink"
  echo "0.3 s and tend 0.18 s (splice(2), no copy), and a minimal blocking splice loop in"
  echo "Python placed between them measured 0.77x of direct. *Pinned*: the client runs on core"
  echo "0 (\`taskset -c 0\`) as if on another machine, and the whole server side (the sink,"
  echo "nginx, the tend daemon and its app) on the last core (\`taskset -a -p\`): the proxy has"
  echo "no spare core the direct path lacks, it must fit beside the app on the app's core. The"
  echo "target, tend ≥ 0.8x direct, is judged in that placement, both ways; the shared figures"
  echo "are reported beside it. The daemon's peak RSS is its VmHWM after all the transfers (it"
  echo "includes every earlier figure)."
  echo
  echo "| placement | direction | direct MB/s | nginx MB/s | tend MB/s | nginx / direct | tend / direct |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  for place in "${PLACES[@]}"; do
    for dir in up down; do
      row="| $place | $dir |"
      declare -A sp=()
      for s2 in direct nginx tend; do
        if [ -s "$GOUT/stream-$place-$dir-$s2.txt" ]; then
          sp[$s2]=$(speed_of "$place-$dir-$s2"); row+=" **${sp[$s2]}** |"
        else
          sp[$s2]=; row+=" $(cell_fail "${STREAM_FAIL[$s2]:-no data}") |"
        fi
      done
      for s2 in nginx tend; do
        if [ -n "${sp[$s2]}" ] && [ -n "${sp[direct]}" ]; then row+=" $(ratio_x "${sp[$s2]}" "${sp[direct]}" 2) |"; else row+=" |"; fi
      done
      echo "$row"
    done
  done
  echo
  echo "| figure | value | target | met |"
  echo "| --- | ---: | --- | --- |"
  for place in "${PLACES[@]}"; do
    for dir in up down; do
      if [ -s "$GOUT/stream-$place-$dir-direct.txt" ] && [ -s "$GOUT/stream-$place-$dir-tend.txt" ]; then
        sr=$(ratio "$(speed_of "$place-$dir-tend")" "$(speed_of "$place-$dir-direct")" 2)
        if [ "$place" = pinned ] || [ "$NCPU" -lt 2 ]; then
          echo "| tend / direct, $dir, $place | **${sr}x** | ≥ 0.8x | $(meets "$sr" ge 0.8) |"
        else
          echo "| tend / direct, $dir, $place | ${sr}x | reported | |"
        fi
      fi
    done
  done
  if [ -n "$HWM_AFTER" ]; then
    echo "| tend daemon VmHWM after the transfers | $(kb_mb "$HWM_AFTER") | reported | |"
    [ -z "$HWM_BEFORE" ] || echo "| tend daemon VmHWM before them (after the wrk figures) | $(kb_mb "$HWM_BEFORE") | | |"
    [ -z "$RSS_AFTER" ] || echo "| tend daemon VmRSS after them | $(kb_mb "$RSS_AFTER") | | |"
  fi
  echo
  echo "<details><summary>every transfer (MB/s) and what the sink counted</summary>"
  echo
  for place in "${PLACES[@]}"; do
    for dir in up down; do
      for s2 in direct nginx tend; do
        t=$place-$dir-$s2
        [ -s "$GOUT/stream-$t.txt" ] || continue
        echo "- $place, $dir, $s2: $(speed_runs "$t"); ${STREAM_FAIL[$s2]:+failed: ${STREAM_FAIL[$s2]}; }last: $(awk '{ print $3 }' "$GOUT/stream-$t.last") bytes, sink said \`$(head -c 60 "$GOUT/stream-$t.body" | tr -d '\n|')\`"
      done
    done
  done
  echo
  echo "</details>"
  echo

  echo "### $BURST_N concurrent requests to a stopped app"
  echo
  echo "\`bench/burst.py\` opens $BURST_N connections at once (Python asyncio), sends one \`GET /\`"
  echo "with \`Connection: close\` on each and reads each answer to the close; \"last\" is the time"
  echo "from just before the first connect to the last answer. Cold: after \`tend stop b\` (wait"
  echo "until it is stopped and its port refuses), through tend, which must answer every request"
  echo "with a 200 and start the app once (its gateway \`activations\` in \`tend describe\` and"
  echo "its \`started pid\` lines in the daemon log each go up by one). Warm: the same burst"
  echo "through tend to the running app; direct: to the hand-run backend. The client and the"
  echo "backend (a thread per connection) dominate the warm and direct times on this machine."
  echo "$BURST_ROUNDS rounds of cold, warm, direct; medians."
  echo
  echo "| burst | runs | answered (each run) | median time to last answer | every run (ms) | median p50 | check |"
  echo "| --- | ---: | --- | ---: | --- | ---: | --- |"
  for k in cold warm direct; do
    case $k in
      cold) label="cold: stopped app, through tend" ;;
      warm) label="warm: running app, through tend" ;;
      direct) label="direct: the backend, no tend" ;;
    esac
    if [ ! -s "$GOUT/burst-$k.txt" ]; then echo "| $label | 0 | $(cell_fail "${BURST_FAIL[$k]:-no data}") | | | | |"; continue; fi
    n=$(wc -l < "$GOUT/burst-$k.txt")
    answered=$(paste -sd/ <(burst_field "$k" answered))
    lm=$(burst_field "$k" last_ms | stats | awk '{ printf "%.1f", $1 }')
    runs=$(burst_field "$k" last_ms | paste -sd, | sed 's/,/, /g')
    pm=$(burst_field "$k" p50_ms | stats | awk '{ printf "%.1f", $1 }')
    echo "| $label | $n | $answered of $BURST_N | **$lm ms** | $runs | $pm ms | ${BURST_FAIL[$k]:+failed: ${BURST_FAIL[$k]}}${BURST_FAIL[$k]:-ok} |"
  done
  echo
  if [ -s "$GOUT/burst-cold.txt" ]; then
    all_ok=yes
    while read -r line; do [[ $line == "answered=$BURST_N "* ]] || all_ok="**no**"; done < "$GOUT/burst-cold.txt"
    [ -z "${BURST_FAIL[cold]}" ] || all_ok="**no**"
    once=yes
    while read -r a p; do [ "$a" = 1 ] && [ "$p" = 1 ] || once="**no**"; done < "$GOUT/burst-cold-starts.txt"
    echo "| figure | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    echo "| cold: every request answered 200 | $(paste -sd/ <(burst_field cold answered)) of $BURST_N | all | $all_ok |"
    echo "| cold: starts per burst (activations, processes) | $(sed 's/ /, /' "$GOUT/burst-cold-starts.txt" | paste -sd';' | sed 's/;/; /g') | 1, 1 | $once |"
    echo "| cold: time to the last answer (median) | $(burst_field cold last_ms | stats | awk '{ printf "%.1f", $1 }') ms | reported | |"
    echo
  fi

  echo "### Gateway set-up and commands"
  echo
  echo "\`\$WORK\` is the run's temporary directory (\`TEND_HOME=\$WORK/tend-home\`)."
  echo
  echo '```sh'
  sed -e "s#$GW#\$WORK#g" -e "s#$ROOT#\$ROOT#g" "$GCMDS"
  echo '```'
  echo
  if [ -f "$GOUT/tend.yaml" ]; then
    echo '```yaml'
    cat "$GOUT/tend.yaml"
    echo '```'
    echo
  fi
  if [ -f "$GOUT/nginx.conf" ]; then
    echo "<details><summary>nginx.conf</summary>"
    echo
    echo '```nginx'
    sed -e "s#$GW#\$WORK#g" "$GOUT/nginx.conf"
    echo '```'
    echo
    echo "</details>"
    echo
  fi
} > "$MD"
log "gateway: wrote $MD"
