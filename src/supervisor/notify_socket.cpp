#include "supervisor/notify_socket.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <random>

#include "common/text.hpp"
#include "common/unique_fd.hpp"

namespace tend {
namespace asio = boost::asio;

NotifyMessage parseNotify(std::string_view datagram) {
  NotifyMessage m;
  for (const std::string& line : split(datagram, '\n')) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string_view key(line.data(), eq);
    std::string_view value(line.data() + eq + 1, line.size() - eq - 1);
    if (key == "READY" && value == "1") m.ready = true;
    if (key == "STOPPING" && value == "1") m.stopping = true;
    if (key == "WATCHDOG" && value == "1") m.watchdog = true;
    if (key == "WATCHDOG" && value == "trigger") m.watchdog_trigger = true;
    if (key == "STATUS") m.status = std::string(value.substr(0, 512));
  }
  return m;
}

// Waits for datagrams and hands them on. Owns itself while a wait is pending, so the
// NotifySocket can go at any time.
class NotifySocket::Reader : public std::enable_shared_from_this<NotifySocket::Reader> {
 public:
  Reader(asio::io_context& io, int fd, Handler handler)
      : stream_(io, fd), handler_(std::move(handler)) {}

  void start() { doWait(); }
  void close() {
    handler_ = nullptr;
    boost::system::error_code ignored;
    stream_.close(ignored);
  }

 private:
  static constexpr int kPerWakeup = 16;

  void doWait() {
    stream_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || !self->stream_.is_open()) return;
                         self->onReadable();
                       });
  }

  void onReadable() {
    for (int i = 0; i < kPerWakeup && stream_.is_open(); ++i) {
      std::array<char, 4096> data;
      alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control;
      iovec iov{data.data(), data.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      ssize_t n = ::recvmsg(stream_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;  // EAGAIN: drained
      }
      pid_t sender = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
          ucred cred{};
          std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
          sender = cred.pid;
        }
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          // Passed fds (FDSTORE) are not kept: close them.
          size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (size_t k = 0; k < count; ++k) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
            if (fd >= 0) ::close(fd);
          }
        }
      }
      if (msg.msg_flags & MSG_TRUNC) continue;  // larger than any message worth reading
      if (handler_)
        handler_(sender, parseNotify(std::string_view(data.data(), static_cast<size_t>(n))));
    }
    if (stream_.is_open()) doWait();
  }

  asio::posix::stream_descriptor stream_;
  Handler handler_;
};

std::expected<std::unique_ptr<NotifySocket>, std::string> NotifySocket::open(
    asio::io_context& io, const std::string& hint, Handler handler) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return std::unexpected(fmt::format("notify socket: {}", std::strerror(errno)));
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
    return std::unexpected(fmt::format("notify socket: SO_PASSCRED: {}", std::strerror(errno)));
  int size = 64 * 1024;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  static std::mt19937_64 random{std::random_device{}()};
  std::string name =
      fmt::format("{}-{:016x}", hint, random()).substr(0, sizeof(sockaddr_un::sun_path) - 2);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
    return std::unexpected(fmt::format("notify socket @{}: {}", name, std::strerror(errno)));
  auto reader = std::make_shared<Reader>(io, fd.release(), std::move(handler));
  reader->start();
  return std::unique_ptr<NotifySocket>(new NotifySocket(std::move(reader), "@" + name));
}

NotifySocket::~NotifySocket() {
  reader_->close();
}

}  // namespace tend
