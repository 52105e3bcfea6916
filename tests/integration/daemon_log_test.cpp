// The daemon's own log under a flood: refused requests are logged, but repeated lines are
// rate-limited and counted, so no client can grow daemon.log without bound.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

// Sends `bytes` to 127.0.0.1:port and reads until the server closes; "" when it refuses.
std::string exchange(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = 0; (p = text.find(needle, p)) != std::string::npos; p += needle.size()) ++n;
  return n;
}

class DaemonLog : public TendTest {};

TEST_F(DaemonLog, AFloodOfRefusedRequestsIsCountedNotWrittenLineByLine) {
  const int gateway = freePortRun(1);
  ASSERT_GT(gateway, 0);
  std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{}
apps:
  - name: web
    run: ["{}", "listen", "{}"]
    port: {}
    on_demand:
      hosts: [web.localhost]
)",
                                 gateway, testapp(), tag(), freePortRun(1));
  RunResult started = tend({"start", writeFile("tend.yaml", yaml)});
  ASSERT_EQ(started.status, 0) << started.out << started.err;

  constexpr int kRequests = 2000;
  for (int i = 0; i < kRequests; ++i) {
    std::string reply = exchange(gateway,
                                 "CONNECT web.localhost:443 HTTP/1.1\r\n"
                                 "Host: web.localhost:443\r\n\r\n");
    ASSERT_EQ(reply.rfind("HTTP/1.1 501", 0), 0u) << "request " << i << ": " << reply;
  }
  // The count of what was held back is written when the window ends or the daemon stops.
  ASSERT_EQ(tend({"kill"}).status, 0);
  ASSERT_TRUE(waitFor(
      [&] { return readText(home_ + "/daemon.log").find("daemon stopped") != std::string::npos; },
      std::chrono::seconds(10)));

  std::string log = readText(home_ + "/daemon.log");
  const size_t written = count(log, "answered 501: CONNECT is not supported");
  EXPECT_GT(written, 0u) << "the first refusals are still logged";
  // A slow machine may spread the flood over more than one window of 10 s.
  EXPECT_LE(written, 100u * count(log, "suppressed ")) << "at most 100 lines of a kind a window";
  size_t suppressed = 0;
  const std::string kind = " more lines like \"gateway: answered {}: {}\"";
  for (size_t p = 0; (p = log.find(kind, p)) != std::string::npos; p += kind.size()) {
    size_t start = log.rfind("suppressed ", p) + std::string("suppressed ").size();
    suppressed += std::stoul(log.substr(start, p - start));
  }
  EXPECT_EQ(written + suppressed, static_cast<size_t>(kRequests))
      << "every refusal is written or counted:\n"
      << log;
  EXPECT_LT(log.size(), 50'000u) << "2,000 refusals do not make a big log";
}

}  // namespace
}  // namespace tend::testing
