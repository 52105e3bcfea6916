#include "supervisor/probe.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "supervisor/instance_probes.hpp"
#include "supervisor/notify_socket.hpp"

namespace tend {
namespace {

TEST(ProbeUrl, ReadsHostPortAndPath) {
  auto u = parseHttpUrl("http://127.0.0.1:3001/health?full=1#frag");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 3001);
  EXPECT_EQ(u->path, "/health?full=1");
  EXPECT_EQ(u->host_header, "127.0.0.1:3001");

  u = parseHttpUrl("http://localhost");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->path, "/");
  u = parseHttpUrl("http://[::1]:8080/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8080);
  u = parseHttpUrl("http://example.com?q");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/?q");
}

TEST(ProbeUrl, ReadsHttpsWithPort443ByDefault) {
  auto u = parseHttpUrl("https://example.com/health");
  ASSERT_TRUE(u) << u.error();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->host, "example.com");
  u = parseHttpUrl("https://127.0.0.1:8443/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 8443);
  EXPECT_FALSE(parseHttpUrl("http://a/")->tls);
}

TEST(ProbeCheck, ResolvesMethodBodyExpectAndTls) {
  ProbeSpec spec;
  spec.http = "https://127.0.0.1:8443/h";
  spec.method = "POST";
  spec.body = "ping";
  spec.expect_status = 200;
  spec.expect_last = 299;
  spec.insecure = true;
  ProbeCheck c = resolveProbe(&spec, 0);
  EXPECT_TRUE(c.tls);
  EXPECT_TRUE(c.insecure);
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.body, "ping");
  EXPECT_EQ(c.port, 8443);
  EXPECT_TRUE(statusExpected(c, 200));
  EXPECT_TRUE(statusExpected(c, 299));
  EXPECT_FALSE(statusExpected(c, 300));
  EXPECT_FALSE(statusExpected(c, 199));
  c.expect = c.expect_last = 204;
  EXPECT_FALSE(statusExpected(c, 200));
  EXPECT_TRUE(statusExpected(c, 204));
}

TEST(ProbeUrl, RejectsWhatItCannotUse) {
  EXPECT_FALSE(parseHttpUrl("ftp://a/"));
  EXPECT_FALSE(parseHttpUrl("http://"));
  EXPECT_FALSE(parseHttpUrl("http://:80/"));
  EXPECT_FALSE(parseHttpUrl("http://a:0/"));
  EXPECT_FALSE(parseHttpUrl("http://a:70000/"));
  EXPECT_FALSE(parseHttpUrl("http://a:8x/"));
  EXPECT_FALSE(parseHttpUrl("http://user@a/"));
  EXPECT_FALSE(parseHttpUrl("http://[::1/"));
}

TEST(ProbeStatusLine, ReadsTheCode) {
  EXPECT_EQ(parseStatusLine("HTTP/1.1 200 OK\r"), 200);
  EXPECT_EQ(parseStatusLine("HTTP/1.0 503 Service Unavailable"), 503);
  EXPECT_EQ(parseStatusLine("HTTP/1.1 204"), 204);
  EXPECT_FALSE(parseStatusLine("HTTP/2 200"));
  EXPECT_FALSE(parseStatusLine("SSH-2.0-OpenSSH"));
  EXPECT_FALSE(parseStatusLine("HTTP/1.1 20 OK"));
  EXPECT_FALSE(parseStatusLine("HTTP/1.1 2000 OK"));
  EXPECT_FALSE(parseStatusLine("HTTP/1.1 abc OK"));
}

TEST(ProbeResolve, DefaultIsATcpConnectToTheInstancesPortOrNothing) {
  ProbeCheck c = resolveProbe(nullptr, 3005);
  EXPECT_EQ(c.kind, ProbeCheck::Kind::Tcp);
  EXPECT_EQ(c.describe(), "tcp 127.0.0.1:3005");
  EXPECT_EQ(resolveProbe(nullptr, 0).kind, ProbeCheck::Kind::None);
}

TEST(ProbeResolve, EachKind) {
  ProbeSpec p;
  p.tcp = 5432;
  EXPECT_EQ(resolveProbe(&p, 3000).describe(), "tcp 127.0.0.1:5432");
  p = {};
  p.http = "http://127.0.0.1:3000/up";
  p.expect_status = 204;
  ProbeCheck h = resolveProbe(&p, 0);
  EXPECT_EQ(h.kind, ProbeCheck::Kind::Http);
  EXPECT_EQ(h.port, 3000);
  EXPECT_EQ(h.path, "/up");
  EXPECT_EQ(h.expect, 204);
  EXPECT_EQ(h.describe(), "http://127.0.0.1:3000/up");
  p = {};
  p.exec = "pg_isready -q";
  EXPECT_EQ(resolveProbe(&p, 0).describe(), "exec 'pg_isready -q'");
  p = {};
  p.notify = true;
  EXPECT_EQ(resolveProbe(&p, 3000).kind, ProbeCheck::Kind::Notify);
}

