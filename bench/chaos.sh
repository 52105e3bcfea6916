#!/usr/bin/env bash
# Chaos under load: wrk through the gateway to three apps for DURATION seconds (default
# 600) while a seeded loop kill -9s instances, reloads, scales, restarts, kill -9s the
# daemon and fills then frees the small tmpfs that TEND_HOME is; the invariants are
# checked after every action (bench/chaos.py says which). Writes the report into
# docs/RELIABILITY.md (between the chaos markers) and keeps the raw files in bench/out/chaos/.
#
#   bench/chaos.sh [DURATION] [SEED]
#   CHAOS_DOC=/tmp/c.md bench/chaos.sh 60 7    # a quick run, report elsewhere
#
# Needs root for the tmpfs (without it TEND_HOME is a plain folder and the disk is never
# full). Everything it starts is stopped on exit; all traffic stays on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:-600}
SEED=${2:-1}
DOC=${CHAOS_DOC:-$ROOT/docs/RELIABILITY.md}
OUT=$ROOT/bench/out/chaos
TEND_SRC=${TEND_BIN:-$ROOT/build/src/tend}
BACKEND_SRC=${TEND_BACKEND_BIN:-$ROOT/build/tests/tend_backend}

command -v wrk >/dev/null || { echo "chaos: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v ss >/dev/null || { echo "chaos: ss is not installed (apt-get install iproute2)" >&2; exit 1; }
[ -x "$TEND_SRC" ] && [ -x "$BACKEND_SRC" ] || { echo "chaos: build first (./scripts/build.sh)" >&2; exit 1; }

W=$(mktemp -d /tmp/tend-chaos.XXXXXX)
HOME_DIR=$W/home
mkdir -p "$HOME_DIR" "$OUT"
cp "$TEND_SRC" "$W/tend"
cp "$BACKEND_SRC" "$W/backend"
tmpfs=()
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=48m,mode=0700 tend-chaos "$HOME_DIR"; then
  tmpfs=(--tmpfs)
fi

cleanup() {
  TEND_HOME=$HOME_DIR timeout 60 "$W/tend" kill >/dev/null 2>&1 || true
  pkill -KILL -f "$W/" 2>/dev/null || true
  cp "$HOME_DIR"/daemon.log* "$OUT/" 2>/dev/null || true
  [ ${#tmpfs[@]} -eq 0 ] || umount "$HOME_DIR" 2>/dev/null || umount -l "$HOME_DIR" || true
  rm -rf "$W"
}
trap cleanup EXIT

rc=0
python3 "$ROOT/bench/chaos.py" --tend "$W/tend" --backend "$W/backend" --work "$OUT" \
  --home "$HOME_DIR" "${tmpfs[@]}" --duration "$DURATION" --seed "$SEED" \
  --markdown "$OUT/chaos.md" || rc=$?

if [ "$DOC" = "$ROOT/docs/RELIABILITY.md" ] && grep -q '<!-- chaos:begin -->' "$DOC"; then
  python3 - "$DOC" "$OUT/chaos.md" <<'PY'
import sys
doc, part = sys.argv[1], open(sys.argv[2]).read()
text = open(doc).read()
a, b = text.index("<!-- chaos:begin -->"), text.index("<!-- chaos:end -->")
open(doc, "w").write(text[:a] + "<!-- chaos:begin -->\n" + part + text[b:])
PY
  echo "chaos: report written into $DOC" >&2
else
  cp "$OUT/chaos.md" "$DOC"
  echo "chaos: report in $DOC" >&2
fi
exit $rc
