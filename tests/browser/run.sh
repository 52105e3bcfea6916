#!/usr/bin/env bash
# The dashboard in a real browser: starts a daemon (its own TEND_HOME, a free port) with one
# app, logs in through the one-time link `tend dashboard` prints, and lets
# dashboard_test.mjs drive Debian's chromium through playwright-core (both installed by
# scripts/setup.sh). Usage: run.sh TEND_BINARY TESTAPP_BINARY OUTPUT_DIR
# Exits 77 (skipped) when chromium or playwright-core is missing, except under CI.
set -euo pipefail
tend_bin=$1
testapp=$2
out=$3
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ] || [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "browser test: needs chromium and tests/browser/node_modules (run scripts/setup.sh)"
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 77
fi

mkdir -p "$out"
work=$(mktemp -d /tmp/tend-browser-XXXXXX)
export TEND_HOME=$work/home
cleanup() {
  "$tend_bin" kill >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tag="browser-$$"
cat > "$work/tend.yaml" <<YAML
api:
  listen: 127.0.0.1:$port
apps:
  - name: web
    run: ["$testapp", "sleep", "$tag"]
  - name: worker
    run: ["$testapp", "sleep", "$tag"]
YAML
"$tend_bin" start "$work/tend.yaml" >/dev/null
url=$("$tend_bin" dashboard --no-open 2>/dev/null)
CHROMIUM=$chromium node "$here/dashboard_test.mjs" "$url" "$out"
