#include "daemon/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace tend {
namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr int kMaxConnections = 256;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(local::socket socket, Handlers& handlers, std::shared_ptr<int> open_count)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(kMaxRequestBytes + 1),
        handlers_(handlers),
        open_count_(std::move(open_count)) {
    ++*open_count_;
  }
  ~Session() { --*open_count_; }

  void start(bool too_many) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        cred.uid != ::geteuid()) {
      writeThenClose(errorReply("connection refused: not the daemon's user"));
      return;
    }
    if (too_many) {
      writeThenClose(errorReply("too many connections to the daemon; try again"));
      return;
    }
    doRead();
  }

 private:
  void armTimer() {
    timer_.expires_after(kIdleTimeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        boost::system::error_code ignored;
        self->socket_.close(ignored);
      }
    });
  }

  void doRead() {
    armTimer();
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             self->onRead(ec, n);
                           });
  }

  void onRead(boost::system::error_code ec, size_t n) {
    timer_.cancel();
    if (ec == asio::error::not_found) {
      writeThenClose(errorReply("request too large"));
      return;
    }
    if (ec) return;  // closed or timed out
    std::string line(asio::buffers_begin(buffer_.data()),
                     asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(n - 1));
    buffer_.consume(n);
    auto request = parseRequest(line);
    if (!request) {
      write(errorReply(request.error()));
      return;
    }
    request->local = true;  // the peer is the daemon's own user (checked in start())
    // The reply may come later (after apps stop): the callback keeps the session alive.
    handlers_.handle(*request, [self = shared_from_this()](std::string reply) {
      self->write(std::move(reply));
    });
  }

  void write(std::string reply) {
    out_ = std::move(reply);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (!ec) self->doRead();
                      });
  }

  void writeThenClose(std::string reply) {
    out_ = std::move(reply);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](boost::system::error_code, size_t) {
                        boost::system::error_code ignored;
                        self->socket_.close(ignored);
                      });
  }

  local::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf buffer_;
  std::string out_;
  Handlers& handlers_;
  std::shared_ptr<int> open_count_;  // shared: a session may outlive the server at exit
};

}  // namespace

class ControlServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Handlers& handlers, Logger& log)
      : acceptor_(io), handlers_(handlers), log_(log) {}

  std::string listen(const std::string& path) {
    ::unlink(path.c_str());  // the lock is ours, so any socket file here is stale
    boost::system::error_code ec;
    acceptor_.open(local(), ec);
    mode_t old = ::umask(077);
    if (!ec) acceptor_.bind(local::endpoint(path), ec);
    ::umask(old);
    if (!ec) ::chmod(path.c_str(), 0600);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen on " + path + ": " + ec.message();
    doAccept();
    return "";
  }

  void close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  void doAccept() {
    acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec,
                                                       local::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
      if (!ec) {
        bool too_many = *self->open_ >= kMaxConnections;
        std::make_shared<Session>(std::move(socket), self->handlers_, self->open_)->start(too_many);
      } else {
        self->log_.warn("control socket accept failed: {}", ec.message());
      }
      self->doAccept();
    });
  }

  local::acceptor acceptor_;
  Handlers& handlers_;
  Logger& log_;
  std::shared_ptr<int> open_ = std::make_shared<int>(0);
};

ControlServer::ControlServer(asio::io_context& io, Handlers& handlers, Logger& log)
    : impl_(std::make_shared<Impl>(io, handlers, log)) {}
ControlServer::~ControlServer() {
  impl_->close();
}
std::string ControlServer::listen(const std::string& path) {
  return impl_->listen(path);
}
void ControlServer::close() {
  impl_->close();
}

}  // namespace tend
