#pragma once
// AppSpec: one app as the user described it, validated and normalised (absolute paths,
// env_file merged into env, durations as numbers). Plain values; no I/O.

#include <nlohmann/json_fwd.hpp>

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.hpp"

namespace tend {

using namespace std::chrono_literals;

enum class AutoRestart { Never, Always, OnFailure };

// How the instances of a cluster share one public port (`share_port`).
enum class SharePort {
  None,       // a port per instance (a range or auto), balanced by the gateway
  ReusePort,  // every instance binds the same port itself with SO_REUSEPORT (TEND_REUSE_PORT=1)
  Socket,     // tend binds the port once and passes it to every instance (LISTEN_FDS, fd 3)
};

struct PortSpec {
  enum class Kind { None, Fixed, Range, Auto };
  Kind kind = Kind::None;
  // Fixed: first. Range: first..last, one per instance. Auto: any free port in first..last
  // (defaults to kAutoFirst..kAutoLast when the config says just "auto").
  uint16_t first = 0;
  uint16_t last = 0;
  static constexpr uint16_t kAutoFirst = 20000;
  static constexpr uint16_t kAutoLast = 29999;
  bool operator==(const PortSpec&) const = default;
};

struct BackoffSpec {
  Duration initial = 100ms;
  Duration max = 30s;
  double multiplier = 2.0;
  bool operator==(const BackoffSpec&) const = default;
};

// How an app's log lines are written (logs.format).
enum class LogFormat {
  Text,  // the line as printed, after an optional timestamp
  Json,  // one JSON object per line: time, app, instance, stream, message
};

struct LogSpec {
  uint64_t max_size = 10ull << 20;
  int max_files = 5;
  bool timestamps = true;
  std::string out_file;  // empty: $TEND_HOME/logs/<app>-<instance>-out.log
  std::string err_file;
  LogFormat format = LogFormat::Text;
  bool operator==(const LogSpec&) const = default;
};

// A probe: exactly one of tcp / http / exec / notify is set.
struct ProbeSpec {
  uint16_t tcp = 0;
  std::string http;  // URL (http:// or https://)
  int expect_status = 200;
  // http: the statuses that pass are expect_status..expect_last (`expect: 200-299`, "2xx");
  // 0: expect_status alone. The method (GET, HEAD, POST, PUT) and body sent; https: whether
  // the server's certificate goes unverified (self-signed ones).
  int expect_last = 0;
  std::string method = "GET";
  std::string body;
  bool insecure = false;
  std::string exec;      // shell command, exit 0 = success
  bool notify = false;   // sd_notify READY=1 (ready only)
  Duration watchdog{0};  // notify: WATCHDOG=1 at least this often once online; 0: none
  Duration timeout = 30s;
  Duration interval = 10s;  // health only
  int failures = 3;         // health only
  bool operator==(const ProbeSpec&) const = default;
};

// depends_on: an app this one needs, and when it counts as there.
enum class DependencyCondition {
  Started,    // its process has been spawned
  Ready,      // its instances are online (the default)
  Completed,  // it ran and exited with code 0 (a one-shot task)
};
std::string_view conditionName(DependencyCondition c);

struct Dependency {
  std::string app;
  DependencyCondition condition = DependencyCondition::Ready;
  bool operator==(const Dependency&) const = default;
};

// How the gateway spreads requests over an app's ready instances (on_demand.balance).
enum class BalanceMode {
  RoundRobin,
  LeastConn,
  Random,
  IpHash,
  Weighted,
  LeastCpu,
  LeastMemory,
  LeastTime
};
std::string_view balanceModeName(BalanceMode mode);
// The names on_demand.balance takes, in BalanceMode's order.
inline constexpr std::string_view kBalanceModeNames[] = {"round-robin",  "least-conn", "random",
                                                         "ip-hash",      "weighted",   "least-cpu",
                                                         "least-memory", "least-time"};

struct OnDemandSpec {
  std::vector<std::string> hosts;   // lower-cased; "*.example.com" wildcards
  std::vector<std::string> listen;  // "host:port"
  std::string target;               // "http://127.0.0.1:3001"; empty: 127.0.0.1:<port>
  Duration idle_timeout = 5min;
  Duration start_timeout = 30s;
  bool loading_page = false;
  bool socket_activation = false;
  BalanceMode balance = BalanceMode::RoundRobin;
  std::vector<uint32_t> weights;  // balance: weighted; one per instance (index order)
  bool operator==(const OnDemandSpec&) const = default;
};

struct AppSpec {
  std::string name;
  // A label that commands take as a target for all its apps (PM2's namespace); "" for none.
  // Never the name of an app. Changing it alone restarts nothing.
  std::string group;
  // How to run it. A string in the config runs under /bin/sh -c (run_shell = true, argv =
  // {"/bin/sh", "-c", text}); a list is execve'd directly (argv[0] searched in PATH).
  std::vector<std::string> argv;
  bool run_shell = false;
  std::string cwd;                                       // absolute
  std::vector<std::pair<std::string, std::string>> env;  // env_file entries, then env
  std::string env_file;                                  // absolute, as given (already merged)
  int instances = 1;
  bool instances_max = false;  // "max": one per core, resolved by the supervisor
  PortSpec port;
  SharePort share_port = SharePort::None;
  int reload_batch = 1;  // instances replaced at a time by `tend reload`
  AutoRestart autorestart = AutoRestart::Always;
  Duration restart_delay = 0ms;
  BackoffSpec backoff;
  int max_restarts = 15;
  Duration restart_window = 15min;
  Duration min_uptime = 1s;
  int stop_signal = SIGTERM;
  Duration kill_timeout = 5s;
  LogSpec logs;

