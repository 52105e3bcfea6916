#!/usr/bin/env bash
# Cold start through the gateway, for two tend binaries side by side (e.g. before and after
# a change to the spawner), interleaved so that the machine's load falls on both alike.
#
#   bench/cold.sh OLD_TEND NEW_TEND [RUNS]      (RUNS default 30)
#
# Each binary gets its own daemon (own TEND_HOME, own gateway port) with two on_demand apps
# running build/tests/tend_backend: `b` (listens itself) and `a` (socket_activation). Each
# round, for each binary in turn: `tend stop b`, wait until it is stopped and its port
# refuses, then curl's time to first byte through the gateway; the same for `a`; then the
# floor (the harness starting the backend itself and busy-polling a connect), as
# bench/gateway.sh (c) does. Prints median, min, p90 of each side in µs and the overhead
# (median minus the floor's median). Both daemons are killed on exit.
set -euo pipefail
export LC_ALL=C
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

OLD=${1:?old tend binary}
NEW=${2:?new tend binary}
RUNS=${3:-30}
BACKEND=${BACKEND:-$ROOT/build/tests/tend_backend}
W=$(mktemp -d)
cp "$OLD" "$W/tend-old"
cp "$NEW" "$W/tend-new"
cp "$BACKEND" "$W/backend"
SIDES=(old new)

accepts() { { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1; exec 9>&-; }
port_base=$((20000 + RANDOM % 20000))
declare -A GWPORT APORT BPORT
i=0
for s in "${SIDES[@]}"; do
  GWPORT[$s]=$((port_base + i)); BPORT[$s]=$((port_base + i + 1)); APORT[$s]=$((port_base + i + 2))
  i=$((i + 3))
done
P_FLOOR=$((port_base + i))

t() { TEND_HOME=$W/home-$1 timeout 30 "$W/tend-$1" "${@:2}"; }
cleanup() {
  for s in "${SIDES[@]}"; do t "$s" kill > /dev/null 2>&1 || true; done
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

status_of() { t "$1" list --json | jq -r --arg n "$2" '.[] | select(.name == $n) | .status'; }

for s in "${SIDES[@]}"; do
  mkdir -p "$W/home-$s"
  cat > "$W/tend-$s.yaml" <<YAML
gateway: {listen: 127.0.0.1:${GWPORT[$s]}}
apps:
  - name: b
    run: [$W/backend]
    port: ${BPORT[$s]}
    on_demand: {hosts: [b.localhost], idle_timeout: 10m}
  - name: a
    run: [$W/backend]
    port: ${APORT[$s]}
    on_demand: {hosts: [a.localhost], idle_timeout: 10m, socket_activation: true}
YAML
  t "$s" start "$W/tend-$s.yaml" > /dev/null
  wait_for 10 accepts "${GWPORT[$s]}"
  curl -fsS -m 30 -o /dev/null -H "Host: b.localhost" "http://127.0.0.1:${GWPORT[$s]}/"
  curl -fsS -m 30 -o /dev/null -H "Host: a.localhost" "http://127.0.0.1:${GWPORT[$s]}/"
done

stopped() { [ "$(status_of "$1" "$2")" = stopped ]; }
refuses() { ! accepts "$1"; }
cold_once() {  # SIDE APP
  t "$1" stop "$2" > /dev/null
  wait_for 10 stopped "$1" "$2"
  [ "$2" = a ] || wait_for 10 refuses "${BPORT[$1]}"
  local res code ttfb
  res=$(curl -sS -m 30 -o /dev/null -w '%{http_code} %{time_starttransfer}' \
    -H "Host: $2.localhost" "http://127.0.0.1:${GWPORT[$1]}/")
  read -r code ttfb <<< "$res"
  [ "$code" = 200 ] || { log "$1 $2: HTTP $code"; exit 1; }
  awk -v t="$ttfb" 'BEGIN { printf "%.0f\n", t * 1e6 }' >> "$W/$1-$2.txt"
}
floor_once() {
  local t0 t1 pid
  t0=$(now_us)
  PORT=$P_FLOOR setsid "$W/backend" > /dev/null 2>&1 &
  pid=$!
  until accepts "$P_FLOOR"; do :; done
  t1=$(now_us)
  kill "$pid"; wait "$pid" 2> /dev/null || true
  echo $((t1 - t0)) >> "$W/floor.txt"
  wait_for 5 refuses "$P_FLOOR"
}

log "cold starts: $RUNS rounds of old b, old a, new b, new a, floor (order of old/new alternating)"
for r in $(seq 1 "$RUNS"); do
  if (( r % 2 )); then order=(old new); else order=(new old); fi
  for s in "${order[@]}"; do cold_once "$s" b; cold_once "$s" a; done
  floor_once
done

floor_med=$(stats < "$W/floor.txt" | awk '{ print $1 }')
printf '%-8s %8s %8s %8s %8s   (us; %s runs each)\n' side median min p90 overhead "$RUNS"
read -r med p90 min max n < <(stats < "$W/floor.txt")
printf '%-8s %8.0f %8.0f %8.0f %8s\n' floor "$med" "$min" "$p90" -
for s in "${SIDES[@]}"; do
  for app in b a; do
    read -r med p90 min max n < <(stats < "$W/$s-$app.txt")
    printf '%-8s %8.0f %8.0f %8.0f %8.0f\n' "$s-$app" "$med" "$min" "$p90" "$(awk -v a="$med" -v b="$floor_med" 'BEGIN { print a - b }')"
  done
done
if [ -n "${BENCH_KEEP:-}" ]; then log "raw values in $W"; fi
