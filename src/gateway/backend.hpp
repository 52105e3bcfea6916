#pragma once
// What the gateway needs from the rest of the daemon, and nothing more: the gateway never
// spawns; it asks the supervisor (through this interface) to start an app, learns whether
// it runs or failed, and asks for it to be stopped when idle or restarted when it refuses
// connections. Implemented by the daemon over the Supervisor; faked in tests.
//
// All calls happen on the daemon's event-loop thread.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "gateway/access_log.hpp"

namespace tend {

// How requests are spread over an app's ready instances (on_demand.balance): see
// gateway/balancer.hpp.
enum class Balance {
  RoundRobin,
  LeastConn,
  Random,
  IpHash,
  Weighted,
  LeastCpu,
  LeastMemory,
  LeastTime
};

// One instance that takes requests now, with what the supervisor last sampled of it.
struct ServingTarget {
  uint16_t port = 0;
  int instance = 0;     // TEND_INSTANCE (a reload's replacement: the instance it replaces)
  double cpu = 0;       // percent of one core, at the last sample
  uint64_t memory = 0;  // bytes (the process tree's RSS), at the last sample
};

// One app behind the gateway, from its `on_demand` block.
struct GatewayRoute {
  std::string app;
  std::vector<std::string> hosts;   // lower-case; exact names or "*.example.com"
  std::vector<std::string> listen;  // "host:port": dedicated listeners that route here
  // With `balanced` false: the one target (on_demand.target). With it true: the ports are
  // those of the app's ready instances (GatewayBackend::servingPorts(), on target_host), and
  // target_port is only the first instance's, for messages.
  std::string target_host = "127.0.0.1";
  uint16_t target_port = 0;
  bool balanced = false;
  Balance balance = Balance::RoundRobin;
  // Balance::Weighted: the weight of instance i is weights[i] (1 past the end: an instance
  // added by `tend scale` beyond the list).
  std::vector<uint32_t> weights;
  Duration idle_timeout = std::chrono::minutes(5);
  Duration start_timeout = std::chrono::seconds(30);
  bool loading_page = false;
  // tend holds the app's listening socket (on_demand.socket_activation): a connection to the
  // target is queued by the kernel from the moment the process exists, so no readiness
  // polling is needed.
  bool socket_activated = false;
  // A proxy-only route (an app with only on_demand.target): nothing runs for it, so it is
  // never stopped when idle nor restarted when the target refuses (that is a 502).
  bool proxy_only = false;
};

struct GatewayConfig {
  std::vector<std::string> listen;  // "host:port" for Host-routed traffic
  std::vector<GatewayRoute> routes;
  // Peers (addresses or CIDR blocks, as parseAddressRange() reads them) whose forwarding
  // headers are believed: see Gateway.
  std::vector<std::string> trusted_proxies;
  // Open client connections at most (GatewayLimits::max_connections when unset).
  std::optional<size_t> max_connections;
  // gateway.access_log: one line per request to the AccessLogSink (Gateway::setAccessLog());
  // nullopt: off.
  std::optional<AccessLogFormat> access_log;
};

enum class AppRunState {
  Stopped,   // nothing runs and nothing is starting
  Starting,  // a start is under way (process spawned or about to be)
  Running,   // an instance is online (the gateway still checks the target accepts)
  Stopping,  // being stopped; a new request waits and then starts it again
  Failed,    // the last start failed: see failureReason()
};

class GatewayBackend {
 public:
  virtual ~GatewayBackend() = default;
  // Starts `app` unless it already runs or is starting. `done("")` once its process runs,
  // or `done(reason)` when it could not be started (the program could not be executed,
  // it exited during start, the start command failed). Called exactly once.
  virtual void startApp(const std::string& app, std::function<void(std::string error)> done) = 0;
  virtual AppRunState state(const std::string& app) const = 0;
  virtual std::string failureReason(const std::string& app) const = 0;
  // The app has been idle for its idle_timeout with no open connection: stop it.
  virtual void stopIdle(const std::string& app) = 0;
  // The app refused a connection while it was running: restart it.
  virtual void restartRefused(const std::string& app) = 0;
  // The ports of the app's instances that take requests now (online), for a balanced
  // route. The gateway asks when it is told that they changed (Gateway::targetsChanged()),
  // not per request.
  virtual std::vector<uint16_t> servingPorts(const std::string& app) const = 0;
  // The same instances with their index and last CPU and memory samples (for the weighted,
  // least-cpu and least-memory balancing). By default: servingPorts(), indexed in order,
  // with no samples.
  virtual std::vector<ServingTarget> servingTargets(const std::string& app) const {
    std::vector<ServingTarget> out;
    int i = 0;
    for (uint16_t port : servingPorts(app)) out.push_back({port, i++, 0, 0});
    return out;
  }
};

}  // namespace tend
