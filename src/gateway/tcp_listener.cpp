#include "gateway/tcp_listener.hpp"

#include <sys/socket.h>

namespace tend::gateway {

using ErrorCode = boost::system::error_code;

TcpListener::TcpListener(asio::io_context& io, std::string address, std::string who, Logger& log,
                         OnAccept on_accept)
    : io_(io),
      address_(std::move(address)),
      who_(std::move(who)),
      log_(log),
      on_accept_(std::move(on_accept)),
      acceptor_(io),
      retry_timer_(io.get_executor()) {}

std::string TcpListener::open(const ListenAddress& where) {
  ErrorCode ec;
  tcp::endpoint endpoint;
  // "localhost" is IPv4 loopback whatever the resolver would list first.
  auto ip = asio::ip::make_address(where.host == "localhost" ? "127.0.0.1" : where.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(ip, where.port);
  } else {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(where.host, std::to_string(where.port), ec);
    if (ec || results.empty())
      return "cannot listen on " + address_ + ": cannot resolve " + where.host;
    endpoint = results.begin()->endpoint();
  }
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + address_ + ": " + ec.message();
  return "";
}

void TcpListener::close() {
  ErrorCode ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

void TcpListener::doAccept() {
  acceptor_.async_accept(io_.get_executor(),
                         [self = shared_from_this()](ErrorCode ec, Socket socket) {
                           self->onAccept(ec, std::move(socket));
                         });
}

void TcpListener::onAccept(const ErrorCode& ec, Socket socket) {
  if (!acceptor_.is_open()) return;
  if (ec) {
    log_.warn("{}: accept on {} failed: {}", who_, address_, ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([self = shared_from_this()](ErrorCode ec) {
      if (!ec && self->acceptor_.is_open()) self->doAccept();
    });
    return;
  }
  on_accept_(std::move(socket));
  doAccept();
}

void refuseConnection(Socket& socket, std::string_view response) {
  [[maybe_unused]] auto n =
      ::send(socket.native_handle(), response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ErrorCode ignored;
  socket.close(ignored);
}

}  // namespace tend::gateway
