#include <string>

#include "config/config.hpp"

namespace tend {

const std::string& exampleConfig() {
  static const std::string kExample =
      R"yaml(# tend.yaml: the apps tend keeps running. Start them all with: tend start tend.yaml
# Durations take ms, s, m, h, d (a bare number is an error); sizes take K, M, G.
# Every key is described in docs/CONFIG.md. Unknown keys are errors, so typos show up.

# The HTTP gateway: routes requests by Host header to apps with `on_demand`, starting
# them on the first request and stopping them when idle.
gateway:
  listen: 127.0.0.1:8080
  # access_log: { format: json }  # or combined (nginx's); $TEND_HOME/logs/access.log, rotated

# The REST API, event stream, dashboard and /metrics. A listen address other than
# loopback needs `token_file`.
api:
  listen: 127.0.0.1:9615

# POST each event (crash, restart, errored, online, stopped, memory_limit, health_failed,
# activation, idle_stop) as JSON, signed X-Tend-Signature: sha256=<HMAC of the body>.
# webhooks:
#   - url: http://127.0.0.1:9000/tend
#     events: [crash, errored, memory_limit]   # default: all
#     secret_file: ~/.tend/webhook.secret      # the HMAC key
#     timeout: 5s                              # per attempt; retried with backoff

apps:
  - name: web
    group: frontend               # commands take a group for all its apps: tend stop frontend
    # A string runs under /bin/sh -c (so $PORT expands); a list is run directly.
    run: exec python3 -m http.server "$PORT" --bind 127.0.0.1
    cwd: .                        # relative to this file
    env:
      PYTHONUNBUFFERED: "1"
    # env_file: .env              # KEY=VALUE lines, merged before `env`
    port: 8101                    # PORT=8101; with several instances use a range,
                                  # "8101-8104" (one per instance), or "auto", "auto:4000-4100"
    autorestart: true             # true: on any exit; on-failure: non-zero exit; false
    restart_delay: 0ms
    backoff: { initial: 100ms, max: 30s, multiplier: 2 }
    max_restarts: 15              # within restart_window, then the app is `errored`
    restart_window: 15m
    min_uptime: 1s                # a run shorter than this counts as a crash
    stop_signal: SIGTERM
    kill_timeout: 5s              # then SIGKILL to the whole process group
    max_memory: 512M              # restart when the process tree uses more
    ready:                        # online once this succeeds (the default with a port
      tcp: 8101                   # is a TCP connect to the instance's own port)
      timeout: 30s
    health:                       # restart after `failures` misses in a row
      http: http://127.0.0.1:8101/  # or https:// (add insecure: true for a self-signed cert)
      expect: 200                 # or a range, "200-299", or a class, 2xx
      # method: GET               # GET, HEAD, POST, PUT
      # body: '{"deep": true}'    # with POST or PUT
      interval: 10s
      timeout: 2s
      failures: 3
    logs:                         # $TEND_HOME/logs/web-0-out.log unless `out`/`err` say
      max_size: 10M
      max_files: 5
      timestamps: true
      # format: json              # one JSON object a line: time, app, instance, stream, message
    # pre_start: ./migrate.sh     # before every start; a non-zero exit leaves it errored
    # post_start: ./warm.sh       # once an instance is online; a failure is only logged
    # nice: 10                    # scheduling priority, -20 (first) .. 19 (last)
    # user: www-data              # when tend runs as root: run as this user, with its groups

  - name: worker
    run: [sh, -c, 'while true; do echo "tick from instance $TEND_INSTANCE"; sleep 5; done']
    instances: 2                  # or "max": one per CPU core
    depends_on: [web]             # starts after web is ready, stops before it
                                  # (or {web: started}, {migrate: completed})
    autorestart: on-failure
    stop_signal: SIGINT
    kill_timeout: 2s
    cron_restart: "0 4 * * *"     # minute hour day-of-month month day-of-week
    # watch: [src/]               # restart when these paths change
    # ignore_watch: [node_modules]

  - name: docs
    run: [python3, -m, http.server, "8103", --bind, 127.0.0.1]
    port: 8103
    on_demand:                    # stays stopped until a request for docs.localhost
      hosts: [docs.localhost]     # Host headers to route here; "*.example.com" works too
      idle_timeout: 5m            # stopped after this long without requests
      start_timeout: 30s          # 504 when not ready by then
      loading_page: false         # true: browsers see a self-refreshing "starting" page
      # balance: round-robin      # with several instances: least-conn, random, ip-hash,
                                  # weighted (with weights: [3, 1], one per instance),
                                  # least-cpu, least-memory, least-time

  # A plain route: requests for api.localhost go to a server tend neither runs nor starts.
  # - name: upstream-api
  #   on_demand: { hosts: [api.localhost], target: http://127.0.0.1:9000 }

  # A service tend does not spawn itself: tend runs these commands instead.
  # - name: legacy
  #   start: docker start legacy
  #   stop: docker stop legacy
  #   check: docker inspect -f '{{.State.Running}}' legacy | grep -q true
  #   on_demand: { hosts: [legacy.localhost], target: http://127.0.0.1:8081, idle_timeout: 10m }
)yaml";
  return kExample;
}

}  // namespace tend