TEST(NotifyParse, ReadsTheAssignmentsItKnows) {
  NotifyMessage m = parseNotify("READY=1\nSTATUS=Serving 3 clients\nMAINPID=12\n");
  EXPECT_TRUE(m.ready);
  EXPECT_FALSE(m.watchdog);
  ASSERT_TRUE(m.status);
  EXPECT_EQ(*m.status, "Serving 3 clients");
  m = parseNotify("WATCHDOG=1");
  EXPECT_TRUE(m.watchdog);
  EXPECT_FALSE(m.ready);
  EXPECT_FALSE(m.status);
  EXPECT_TRUE(parseNotify("WATCHDOG=trigger").watchdog_trigger);
  EXPECT_TRUE(parseNotify("STOPPING=1").stopping);
  EXPECT_FALSE(parseNotify("READY=0").ready);
  EXPECT_FALSE(parseNotify("garbage").ready);
  EXPECT_EQ(*parseNotify("STATUS=").status, "");
}

TEST(ProbeOutputLine, IsTheLastLineThatSaysSomething) {
  EXPECT_EQ(probeOutputLine(""), "");
  EXPECT_EQ(probeOutputLine("\n  \n"), "");
  EXPECT_EQ(probeOutputLine("checking db\n  db: connection refused  \n\n"),
            "db: connection refused");
  EXPECT_EQ(probeOutputLine("one line, no newline"), "one line, no newline");
  EXPECT_EQ(probeOutputLine("tab\tand\x01"
                            "bell\r\n"),
            "tab and bell");
  // Long: the end is kept, cut between characters, and marked.
  std::string longer = std::string(300, 'x') + "\xc3\xa9nd";
  std::string line = probeOutputLine(longer);
  EXPECT_EQ(line.size(), 3 + 200u);
  EXPECT_EQ(line.substr(0, 3), "...");
  EXPECT_EQ(line.substr(line.size() - 4), "\xc3\xa9nd");
  std::string cut = std::string(199, 'x') + "\xc3\xa9";  // 201 bytes: the cut lands inside é
  EXPECT_EQ(probeOutputLine("a" + cut), "..." + cut.substr(1));
  // Whatever it printed, the line is valid UTF-8 (it goes into JSON).
  EXPECT_EQ(probeOutputLine("caf\xc3\xa9 \xff\xfe \xc0\x80 \xed\xa0\x80 \xe2\x82"),
            "caf\xc3\xa9 ?? ?? ??? ??");
  EXPECT_NO_THROW((void)nlohmann::json(probeOutputLine("\xf5\x80\x80\x80 \xe0\x80\x80")).dump());
}

// A twentieth of the time the start has taken, between 1 ms and 100 ms: a fast app is seen
// within a millisecond of listening, a slow one costs few tries.
TEST(ReadyRetryDelay, IsAShareOfTheTimeTakenBetweenOneAndAHundredMs) {
  EXPECT_EQ(readyRetryDelay(0ms), 1ms);
  EXPECT_EQ(readyRetryDelay(19ms), 1ms);
  EXPECT_EQ(readyRetryDelay(40ms), 2ms);
  EXPECT_EQ(readyRetryDelay(100ms), 5ms);
  EXPECT_EQ(readyRetryDelay(1s), 50ms);
  EXPECT_EQ(readyRetryDelay(2s), 100ms);
  EXPECT_EQ(readyRetryDelay(10min), 100ms);
  // Every try of a start that takes 10 s: about 200 (120 of them in the first 2 s), not
  // one per millisecond.
  int tries = 0;
  for (Duration t = 0ms; t < 10s; t += readyRetryDelay(t)) ++tries;
  EXPECT_GT(tries, 150);
  EXPECT_LT(tries, 250);
}

// The runner with a real loop: a TCP ready check against a socket that listens, and one
// that never passes.
class InstanceProbesTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  int readies = 0;
  std::string not_ready;
  std::vector<nlohmann::json> events;

  std::unique_ptr<InstanceProbes> make() {
    InstanceProbes::Hooks hooks;
    hooks.exec = [](const std::string&, Duration, ProbeDone done) { done({true, ""}); };
    hooks.ready = [this] { ++readies; };
    hooks.not_ready = [this](const std::string& why) { not_ready = why; };
    hooks.unhealthy = [](const std::string&) {};
    hooks.event = [this](const nlohmann::json& e) { events.push_back(e); };
    return std::make_unique<InstanceProbes>(io, SystemClock::instance(), hooks);
  }
};

TEST_F(InstanceProbesTest, TcpReadyPassesOnceSomethingListens) {
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto probes = make();
  ProbeCheck check;
  check.kind = ProbeCheck::Kind::Tcp;
  check.port = acceptor.local_endpoint().port();
  probes->startReady(check, 10s);
  EXPECT_EQ(readies, 0);  // never inside the call
  io.run_for(5s);
  EXPECT_EQ(readies, 1);
  EXPECT_EQ(probes->describe()["ready"].value("state", ""), "passed");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].value("ok", false));
}

TEST_F(InstanceProbesTest, ReadyTimesOutWithTheLastError) {
  int port = 0;
  {
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto probes = make();
  ProbeCheck check;
  check.kind = ProbeCheck::Kind::Tcp;
  check.port = static_cast<uint16_t>(port);
  probes->startReady(check, 300ms);
  io.run_for(3s);
  EXPECT_EQ(readies, 0);
  EXPECT_EQ(not_ready,
            fmt::format("not ready after 300ms: connect 127.0.0.1:{}: connection refused", port));
  // The first failure and the timeout, not one event per retry.
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[1].value("ok", true));
  EXPECT_GT(probes->describe()["ready"].value("attempts", 0), 3);
}

TEST_F(InstanceProbesTest, NoCheckIsReadyAtOnce) {
  auto probes = make();
  probes->startReady(ProbeCheck{}, 10s);
  EXPECT_EQ(readies, 1);
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace tend