  // Parsed and validated now; acted on by later features.
  std::optional<uint64_t> max_memory;
  std::vector<std::string> watch;
  std::vector<std::string> ignore_watch;
  std::string cron_restart;
  std::vector<Dependency> depends_on;
  std::optional<ProbeSpec> ready;
  std::optional<ProbeSpec> health;
  std::optional<OnDemandSpec> on_demand;
  // An app tend does not spawn: these shell commands manage it instead of `run`.
  std::string start_cmd;
  std::string stop_cmd;
  std::string check_cmd;

  // Lifecycle hooks: shell commands run in the app's cwd with its env. pre_start runs
  // before every start of an instance (a failure leaves it errored); post_start once an
  // instance is online (a failure is only logged).
  std::string pre_start;
  std::string post_start;
  // Scheduling priority of its processes (setpriority), -20..19; nullopt: the daemon's.
  std::optional<int> nice;
  // The user its processes run as (a daemon running as root drops to it, with the user's
  // groups); empty: the daemon's own.
  std::string user;

  // The environment of the shell whose `tend start` created the app (PM2 passes it too),
  // minus the variables that are not an app's to inherit (see inheritableVariable). The
  // app's own env (env_file, then env) overrides it. nullopt: an app created without one
  // (the HTTP API, an old state database): it gets the daemon's environment instead.
  // Only `tend restart --update-env` replaces it afterwards: the control handlers give an
  // existing app's spec its stored value back before comparing (so a config applied again
  // from another shell is not a change); here it counts in ==, so that an --update-env that
  // changes it restarts the app through Supervisor::apply.
  std::optional<std::vector<std::pair<std::string, std::string>>> inherited_env;

  bool operator==(const AppSpec&) const = default;
};

// A proxy-only route: an app with on_demand.target and neither `run` nor `start`. Nothing
// runs or is started for it; the gateway sends its requests to the target, and the
// supervisor shows it online without a pid from `tend start` on.
inline bool isRouteOnly(const AppSpec& spec) {
  return spec.argv.empty() && spec.start_cmd.empty() && spec.on_demand &&
         !spec.on_demand->target.empty();
}

// Whether a variable of the environment an app inherits (the caller's or the daemon's)
// passes to it: tend's own variables (TEND_*) and the systemd plumbing meant for the
// daemon (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*) do not.
bool inheritableVariable(std::string_view name);

// gateway.access_log: one line per request to $TEND_HOME/logs/access.log.
struct AccessLogSpec {
  std::string format = "json";      // "json" or "combined"
  uint64_t max_size = 10ull << 20;  // rotated as the daemon's log: 10M, 5 files
  int max_files = 5;
  bool operator==(const AccessLogSpec&) const = default;
};

struct GatewaySpec {
  std::vector<std::string> listen;
  // Peers whose X-Forwarded-For, Forwarded and X-Real-IP are believed (addresses or CIDR
  // blocks, checked by parseAddressRange); from any other peer they are replaced.
  std::vector<std::string> trusted_proxies;
  // Open client connections at most; beyond, a new one gets a 503. Unset: the gateway's
  // default (10,000).
  std::optional<int64_t> max_connections;
  std::optional<AccessLogSpec> access_log;  // absent: no access log
  bool operator==(const GatewaySpec&) const = default;
};

struct ApiSpec {
  std::vector<std::string> listen;
  std::string token_file;
  bool operator==(const ApiSpec&) const = default;
};

// The events a webhook may ask for (`webhooks[].events`), in the order the docs list them.
inline constexpr std::string_view kWebhookEvents[] = {"crash",         "restart",    "errored",
                                                      "online",        "stopped",    "memory_limit",
                                                      "health_failed", "activation", "idle_stop"};

// One entry of the top-level `webhooks` list: where each event is POSTed, signed with the
// key in `secret_file` (read by the daemon when the config is applied).
struct WebhookSpec {
  std::string url;                  // http:// or https://
  std::vector<std::string> events;  // empty: every event of kWebhookEvents
  std::string secret_file;          // absolute; empty: unsigned
  Duration timeout = 5s;            // per attempt: connect, send and read the status
  bool operator==(const WebhookSpec&) const = default;
};
nlohmann::json toJson(const WebhookSpec& webhook);

struct ConfigFile {
  std::string path;  // absolute
  std::optional<GatewaySpec> gateway;
  std::optional<ApiSpec> api;
  // nullopt: the config has no `webhooks` key (the daemon keeps its webhooks as they are);
  // an empty list removes them.
  std::optional<std::vector<WebhookSpec>> webhooks;
  std::vector<AppSpec> apps;
};

// The canonical JSON form: what the CLI sends the daemon and what the store keeps. It goes
// back through validateApp, which (unlike a config file) also takes `inherited_env`, the
// one key here that is not a config key. Output meant for people or the HTTP API must
// leave `inherited_env` (and env values) out: see Handlers' describe.
nlohmann::json toJson(const AppSpec& spec);

}  // namespace tend
