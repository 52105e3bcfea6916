#pragma once
// TcpListener: one listening TCP socket on the io_context, shared by the gateway and the
// HTTP API. It binds ("localhost" as 127.0.0.1; another host name resolved), accepts
// sockets bound to the io_context's own executor type and hands each to `on_accept`;
// when accept fails (out of file descriptors and the like) it says so and tries again
// after 50 ms rather than spinning.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/logger.hpp"
#include "gateway/core.hpp"
#include "gateway/router.hpp"

namespace tend::gateway {

class TcpListener : public std::enable_shared_from_this<TcpListener> {
 public:
  using OnAccept = std::function<void(Socket socket)>;
  // `who` names the owner in log lines ("gateway", "api").
  TcpListener(asio::io_context& io, std::string address, std::string who, Logger& log,
              OnAccept on_accept);

  // "" or, for people, why it cannot listen.
  std::string open(const ListenAddress& where);
  void start() { doAccept(); }
  void close();

 private:
  void doAccept();
  void onAccept(const boost::system::error_code& ec, Socket socket);

  asio::io_context& io_;
  std::string address_;
  std::string who_;
  Logger& log_;
  OnAccept on_accept_;
  tcp::acceptor acceptor_;
  SteadyTimer retry_timer_;
};

// Writes `response` (a whole HTTP response, e.g. a 503) to a just-accepted socket without
// blocking, best effort, then closes it: its send buffer is empty, so it normally fits.
void refuseConnection(Socket& socket, std::string_view response);

}  // namespace tend::gateway
