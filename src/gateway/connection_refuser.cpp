#include "gateway/connection_refuser.hpp"

#include <sys/socket.h>

#include <vector>

namespace tend::gateway {

using ErrorCode = boost::system::error_code;

ConnectionRefuser::ConnectionRefuser(asio::io_context& io, size_t max_lingering, Duration linger)
    : io_(io), max_lingering_(max_lingering), linger_(linger) {}

void ConnectionRefuser::refuse(Socket socket, std::string_view response) {
  [[maybe_unused]] auto n =
      ::send(socket.native_handle(), response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ErrorCode ignored;
  if (closed_ || lingering_.size() >= max_lingering_) {
    socket.close(ignored);
    return;
  }
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  auto l = std::make_shared<Lingering>(std::move(socket), io_);
  lingering_.emplace(l.get(), l);
  l->timer.expires_after(linger_);
  l->timer.async_wait([weak = std::weak_ptr<Lingering>(l)](ErrorCode ec) {
    if (ec) return;
    // The read pending on it completes with an error and ends it.
    if (auto self = weak.lock()) {
      ErrorCode ignored;
      self->socket.close(ignored);
    }
  });
  drain(l);
}

void ConnectionRefuser::drain(const std::shared_ptr<Lingering>& l) {
  l->socket.async_read_some(asio::buffer(sink_),
                            [self = shared_from_this(), l](ErrorCode ec, size_t) {
                              if (ec) {
                                self->finish(l.get());  // the client closed, or time is up
                                return;
                              }
                              self->drain(l);
                            });
}

void ConnectionRefuser::finish(Lingering* l) {
  ErrorCode ignored;
  l->timer.cancel();
  l->socket.close(ignored);
  lingering_.erase(l);
}

void ConnectionRefuser::close() {
  closed_ = true;
  std::vector<Lingering*> open;
  for (auto& [raw, l] : lingering_) open.push_back(raw);
  // Each pending read then completes with an error and finishes its socket.
  for (auto* l : open) {
    ErrorCode ignored;
    l->timer.cancel();
    l->socket.close(ignored);
  }
}

}  // namespace tend::gateway
