#include "gateway/gateway.hpp"

#include <sys/socket.h>

#include <csignal>

#include <boost/asio/steady_timer.hpp>
#include <map>

#include "gateway/app.hpp"
#include "gateway/connection_refuser.hpp"
#include "gateway/core.hpp"
#include "gateway/tcp_listener.hpp"

namespace tend {

using gateway::App;
using gateway::GatewayCore;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace gateway {

Connection::Connection(std::shared_ptr<GatewayCore> core) : core_(std::move(core)) {
  core_->connections.insert(this);
}

Connection::~Connection() {
  core_->connections.erase(this);
}

namespace {

constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    "Content-Length: 38\r\nConnection: close\r\n\r\n"
    "tend: too many connections; try again\n";

// A listening socket routed by Host (*app empty) or dedicated to the app *app (which a
// new configuration may change while it keeps listening).
struct Listening {
  std::shared_ptr<TcpListener> listener;
  std::shared_ptr<std::string> app;
};

Listening makeListener(const std::shared_ptr<GatewayCore>& core,
                       const std::shared_ptr<ConnectionRefuser>& refuser,
                       const std::string& address) {
  auto app = std::make_shared<std::string>();
  auto listener = std::make_shared<TcpListener>(
      core->io, address, "gateway", core->log, [core, refuser, app](Socket socket) {
        if (core->closed) return;
        if (core->connections.size() >= core->max_connections) {
          // As nginx's "worker_connections are not enough"; the Logger rate-limits a flood.
          core->log.warn("gateway: {} connections are open (gateway.max_connections); answered 503",
                         core->connections.size());
          refuser->refuse(std::move(socket), kBusy);
        } else {
          startHttpSession(core, std::move(socket), *app);
        }
      });
  return {std::move(listener), std::move(app)};
}

}  // namespace
}  // namespace gateway

class Gateway::Impl {
 public:
  Impl(asio::io_context& io, GatewayBackend& backend, Logger& log, Clock& clock,
       GatewayLimits limits)
      : core_(std::make_shared<GatewayCore>(io, backend, log, clock, limits)),
        refuser_(std::make_shared<gateway::ConnectionRefuser>(io, limits.max_refusing,
                                                              limits.refusal_linger)) {}

  gateway::GatewayCore* core() { return core_.get(); }

  std::string configure(const GatewayConfig& config) {
    if (core_->closed) return "the gateway is closed";
    Router router;
    if (auto error = router.configure(config); !error.empty()) return error;
    std::vector<AddressRange> trusted;
    for (const auto& text : config.trusted_proxies) {
      auto range = parseAddressRange(text);
      if (!range) return "gateway.trusted_proxies: " + range.error();
      trusted.push_back(*range);
    }
    if (config.max_connections && *config.max_connections == 0) {
      return "gateway.max_connections must be at least 1";
    }

    // Every address to listen on, and the app it is dedicated to ("" routes by Host).
    std::map<std::string, std::pair<ListenAddress, std::string>> wanted;
    for (const auto& text : config.listen) {
      auto address = parseListenAddress(text);
      wanted[address->text()] = {*address, ""};
    }
    for (const auto& route : config.routes) {
      for (const auto& text : route.listen) {
        auto address = parseListenAddress(text);
        wanted[address->text()] = {*address, route.app};
      }
    }
    std::map<std::string, gateway::Listening> listeners;
    for (const auto& [key, value] : wanted) {
      if (auto it = listeners_.find(key); it != listeners_.end()) {
        listeners[key] = it->second;
        continue;
      }
      auto listening = gateway::makeListener(core_, refuser_, key);
      if (auto error = listening.listener->open(value.first); !error.empty()) {
        for (auto& [k, l] : listeners) {
          if (!listeners_.contains(k)) l.listener->close();
        }
        return error;
      }
      listeners[key] = std::move(listening);
    }

    // Nothing can fail from here on.
    for (auto& [key, l] : listeners_) {
      if (!listeners.contains(key)) l.listener->close();
    }
    for (auto& [key, l] : listeners) {
      *l.app = wanted[key].second;
      if (!listeners_.contains(key)) l.listener->start();
    }
    listeners_ = std::move(listeners);

    std::unordered_map<std::string, std::shared_ptr<App>> apps;
    for (const auto& route : config.routes) {
      auto existing = core_->appNamed(route.app);
      if (existing) {
        existing->update(route);
        apps[route.app] = existing;
      } else {
        apps[route.app] = App::create(*core_, route);
      }
    }
    for (auto& [name, app] : core_->apps) {
      if (!apps.contains(name)) app->shutdown();
    }
    core_->apps = std::move(apps);
    core_->router = std::move(router);
    core_->trusted_proxies = std::move(trusted);
    core_->access_format = config.access_log;
    core_->max_connections = config.max_connections.value_or(core_->limits.max_connections);
    return "";
  }

