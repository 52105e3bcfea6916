#pragma once
// The link between the gateway and the supervisor: SupervisorBackend answers the gateway's
// questions from the supervisor's state and turns its requests into supervisor commands;
// routesFor() builds the gateway's routes from the apps that have `on_demand`.

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

 private:
  Supervisor& supervisor_;
};

AppRunState runStateOf(const std::vector<Status>& statuses);
AppRunState runStateOf(const Supervisor::AppSnapshot& app);

// The gateway configuration: `listen` from the config's gateway section, one route per
// on-demand app (target: on_demand.target, else 127.0.0.1 and the app's first port).
GatewayConfig gatewayConfigFor(const std::vector<std::string>& listen,
                               const std::vector<Supervisor::AppSnapshot>& apps);

}  // namespace tend
