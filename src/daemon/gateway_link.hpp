#pragma once
// The link between the gateway and the supervisor: SupervisorBackend answers the gateway's
// questions from the supervisor's state and turns its requests into supervisor commands;
// routesFor() builds the gateway's routes from the apps that have `on_demand`.

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "gateway/backend.hpp"
#include "supervisor/supervisor.hpp"

namespace tend {

class SupervisorBackend final : public GatewayBackend {
 public:
  explicit SupervisorBackend(Supervisor& supervisor) : supervisor_(supervisor) {}

  void startApp(const std::string& app, std::function<void(std::string error)> done) override;
  AppRunState state(const std::string& app) const override;
  std::string failureReason(const std::string& app) const override;
  void stopIdle(const std::string& app) override;
  void restartRefused(const std::string& app) override;
  std::vector<uint16_t> servingPorts(const std::string& app) const override;
  std::vector<ServingTarget> servingTargets(const std::string& app) const override;

 private:
  Supervisor& supervisor_;
};

AppRunState runStateOf(const std::vector<Status>& statuses);
AppRunState runStateOf(const Supervisor::AppSnapshot& app);

// The gateway configuration: `listen` from the config's gateway section, one route per
// on-demand app (target: on_demand.target, else balanced over 127.0.0.1 and the ports of
// the app's ready instances).
GatewayConfig gatewayConfigFor(const std::vector<std::string>& listen,
                               const std::vector<Supervisor::AppSnapshot>& apps);

// A config's gateway section as the CLI sends it and $TEND_HOME/gateway.json keeps it:
// {"listen": [...], "trusted_proxies": [...], "max_connections": n, "access_log": {...}},
// all optional.
struct GatewaySection {
  std::vector<std::string> listen;
  std::vector<std::string> trusted_proxies;  // checked by Gateway::configure()
  std::optional<size_t> max_connections;
  // {"format": "json" | "combined", "max_size": bytes, "max_files": n}; absent: off.
  std::optional<AccessLogFormat> access_log;
  uint64_t access_log_max_size = 10ull << 20;
  int access_log_max_files = 5;
};
// The section, or what is wrong with it, for people ("gateway.max_connections must be a
// whole number of at least 1").
std::expected<GatewaySection, std::string> gatewaySectionFrom(const nlohmann::json& section);
// gatewayConfigFor(section.listen, apps) with the section's other settings.
GatewayConfig gatewayConfigFrom(const GatewaySection& section,
                                const std::vector<Supervisor::AppSnapshot>& apps);

// The app whose serving instances a supervisor event may have changed (an instance's
// status changed), else nullptr: the daemon then calls Gateway::targetsChanged().
const std::string* servingChangeOf(const nlohmann::json& event);

}  // namespace tend
