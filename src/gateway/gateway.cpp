#include "gateway/gateway.hpp"

#include <sys/socket.h>

#include <csignal>

#include <boost/asio/steady_timer.hpp>
#include <map>

#include "gateway/app.hpp"
#include "gateway/core.hpp"

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

// One listening socket: Host-routed (app "") or dedicated to one app.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::shared_ptr<GatewayCore> core, std::string address)
      : core_(std::move(core)),
        address_(std::move(address)),
        acceptor_(core_->io),
        retry_timer_(core_->io) {}

  std::string open(const ListenAddress& where) {
    ErrorCode ec;
    tcp::endpoint endpoint;
    auto ip = asio::ip::make_address(where.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(ip, where.port);
    } else {
      tcp::resolver resolver(core_->io);
      auto results = resolver.resolve(where.host, std::to_string(where.port), ec);
      if (ec || results.empty()) {
        return "cannot listen on " + address_ + ": cannot resolve " + where.host;
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen on " + address_ + ": " + ec.message();
    return "";
  }

  void start() { doAccept(); }
  void setApp(std::string app) { app_ = std::move(app); }
  void close() {
    ErrorCode ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
  }

 private:
  void doAccept() {
    // Accepted sockets are bound to the io_context's executor type (see core.hpp).
    acceptor_.async_accept(core_->io.get_executor(),
                           [self = shared_from_this()](ErrorCode ec, gateway::Socket socket) {
                             self->onAccept(ec, std::move(socket));
                           });
  }

  void onAccept(ErrorCode ec, Socket socket) {
    if (!acceptor_.is_open() || core_->closed) return;
    if (ec) {
      // Out of file descriptors and the like: try again shortly rather than spin.
      core_->log.warn("gateway: accept on {} failed: {}", address_, ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([self = shared_from_this()](ErrorCode ec) {
        if (!ec && self->acceptor_.is_open()) self->doAccept();
      });
      return;
    }
    if (core_->connections.size() >= core_->limits.max_connections) {
      static constexpr std::string_view kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
          "Content-Length: 38\r\nConnection: close\r\n\r\n"
          "tend: too many connections; try again\n";
      // Best effort and never blocking: the socket is new, so its send buffer is empty.
      [[maybe_unused]] auto n =
          ::send(socket.native_handle(), kBusy.data(), kBusy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      ErrorCode ignored;
      socket.close(ignored);
    } else {
      startHttpSession(core_, std::move(socket), app_);
    }
    doAccept();
  }

  std::shared_ptr<GatewayCore> core_;
  std::string address_;
  std::string app_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
};

}  // namespace
}  // namespace gateway

class Gateway::Impl {
 public:
  Impl(asio::io_context& io, GatewayBackend& backend, Logger& log, Clock& clock,
       GatewayLimits limits)
      : core_(std::make_shared<GatewayCore>(io, backend, log, clock, limits)) {}

  std::string configure(const GatewayConfig& config) {
    if (core_->closed) return "the gateway is closed";
    Router router;
    if (auto error = router.configure(config); !error.empty()) return error;

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
    std::map<std::string, std::shared_ptr<gateway::Listener>> listeners;
    for (const auto& [key, value] : wanted) {
      if (auto it = listeners_.find(key); it != listeners_.end()) {
        listeners[key] = it->second;
        continue;
      }
      auto listener = std::make_shared<gateway::Listener>(core_, key);
      if (auto error = listener->open(value.first); !error.empty()) {
        for (auto& [k, l] : listeners) {
          if (!listeners_.contains(k)) l->close();
        }
        return error;
      }
      listeners[key] = listener;
    }

    // Nothing can fail from here on.
    for (auto& [key, listener] : listeners_) {
      if (!listeners.contains(key)) listener->close();
    }
    for (auto& [key, listener] : listeners) {
      listener->setApp(wanted[key].second);
      if (!listeners_.contains(key)) listener->start();
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

  void close() {
    if (core_->closed) return;
    core_->closed = true;
    for (auto& [key, listener] : listeners_) listener->close();
    listeners_.clear();
    for (auto& [name, app] : core_->apps) app->shutdown();
    // abort() only closes sockets; each connection leaves the set when it ends.
    std::vector<gateway::Connection*> open(core_->connections.begin(), core_->connections.end());
    for (auto* connection : open) connection->abort();
  }

 private:
  std::shared_ptr<GatewayCore> core_;
  std::map<std::string, std::shared_ptr<gateway::Listener>> listeners_;
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

std::optional<Gateway::AppStats> Gateway::stats(const std::string& app) const {
  return impl_->stats(app);
}

void Gateway::appStarted(const std::string& app) {
  impl_->appStarted(app);
}

void Gateway::close() {
  impl_->close();
}

}  // namespace tend
