#pragma once
// The client's end of a socketpair, shared by the fuzz targets that drive a real session
// (the gateway's, the API's WebSocket stream): it sends the input, reads everything back
// until the session ends the connection, and then resets its end.

#include <array>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/core.hpp"

namespace tend::fuzz {

using Socket = gateway::Socket;  // what the sessions under test take
using ErrorCode = boost::system::error_code;

// Closes with a reset (linger 0), so no socket lingers in TIME_WAIT between runs.
inline void resetClose(Socket& socket) {
  ErrorCode ignored;
  socket.set_option(boost::asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

class SocketClient : public std::enable_shared_from_this<SocketClient> {
 public:
  explicit SocketClient(Socket socket) : socket_(std::move(socket)) {}

  void start(std::string_view bytes) {
    sending_ = bytes;
    boost::asio::async_write(
        socket_, boost::asio::buffer(sending_),
        [self = shared_from_this()](ErrorCode, size_t) { self->written_ = true; });
    read();
  }
  void finishSending() {
    ErrorCode ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
  }
  bool done() const { return done_ && written_; }
  const std::string& received() const { return received_; }

 private:
  void read() {
    socket_.async_read_some(boost::asio::buffer(buf_),
                            [self = shared_from_this()](ErrorCode ec, size_t n) {
                              if (ec) {
                                self->done_ = true;
                                resetClose(self->socket_);
                                return;
                              }
                              self->received_.append(self->buf_.data(), n);
                              self->read();
                            });
  }

  Socket socket_;
  std::string sending_;
  std::string received_;
  std::array<char, 16 * 1024> buf_;
  bool written_ = false;
  bool done_ = false;
};

}  // namespace tend::fuzz
