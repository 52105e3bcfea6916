// sd_notify datagrams (src/supervisor/notify_socket.hpp), sent to a real NotifySocket the
// way a child sends them: each datagram of at most 4 KiB reaches the handler exactly once,
// with the sender's pid from the kernel and the message parseNotify makes of its bytes; a
// larger one is dropped; file descriptors passed along (FDSTORE) are closed, never kept.
// parseNotify itself is checked against the protocol: newline-separated KEY=VALUE lines,
// READY=1, STOPPING=1, WATCHDOG=1, WATCHDOG=trigger, and the last STATUS= (at most 512
// bytes).
//
// The input: one byte of parameters (how many descriptors to pass along, 0-3), then the
// datagram.

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "supervisor/notify_socket.hpp"

using namespace tend;

namespace {

struct Received {
  pid_t sender = 0;
  NotifyMessage message;
};

struct World {
  boost::asio::io_context io;
  std::unique_ptr<NotifySocket> socket;
  std::vector<Received> received;
  int sender = -1;
  sockaddr_un address{};
  socklen_t address_length = 0;

  World() {
    auto opened = NotifySocket::open(io, "tend-fuzz", [this](pid_t pid, const NotifyMessage& m) {
      received.push_back({pid, m});
    });
    FUZZ_CHECK(opened.has_value(), "the notify socket opens");
    socket = std::move(*opened);
    const std::string& name = socket->address();  // "@" + the abstract name
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path + 1, name.data() + 1, name.size() - 1);
    address_length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    sender = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(sender >= 0, "a datagram socket to send from");
  }
};

size_t openDescriptors() {
  size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  FUZZ_CHECK(dir != nullptr, "/proc/self/fd is readable");
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

// The protocol, written out.
NotifyMessage model(std::string_view datagram) {
  NotifyMessage m;
  while (true) {
    auto nl = datagram.find('\n');
    std::string_view line = datagram.substr(0, nl);
    if (line == "READY=1") m.ready = true;
    if (line == "STOPPING=1") m.stopping = true;
    if (line == "WATCHDOG=1") m.watchdog = true;
    if (line == "WATCHDOG=trigger") m.watchdog_trigger = true;
    if (line.starts_with("STATUS=")) m.status = std::string(line.substr(7, 512));
    if (nl == std::string_view::npos) return m;
    datagram.remove_prefix(nl + 1);
  }
}

bool same(const NotifyMessage& a, const NotifyMessage& b) {
  return a.ready == b.ready && a.stopping == b.stopping && a.watchdog == b.watchdog &&
         a.watchdog_trigger == b.watchdog_trigger && a.status == b.status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World;  // for the whole run: one socket, as a child has
  std::string_view in = fuzz::text(data, size);
  const size_t pass_fds = fuzz::takeByte(in) % 4;
  const std::string_view datagram = in;

  const NotifyMessage parsed = parseNotify(datagram);
  FUZZ_CHECK(same(parsed, model(datagram)), "parseNotify reads the protocol");

  const size_t before = openDescriptors();
  std::vector<int> fds;
  for (size_t i = 0; i < pass_fds; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  iovec iov{const_cast<char*>(datagram.data()), datagram.size()};
  msghdr msg{};
  msg.msg_name = &world->address;
  msg.msg_namelen = world->address_length;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))];
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t sent = ::sendmsg(world->sender, &msg, MSG_NOSIGNAL);
  for (int fd : fds) ::close(fd);
  if (sent < 0) return 0;  // EMSGSIZE: larger than a datagram can be here

  world->received.clear();
  // The datagram is queued by now: a few turns of the loop deliver it.
  for (int i = 0; i < 4; ++i) world->io.poll();
  world->io.restart();

  if (datagram.size() <= 4096) {
    FUZZ_CHECK(world->received.size() == 1, "a datagram reaches the handler exactly once");
    FUZZ_CHECK(world->received[0].sender == ::getpid(), "the sender's pid comes from the kernel");
    FUZZ_CHECK(same(world->received[0].message, parsed), "the handler gets parseNotify's message");
  } else {
    FUZZ_CHECK(world->received.empty(), "a datagram over 4 KiB is dropped");
  }
  FUZZ_CHECK(openDescriptors() == before, "descriptors passed along are closed");
  return 0;
}
