#pragma once
// ApiService: the daemon's side of the HTTP API. Owns the event hub, the authentication
// state and the HttpApi; applies a config's `api` section (kept in $TEND_HOME/api.json so a
// new daemon listens again); feeds the hub from the supervisor (state changes, restarts,
// log lines) and from the gateway (activations, idle stops, through EventingBackend);
// gathers /metrics; makes the dashboard's one-time login links.
//
// The `api` section: `listen` (default 127.0.0.1:9615 when the section is there, possibly
// empty) and `token_file` (default $TEND_HOME/api.token), created mode 0600 with a random
// token when missing. A config without an api section leaves the API as it was.
//
// Lives on the daemon's loop thread; not thread-safe.

#include <nlohmann/json.hpp>

#include <expected>
#include <memory>
#include <set>
#include <string>

#include "api/auth.hpp"
#include "api/events.hpp"
#include "api/handlers.hpp"
#include "api/http_api.hpp"
#include "gateway/backend.hpp"
#include "gateway/gateway.hpp"

namespace tend {

inline constexpr const char* kDefaultApiListen = "127.0.0.1:9615";

class ApiService {
 public:
  ApiService(boost::asio::io_context& io, const Paths& paths, Supervisor& supervisor, Logger& log);
  ~ApiService();

  // Wires the supervisor's events to the hub (and instance state changes to `gateway`'s
  // targetsChanged()) and creates the HttpApi over `handlers`. `gateway` (built over an
  // EventingBackend on hub()) gives the gateway's figures.
  void start(Handlers& handlers, Gateway& gateway);
  // Applies an api section; "" or why not (then nothing changed). Saved when it worked.
  std::string configure(const nlohmann::json& section);
  // The section saved by the last daemon, if any.
  void restore();
  std::expected<nlohmann::json, std::string> dashboardLink();
  // The listen addresses of the section applied last (empty while the API is off).
  const std::vector<std::string>& configuredListen() const { return listen_; }
  std::string metrics() const;
  void close();

  EventHub& hub() { return hub_; }

 private:
  boost::asio::io_context& io_;
  const Paths& paths_;
  Supervisor& supervisor_;
  Gateway* gateway_ = nullptr;
  Logger& log_;
  EventHub hub_;
  ApiAuth auth_;
  std::unique_ptr<HttpApi> http_;
  std::vector<std::string> listen_;
  std::set<std::string> all_interfaces_;  // listeners on every interface, warned about
  int64_t started_ms_;
};

// A GatewayBackend that tells the event hub about activations and idle stops, and passes
// every call on to `inner`.
class EventingBackend final : public GatewayBackend {
 public:
  EventingBackend(GatewayBackend& inner, EventHub& hub) : inner_(inner), hub_(hub) {}
  void startApp(const std::string& app, std::function<void(std::string error)> done) override;
  AppRunState state(const std::string& app) const override { return inner_.state(app); }
  std::string failureReason(const std::string& app) const override {
    return inner_.failureReason(app);
  }
  std::vector<uint16_t> servingPorts(const std::string& app) const override {
    return inner_.servingPorts(app);
  }
  std::vector<ServingTarget> servingTargets(const std::string& app) const override {
    return inner_.servingTargets(app);
  }
  void stopIdle(const std::string& app) override;
  void restartRefused(const std::string& app) override;

 private:
  GatewayBackend& inner_;
  EventHub& hub_;
};

}  // namespace tend
