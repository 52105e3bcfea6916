#pragma once
// Internal to src/gateway/. ConnectionRefuser answers connections the gateway will not
// serve (over its connection cap) with a fixed response, so that the client reads that
// answer instead of a reset.
//
// The answer is written at once, without blocking (a new socket's send buffer is empty),
// and the sending side is shut down. Then, for up to `linger`, whatever the client still
// sends is read and dropped before the socket is closed: closing a socket with unread bytes,
// or one the client still writes to, sends a reset, which makes the client's writes fail
// (curl: "Send failure: Broken pipe") before it reads the answer.
//
// Bounded: at most `max_lingering` sockets linger at once, each holding its socket and a
// timer (the dropped bytes all go to one shared buffer). Beyond that a socket is closed right
// after its answer, as it was before, so a flood over the cap cannot grow memory.
//
// Lives on the io_context thread; owned by shared_ptr (pending operations hold it).

#include <array>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "common/clock.hpp"
#include "gateway/core.hpp"

namespace tend::gateway {

class ConnectionRefuser : public std::enable_shared_from_this<ConnectionRefuser> {
 public:
  ConnectionRefuser(asio::io_context& io, size_t max_lingering, Duration linger);
  ConnectionRefuser(const ConnectionRefuser&) = delete;
  ConnectionRefuser& operator=(const ConnectionRefuser&) = delete;

  // Writes `response` (a whole HTTP response with "Connection: close") to `socket`, then
  // lingers or closes it as above.
  void refuse(Socket socket, std::string_view response);
  // Closes every lingering socket now; later refusals close at once.
  void close();
  size_t lingering() const { return lingering_.size(); }

 private:
  struct Lingering {
    Lingering(Socket s, asio::io_context& io) : socket(std::move(s)), timer(io.get_executor()) {}
    Socket socket;
    SteadyTimer timer;
  };
  void drain(const std::shared_ptr<Lingering>& l);
  void finish(Lingering* l);

  asio::io_context& io_;
  const size_t max_lingering_;
  const Duration linger_;
  std::unordered_map<Lingering*, std::shared_ptr<Lingering>> lingering_;
  std::array<char, 4096> sink_;  // what lingering clients send ends here, unread
  bool closed_ = false;
};

}  // namespace tend::gateway
