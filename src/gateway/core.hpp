#pragma once
// Internal to src/gateway/: what the gateway's pieces share. Gateway::Impl owns a
// GatewayCore; every connection holds a shared_ptr to it, so it lives until the last
// connection has ended. Includes Asio: only the gateway's own .cpp files include this.

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/address_range.hpp"
#include "common/clock.hpp"
#include "common/logger.hpp"
#include "gateway/access_log.hpp"
#include "gateway/backend.hpp"
#include "gateway/gateway.hpp"
#include "gateway/router.hpp"

namespace tend::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Sockets and timers bound to the io_context's own executor type rather than the
// type-erased any_io_executor: every operation of the relay would otherwise copy and
// destroy a polymorphic executor (a measurable share of a small request's cost).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
// A connection to an app is shared by the session using it and the operations pending on
// it, and moves between sessions and the app's keep-alive pool without being reallocated.
using SocketPtr = std::shared_ptr<Socket>;
using SteadyTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, Executor>;

class App;
struct GatewayCore;

// A client connection (an HTTP session or a tunnel), registered with the core for as long as
// it lives so that Gateway::close() can end it and the connection cap can count it.
class Connection {
 public:
  explicit Connection(std::shared_ptr<GatewayCore> core);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Closes the sockets now; pending operations complete with errors and the object ends.
  virtual void abort() = 0;

 protected:
  std::shared_ptr<GatewayCore> core_;
};

struct GatewayCore {
  GatewayCore(asio::io_context& io, GatewayBackend& backend, Logger& log, const Clock& clock,
              GatewayLimits limits)
      : io(io),
        backend(backend),
        log(log),
        clock(clock),
        limits(limits),
        max_connections(limits.max_connections) {}

  asio::io_context& io;
  GatewayBackend& backend;
  Logger& log;
  const Clock& clock;
  const GatewayLimits limits;
  // From the configuration (Gateway::configure()).
  size_t max_connections;
  std::vector<AddressRange> trusted_proxies;
  // gateway.access_log: the format (nullopt: off) and where lines go (Gateway::setAccessLog).
  std::optional<AccessLogFormat> access_format;
  AccessLogSink* access_log = nullptr;
  Router router;
  std::unordered_map<std::string, std::shared_ptr<App>> apps;
  std::unordered_set<Connection*> connections;
  // Set by Gateway::close(): from then on nothing calls the backend or logs.
  bool closed = false;

  std::shared_ptr<App> appNamed(const std::string& name) const {
    auto it = apps.find(name);
    return it == apps.end() ? nullptr : it->second;
  }

  // Whether a client at `peer` is one of the trusted proxies, whose forwarding headers are
  // believed.
  bool trusts(const asio::ip::address& peer) const {
    if (trusted_proxies.empty()) return false;
    IpBytes bytes{};
    if (peer.is_v4()) {
      bytes = asio::ip::make_address_v6(asio::ip::v4_mapped, peer.to_v4()).to_bytes();
    } else {
      bytes = peer.to_v6().to_bytes();
    }
    for (const auto& range : trusted_proxies) {
      if (range.contains(bytes)) return true;
    }
    return false;
  }
};

// One request on one of an app's targets (an instance): counted in flight there (for
// least-conn) until released, which the holder does when it is done with the connection
// (App::release() pools it first when it may). Move-only; releases on destruction.
class Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<App> app, size_t slot, uint32_t epoch)
      : app_(std::move(app)), slot_(slot), epoch_(epoch) {}
  Lease(Lease&& other) noexcept
      : app_(std::move(other.app_)), slot_(other.slot_), epoch_(other.epoch_) {}
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      release();
      app_ = std::move(other.app_);
      slot_ = other.slot_;
      epoch_ = other.epoch_;
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  void release();  // idempotent; defined in app.cpp
  bool active() const { return app_ != nullptr; }
  size_t slot() const { return slot_; }
  uint32_t epoch() const { return epoch_; }

 private:
  std::shared_ptr<App> app_;
  size_t slot_ = 0;
  uint32_t epoch_ = 0;
};

// What App::acquire() hands back: a connected socket to the app, or why there is none.
struct Upstream {
  SocketPtr socket;
  Lease lease;          // with a socket: the target it is connected to
  bool reused = false;  // from the keep-alive pool: the app may have closed it meanwhile
  int status = 0;       // no socket: 502, 503 or 504
  std::string error;    // no socket: a short text for the client ("app 'api' ...")
};

// Starts serving one accepted client connection. `app` is the dedicated listener's app, or
// "" to route by Host. Defined in http_session.cpp.
void startHttpSession(std::shared_ptr<GatewayCore> core, Socket socket, std::string app);

}  // namespace tend::gateway
