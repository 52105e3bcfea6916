#include "gateway/tunnel.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace tend::gateway {

namespace {

using ErrorCode = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kTunnelBuffer = 8 * 1024;  // per direction; tunnels are often many and idle
constexpr auto kHalfCloseLinger = std::chrono::seconds(2);

class Tunnel : public Connection, public std::enable_shared_from_this<Tunnel> {
 public:
  Tunnel(std::shared_ptr<GatewayCore> core, Socket client, Socket upstream,
         std::string client_early, std::string upstream_early, IdleTracker::ActivityGuard stream)
      : Connection(std::move(core)),
        client_(std::move(client)),
        upstream_(std::move(upstream)),
        to_app_{&client_, &upstream_, std::move(client_early)},
        to_client_{&upstream_, &client_, std::move(upstream_early)},
        idle_timer_(core_->io),
        linger_timer_(core_->io),
        stream_(std::move(stream)) {}

  void start() {
    last_activity_ = SteadyClock::now();
    armIdleTimer();
    startDirection(to_app_);
    startDirection(to_client_);
  }

  void abort() override { finish(); }

 private:
  struct Direction {
    Socket* from;
    Socket* to;
    std::string early;
    std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kTunnelBuffer);
  };

  void startDirection(Direction& d) {
    if (d.early.empty()) {
      read(d);
      return;
    }
    asio::async_write(*d.to, asio::buffer(d.early),
                      [self = shared_from_this(), &d](ErrorCode ec, size_t) {
                        d.early.clear();
                        if (ec) return self->finish();
                        self->read(d);
                      });
  }

  void read(Direction& d) {
    if (finished_) return;
    d.from->async_read_some(
        asio::buffer(d.buffer.get(), kTunnelBuffer),
        [self = shared_from_this(), &d](ErrorCode ec, size_t n) { self->onRead(d, ec, n); });
  }

  void onRead(Direction& d, ErrorCode ec, size_t n) {
    if (finished_) return;
    if (ec == asio::error::eof && &d == &to_app_) {
      // The client half-closed: pass it on, and give the app a moment to finish its side.
      ErrorCode ignored;
      d.to->shutdown(tcp::socket::shutdown_send, ignored);
      linger_timer_.expires_after(kHalfCloseLinger);
      linger_timer_.async_wait([weak = weak_from_this()](ErrorCode ec) {
        if (auto self = weak.lock(); self && !ec) self->finish();
      });
      return;
    }
    // The app closed (everything it sent has been written to the client already), or
    // either side failed: the tunnel is over.
    if (ec) return finish();
    last_activity_ = SteadyClock::now();
    asio::async_write(*d.to, asio::buffer(d.buffer.get(), n),
                      [self = shared_from_this(), &d](ErrorCode ec, size_t) {
                        if (ec) return self->finish();
                        self->last_activity_ = SteadyClock::now();
                        self->read(d);
                      });
  }

  void armIdleTimer() {
    idle_timer_.expires_at(last_activity_ + core_->limits.stream_idle_timeout);
    idle_timer_.async_wait([weak = weak_from_this()](ErrorCode ec) {
      auto self = weak.lock();
      if (ec || !self || self->finished_) return;
      if (SteadyClock::now() - self->last_activity_ >= self->core_->limits.stream_idle_timeout) {
        self->finish();
      } else {
        self->armIdleTimer();
      }
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    ErrorCode ignored;
    client_.close(ignored);
    upstream_.close(ignored);
    idle_timer_.cancel();
    linger_timer_.cancel();
    stream_.release();
  }

  Socket client_;
  Socket upstream_;
  Direction to_app_;
  Direction to_client_;
  asio::steady_timer idle_timer_;
  asio::steady_timer linger_timer_;
  SteadyClock::time_point last_activity_;
  IdleTracker::ActivityGuard stream_;
  bool finished_ = false;
};

}  // namespace

void startTunnel(std::shared_ptr<GatewayCore> core, Socket client, Socket upstream,
                 std::string client_early, std::string upstream_early,
                 IdleTracker::ActivityGuard stream) {
  std::make_shared<Tunnel>(std::move(core), std::move(client), std::move(upstream),
                           std::move(client_early), std::move(upstream_early), std::move(stream))
      ->start();
}

}  // namespace tend::gateway