  std::optional<AppStats> stats(const std::string& name) const {
    auto app = core_->appNamed(name);
    if (!app) return std::nullopt;
    AppStats s;
    s.in_flight = app->tracker().inFlight();
    s.open_streams = app->tracker().openStreams();
    s.last_request_ms = app->tracker().lastRequestWallMs();
    s.requests = app->tracker().requests();
    s.activations = app->activations();
    app->addStats(s);
    return s;
  }

  void appStarted(const std::string& name) {
    if (auto app = core_->appNamed(name)) app->started();
  }

  void targetsChanged(const std::string& name) {
    if (auto app = core_->appNamed(name)) app->targetsChanged();
  }

  void startFailed(const std::string& name, const std::string& why) {
    if (auto app = core_->appNamed(name)) app->startFailed(why);
  }

  size_t inFlightTo(const std::string& name, uint16_t port) const {
    auto app = core_->appNamed(name);
    return app ? app->inFlightTo(port) : 0;
  }

  void close() {
    if (core_->closed) return;
    core_->closed = true;
    for (auto& [key, l] : listeners_) l.listener->close();
    listeners_.clear();
    refuser_->close();
    for (auto& [name, app] : core_->apps) app->shutdown();
    // abort() only closes sockets; each connection leaves the set when it ends.
    std::vector<gateway::Connection*> open(core_->connections.begin(), core_->connections.end());
    for (auto* connection : open) connection->abort();
  }

 private:
  std::shared_ptr<GatewayCore> core_;
  std::shared_ptr<gateway::ConnectionRefuser> refuser_;  // connections over the cap
  std::map<std::string, gateway::Listening> listeners_;
};

Gateway::Gateway(asio::io_context& io, GatewayBackend& backend, Logger& log, Clock& clock,
                 GatewayLimits limits)
    : impl_(std::make_shared<Impl>(io, backend, log, clock, limits)) {
  // Large bodies are relayed with splice(2), which unlike send() cannot be told not to raise
  // SIGPIPE when the peer has gone: a process with a gateway ignores it (the daemon does so
  // anyway). A handler someone installed is left alone.
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
}

Gateway::~Gateway() {
  impl_->close();
}

std::string Gateway::configure(const GatewayConfig& config) {
  return impl_->configure(config);
}

void Gateway::setAccessLog(AccessLogSink* sink) {
  impl_->core()->access_log = sink;
}

std::optional<Gateway::AppStats> Gateway::stats(const std::string& app) const {
  return impl_->stats(app);
}

void Gateway::appStarted(const std::string& app) {
  impl_->appStarted(app);
}

void Gateway::targetsChanged(const std::string& app) {
  impl_->targetsChanged(app);
}

void Gateway::startFailed(const std::string& app, const std::string& why) {
  impl_->startFailed(app, why);
}

size_t Gateway::inFlightTo(const std::string& app, uint16_t port) const {
  return impl_->inFlightTo(app, port);
}

void Gateway::close() {
  impl_->close();
}

}  // namespace tend
