// The daemon's own log under a flood: refused connections are logged, but repeated lines
// are rate-limited and counted, so no client can grow daemon.log without bound.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "harness.hpp"

namespace tend::testing {
namespace {

// A connection to 127.0.0.1:port (empty when refused), reads timing out after 10 s.
UniqueFd connectTo(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd.reset();
  return fd;
}

// Sends `bytes`, says it has no more, and reads until the server closes.
std::string exchange(int port, const std::string& bytes) {
  UniqueFd fd = connectTo(port);
  std::string reply;
  if (fd && ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(bytes.size())) {
    ::shutdown(fd.get(), SHUT_WR);
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0)
      reply.append(buf, static_cast<size_t>(n));
  }
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
  // One connection is all the gateway takes: every other client gets a 503, and each 503
  // is a line of the daemon's log.
  std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{}
  max_connections: 1
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
  UniqueFd holder = connectTo(gateway);
  ASSERT_TRUE(holder);
  size_t refused = 0;
  auto send = [&] {
    bool busy = exchange(gateway, "GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
                    .rfind("HTTP/1.1 503", 0) == 0;
    refused += busy;
    return busy;
  };
  ASSERT_TRUE(waitFor(send));  // once the gateway has accepted the holder
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(send()) << "request " << i;
  // The count of what was held back is written when the window ends or the daemon stops.
  ASSERT_EQ(tend({"kill"}).status, 0);
  ASSERT_TRUE(waitFor(
      [&] { return readText(home_ + "/daemon.log").find("daemon stopped") != std::string::npos; },
      std::chrono::seconds(10)));

  std::string log = readText(home_ + "/daemon.log");
  const size_t written = count(log, "(gateway.max_connections); answered 503\n");
  EXPECT_GT(written, 0u) << "the first refusals are still logged";
  // A slow machine may spread the flood over more than one window of 10 s.
  EXPECT_LE(written, 100u * count(log, "suppressed ")) << "at most 100 lines of a kind a window";
  size_t suppressed = 0;
  const std::string kind =
      " more lines like \"gateway: {} connections are open (gateway.max_connections); answered "
      "503\"";
  for (size_t p = 0; (p = log.find(kind, p)) != std::string::npos; p += kind.size()) {
    size_t start = log.rfind("suppressed ", p) + std::string("suppressed ").size();
    suppressed += std::stoul(log.substr(start, p - start));
  }
  EXPECT_EQ(written + suppressed, refused) << "every refusal is written or counted:\n" << log;
  EXPECT_LT(log.size(), 50'000u) << "2,000 refusals do not make a big log";
}

}  // namespace
}  // namespace tend::testing
