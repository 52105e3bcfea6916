#!/usr/bin/env bash
# The main job on a fresh machine: installs what is needed, builds tend, starts its daemon
# with examples/tend.yaml and shows what runs and how to look at it.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/build.sh
tend=$PWD/build/src/tend
export TEND_HOME=${TEND_HOME:-$HOME/.tend}

"$tend" start examples/tend.yaml
cat <<MSG

tend's daemon is running (state in $TEND_HOME) with the apps of examples/tend.yaml,
and its gateway listens on 127.0.0.1:8080.
Try:
  curl http://127.0.0.1:8101/          the "web" app (a static file server)
  curl http://127.0.0.1:8102/          the "files" app
  curl -H 'Host: hello.localhost' http://127.0.0.1:8080/
                                       "hello" is stopped until this request starts it
                                       (through the gateway); 30s after the last request
                                       it is stopped again: watch it in $tend list
  $tend list                       what runs, with pid, status, cpu, memory, port
  $tend logs ticker --lines 5      an app's output, with timestamps (--follow to keep watching)
  $tend describe web               everything known about one app
  kill -9 \$($tend list --json | python3 -c 'import json,sys; print([i["pid"] for i in json.load(sys.stdin) if i["name"]=="web"][0])')
                                       ...and watch "web" come back with a new pid in $tend list
  $tend kill                       stop every app and the daemon
MSG
