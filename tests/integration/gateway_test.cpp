// The on-demand gateway, end to end: the real daemon, real backends (tests/apps/backend.cpp),
// real clients (curl, wrk when installed, and a Beast WebSocket client).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace tend::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using tcp = asio::ip::tcp;

using Http = HttpReply;

class GatewayTest : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    gateway_port_ = freePortRun(1);
    ASSERT_GT(gateway_port_, 0);
  }

  struct App {
    std::string name{};
    std::string idle = "1s";
    std::string start_timeout = "5s";
    std::string extra{};  // more YAML for the app, indented 4 spaces
    std::vector<std::string> run{};
    std::string on_demand_extra{};  // more YAML for its on_demand block, indented 6 spaces
    std::string env{};              // more env entries: ", KEY: value"
  };

  // Writes and starts a config whose apps are backends behind the gateway.
  void startConfig(const std::vector<App>& apps) {
    std::string yaml =
        fmt::format("gateway:\n  listen: 127.0.0.1:{}\n{}apps:\n", gateway_port_, gateway_extra_);
    for (const auto& a : apps) {
      int port = freePortRun(1);
      ports_[a.name] = port;
      std::vector<std::string> run =
          a.run.empty() ? std::vector<std::string>{BACKEND_BINARY} : a.run;
      std::string run_yaml;
      for (const auto& word : run) run_yaml += (run_yaml.empty() ? "" : ", ") + json(word).dump();
      yaml += fmt::format(R"(  - name: {0}
    run: [{1}, "{2}"]
    port: {3}
    env: {{ TEST_TAG: "{2}"{8} }}
    on_demand:
      hosts: [{0}.localhost]
      idle_timeout: {4}
      start_timeout: {5}
{7}{6})",
                          a.name, run_yaml, tag(), port, a.idle, a.start_timeout, a.extra,
                          a.on_demand_extra, a.env);
    }
    RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }

  Http get(const std::string& host, const std::string& path,
           const std::vector<std::string>& more = {}) {
    return curlGet(gateway_port_, host, path, more);
  }

  std::string status(const std::string& app) { return instance(app).value("status", ""); }

  // Sends raw bytes to the gateway and returns everything it answers until it closes the
  // connection (at most 30 s: a gateway that neither answers nor closes fails the test).
  std::string rawReply(const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(gateway_port_));
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return reply;
  }

  static std::string statusLine(const std::string& reply) {
    return reply.substr(0, reply.find("\r\n"));
  }

  // Whether the daemon's log says the gateway answered `status` (the 5xx it writes there).
  bool logged(int status) {
    return readText(home_ + "/daemon.log").find(fmt::format("gateway: answered {}", status)) !=
           std::string::npos;
  }

  int startsIn(const std::string& app) {
    std::string log = readText(home_ + "/daemon.log");
    int n = 0;
    std::string needle = app + "[0]: started pid";
    for (size_t p = 0; (p = log.find(needle, p)) != std::string::npos; ++p) ++n;
    return n;
  }

  int gateway_port_ = 0;
  std::string gateway_extra_;  // more YAML for the gateway section, indented 2 spaces
  std::map<std::string, int> ports_;
};

TEST_F(GatewayTest, StartsAnAppOnItsFirstRequestAndForwardsPathAndQuery) {
  startConfig({{.name = "a"}});
  EXPECT_EQ(status("a"), "stopped");
  EXPECT_EQ(instance("a")["on_demand"], true);
  Http h = get("a.localhost", "/hello/world?x=1&y=two");
  EXPECT_EQ(h.code, 200) << h.body;
  EXPECT_EQ(h.body, "app=a method=GET target=/hello/world?x=1&y=two host=a.localhost");
  EXPECT_EQ(status("a"), "online");
  // The hot path: the app is up, requests go straight through.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get("A.LOCALHOST:80", "/again").code, 200);
  EXPECT_EQ(startsIn("a"), 1);
}

TEST_F(GatewayTest, AManuallyStartedOnDemandAppIsStillStoppedWhenIdle) {
  startConfig({{.name = "a", .idle = "700ms"}});
  ASSERT_EQ(tend({"start", "a", "--wait"}).status, 0);
  EXPECT_EQ(status("a"), "online");
  EXPECT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(10)));
  // And `tend stop` works on it like on any app.
  ASSERT_EQ(get("a.localhost", "/").code, 200);
  ASSERT_EQ(tend({"stop", "a"}).status, 0);
  EXPECT_EQ(status("a"), "stopped");
}

TEST_F(GatewayTest, ALoadingPageForBrowsersWhileApiClientsAreHeld) {
  startConfig({{.name = "a",
                .on_demand_extra = "      loading_page: true\n",
                .env = ", BACKEND_DELAY_MS: \"500\""}});
  Http page = get("a.localhost", "/", {"-H", "Accept: text/html,application/xhtml+xml"});
  // 503 (with a refresh): the page is not the app's, so nothing caches it as such.
  EXPECT_EQ(page.code, 503);
  EXPECT_NE(page.body.find("Starting a"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("refresh"), std::string::npos) << page.body;
  Http api = get("a.localhost", "/api", {"-H", "Accept: application/json"});
  EXPECT_EQ(api.code, 200);
  EXPECT_EQ(api.body, "app=a method=GET target=/api host=a.localhost");
}

TEST_F(GatewayTest, UnknownHostIs404AndStartsNothing) {
  startConfig({{.name = "a"}});
  Http h = get("nobody.localhost", "/");
  EXPECT_EQ(h.code, 404);
  EXPECT_NE(h.body.find("nobody.localhost"), std::string::npos) << h.body;
  EXPECT_EQ(status("a"), "stopped");
}

TEST_F(GatewayTest, StopsAnAppAfterItsIdleTimeout) {
  startConfig({{.name = "a", .idle = "700ms"}});
  ASSERT_EQ(get("a.localhost", "/").code, 200);
  ASSERT_EQ(status("a"), "online");
  EXPECT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(10)));
  EXPECT_TRUE(processesWith(tag()).empty());
  // And it comes back on the next request.
  EXPECT_EQ(get("a.localhost", "/").code, 200);
  EXPECT_EQ(startsIn("a"), 2);
}

TEST_F(GatewayTest, SteadyTrafficKeepsAnAppAlive) {
  startConfig({{.name = "a", .idle = "800ms"}});
  int pid = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(get("a.localhost", "/").code, 200);
    if (i == 0) pid = instance("a").value("pid", 0);
    std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_EQ(instance("a")["pid"], pid);
  EXPECT_EQ(startsIn("a"), 1);
}

TEST_F(GatewayTest, ThreeColdAppsStartInParallel) {
  startConfig({{.name = "a"}, {.name = "b"}, {.name = "c"}});
  std::vector<std::future<Http>> replies;
  for (std::string app : {"a", "b", "c"})
    replies.push_back(
        std::async(std::launch::async, [this, app] { return get(app + ".localhost", "/" + app); }));
  for (auto& f : replies) EXPECT_EQ(f.get().code, 200);
  for (std::string app : {"a", "b", "c"}) EXPECT_EQ(status(app), "online") << app;
}

TEST_F(GatewayTest, PostBodiesArriveWhole) {
  startConfig({{.name = "a"}});
  Http empty = get("a.localhost", "/echo", {"-X", "POST", "--data-binary", ""});
  EXPECT_EQ(empty.body, "bytes=0 fnv=14695981039346656037");
  std::string big_path = dir_ + "/big.bin";
  {
    std::ofstream out(big_path, std::ios::binary);
    uint32_t x = 12345;
    for (int i = 0; i < (1 << 20); ++i) {
      x = x * 1103515245u + 12345u;
      out.put(static_cast<char>(x >> 24));
    }
  }
  uint64_t fnv = 14695981039346656037ull;
  for (unsigned char c : readText(big_path)) fnv = (fnv ^ c) * 1099511628211ull;
  Http big = get("a.localhost", "/echo", {"-X", "POST", "--data-binary", "@" + big_path});
  EXPECT_EQ(big.body, fmt::format("bytes={} fnv={}", 1 << 20, fnv));
  Http chunked =
      get("a.localhost", "/echo",
          {"-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + big_path});
  EXPECT_EQ(chunked.body, fmt::format("bytes={} fnv={}", 1 << 20, fnv));
}

TEST_F(GatewayTest, HeadersAreForwardedWithXForwardedAndWithoutHopByHop) {
  startConfig({{.name = "a"}});
  Http h = get("a.localhost", "/headers",
               {"-H", "X-Forwarded-For: 10.1.2.3", "-H", "Connection: keep-alive, X-Secret", "-H",
                "X-Secret: drop me", "-H", "X-Kept: yes"});
  EXPECT_EQ(h.code, 200);
  EXPECT_NE(h.body.find("Host: a.localhost"), std::string::npos) << h.body;
  // No trusted proxy is configured: the client's X-Forwarded-For is replaced.
  EXPECT_NE(h.body.find("X-Forwarded-For: 127.0.0.1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Real-IP: 127.0.0.1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Forwarded-Proto: http"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Forwarded-Host: a.localhost"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Kept: yes"), std::string::npos) << h.body;
  EXPECT_EQ(h.body.find("X-Secret"), std::string::npos) << h.body;
}

const std::vector<std::string> kForwardingClaims = {
    "-H", "X-Forwarded-For: 10.1.2.3", "-H", "Forwarded: for=10.1.2.3;proto=https",
    "-H", "X-Real-IP: 10.1.2.3",       "-H", "X-Forwarded-Proto: https"};

// As nginx's real_ip module with no set_real_ip_from: a client's word about who it is for is
// not taken.
TEST_F(GatewayTest, ForwardingHeadersOfAClientThatIsNoTrustedProxyAreDroppedOrReplaced) {
  startConfig({{.name = "a"}});
  Http h = get("a.localhost", "/headers", kForwardingClaims);
  ASSERT_EQ(h.code, 200) << h.body;
  EXPECT_NE(h.body.find("X-Forwarded-For: 127.0.0.1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Real-IP: 127.0.0.1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Forwarded-Proto: http\n"), std::string::npos) << h.body;
  EXPECT_EQ(h.body.find("Forwarded:"), std::string::npos) << h.body;
  EXPECT_EQ(h.body.find("10.1.2.3"), std::string::npos) << h.body;
}

TEST_F(GatewayTest, ForwardingHeadersOfATrustedProxyAreKeptAndItsChainAppendedTo) {
  gateway_extra_ = "  trusted_proxies: [192.168.0.0/16, 127.0.0.1]\n";
  startConfig({{.name = "a"}});
  Http h = get("a.localhost", "/headers", kForwardingClaims);
  ASSERT_EQ(h.code, 200) << h.body;
  EXPECT_NE(h.body.find("X-Forwarded-For: 10.1.2.3, 127.0.0.1\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("Forwarded: for=10.1.2.3;proto=https\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Real-IP: 10.1.2.3\n"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("X-Forwarded-Proto: https\n"), std::string::npos) << h.body;
  // The setting survives a daemon restart (it is kept in $TEND_HOME/gateway.json).
  ASSERT_EQ(tend({"kill"}).status, 0);
  Http again = get("a.localhost", "/headers", kForwardingClaims);
  EXPECT_EQ(again.code, 0);  // nothing listens until a command starts the daemon
  ASSERT_EQ(tend({"list"}).status, 0);
  again = get("a.localhost", "/headers", kForwardingClaims);
  ASSERT_EQ(again.code, 200) << again.body;
  EXPECT_NE(again.body.find("X-Real-IP: 10.1.2.3\n"), std::string::npos) << again.body;
}

TEST_F(GatewayTest, ABadTrustedProxyIsAConfigErrorWithItsPlace) {
  std::string path = writeFile("tend.yaml", fmt::format("gateway:\n  listen: 127.0.0.1:{}\n"
                                                        "  trusted_proxies: [10.0.0.0/8, lb]\n"
                                                        "apps:\n  - name: a\n    run: x\n",
                                                        gateway_port_));
  RunResult r = tend({"start", path});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tend.yaml:3:33: gateway.trusted_proxies: 'lb' is not an IP address"),
            std::string::npos)
      << r.err;
}

// At gateway.max_connections a new client gets a 503 at once (with a short body and
// Connection: close), not a reset, even while it is still sending a large upload.
TEST_F(GatewayTest, AtTheConnectionCapNewClientsGetA503) {
  gateway_extra_ = "  max_connections: 2\n";
  startConfig({{.name = "a", .idle = "1m"}});
  ASSERT_EQ(get("a.localhost", "/").code, 200);
  auto holdOpen = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(gateway_port_));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::send(fd, "G", 1, MSG_NOSIGNAL), 1);  // half a request: the connection stays
    return fd;
  };
  int first = holdOpen(), second = holdOpen();
  ASSERT_TRUE(waitFor([&] { return get("a.localhost", "/").code == 503; }));
  Http busy = get("a.localhost", "/");
  EXPECT_EQ(busy.body, "tend: too many connections; try again\n");
  std::string big = dir_ + "/big.bin";
  writeText(big, std::string(4 << 20, 'x'));
  for (int i = 0; i < 5; ++i) {
    RunResult r = runProgram({"curl", "-s", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}",
                              "-H", "Host: a.localhost", "--data-binary", "@" + big,
                              fmt::format("http://127.0.0.1:{}/echo", gateway_port_)});
    EXPECT_EQ(r.status, 0) << r.err;  // not 55 ("Send failure") or 56 ("Recv failure")
    EXPECT_EQ(r.out, "503");
  }
  ::close(first);
  ::close(second);
  EXPECT_TRUE(waitFor([&] { return get("a.localhost", "/").code == 200; }));
}

// Reads an HTTP response from a raw socket, recording when each SSE event arrived.
std::vector<std::chrono::steady_clock::time_point> sseArrivals(int port, const std::string& host,
                                                               int events) {
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  asio::io_context io;
  tcp::socket socket(io);
  beast::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)}, ec);
  if (ec) return arrivals;
  std::string req =
      fmt::format("GET /sse?n={}&ms=300 HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
                  events, host);
  asio::write(socket, asio::buffer(req), ec);
  std::string seen;
  char buf[4096];
  while (static_cast<int>(arrivals.size()) < events) {
    size_t n = socket.read_some(asio::buffer(buf), ec);
    if (ec) break;
    seen.append(buf, n);
    size_t count = 0;
    for (size_t p = 0; (p = seen.find("data: event", p)) != std::string::npos; ++p) ++count;
    while (arrivals.size() < count) arrivals.push_back(std::chrono::steady_clock::now());
  }
  return arrivals;
}

TEST_F(GatewayTest, ServerSentEventsFromAColdStartArriveOneByOne) {
  startConfig({{.name = "a"}});
  auto arrivals = sseArrivals(gateway_port_, "a.localhost", 4);
  ASSERT_EQ(arrivals.size(), 4u);
  // Produced 300 ms apart: relayed as produced, not buffered until the end.
  for (size_t i = 1; i < arrivals.size(); ++i)
    EXPECT_GE(arrivals[i] - arrivals[i - 1], milliseconds(150)) << "event " << i;
}

class WsClient {
 public:
  bool open(int port, const std::string& host) {
    beast::error_code ec;
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)},
                             ec);
    if (ec) return false;
    ws_.handshake(host, "/ws", ec);
    return !ec;
  }
  std::string echo(const std::string& text) {
    beast::error_code ec;
    ws_.write(asio::buffer(text), ec);
    if (ec) return "write failed: " + ec.message();
    beast::flat_buffer buffer;
    ws_.read(buffer, ec);
    if (ec) return "read failed: " + ec.message();
    return beast::buffers_to_string(buffer.data());
  }
  void close() {
    beast::error_code ec;
    ws_.close(beast::websocket::close_code::normal, ec);
  }
  void vanish() {
    beast::error_code ec;
    ws_.next_layer().close(ec);
  }

 private:
  asio::io_context io_;
  beast::websocket::stream<tcp::socket> ws_{io_};
};

TEST_F(GatewayTest, WebSocketFromAColdStartIsTunnelled) {
  startConfig({{.name = "a"}});
  WsClient ws;
  ASSERT_TRUE(ws.open(gateway_port_, "a.localhost"));
  EXPECT_EQ(ws.echo("hello"), "hello");
  EXPECT_EQ(ws.echo(std::string(100000, 'x')), std::string(100000, 'x'));
  ws.close();
}

TEST_F(GatewayTest, AnOpenWebSocketKeepsTheAppAliveUntilItCloses) {
  startConfig({{.name = "a", .idle = "500ms"}});
  WsClient ws;
  ASSERT_TRUE(ws.open(gateway_port_, "a.localhost"));
  std::this_thread::sleep_for(milliseconds(1500));  // three idle timeouts
  EXPECT_EQ(status("a"), "online");
  EXPECT_EQ(ws.echo("still here"), "still here");
  ws.close();
  EXPECT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(10)));
}

TEST_F(GatewayTest, AWebSocketClientThatVanishesDoesNotKeepTheAppAlive) {
  startConfig({{.name = "a", .idle = "500ms"}});
  {
    WsClient ws;
    ASSERT_TRUE(ws.open(gateway_port_, "a.localhost"));
    ws.vanish();  // no close frame
  }
  EXPECT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(10)));
}

TEST_F(GatewayTest, HundredsOfConcurrentRequestsToAStoppedAppAllSucceedWithOneStart) {
  startConfig({{.name = "a", .env = ", BACKEND_DELAY_MS: \"300\""}});
  std::vector<std::string> argv{"curl",
                                "-s",
                                "--parallel",
                                "--parallel-immediate",
                                "--parallel-max",
                                "300",
                                "-m",
                                "30",
                                "-H",
                                "Host: a.localhost",
                                "-w",
                                "%{http_code} %{url_effective}\\n",
                                "-o",
                                "/dev/null"};
  for (int i = 0; i < 300; ++i)
    argv.push_back(fmt::format("http://127.0.0.1:{}/r{}", gateway_port_, i));
  RunResult r = runProgram(argv, seconds(60));
  int ok = 0;
  for (size_t p = 0; (p = r.out.find("200 http", p)) != std::string::npos; ++p) ++ok;
  EXPECT_EQ(ok, 300) << r.out.substr(0, 2000) << r.err;
  EXPECT_EQ(startsIn("a"), 1);
}

TEST_F(GatewayTest, AnAppThatNeverListensGets504AfterStartTimeout) {
  startConfig({{.name = "a", .start_timeout = "700ms", .run = {BACKEND_BINARY, "never"}}});
  Http h = get("a.localhost", "/");
  EXPECT_EQ(h.code, 504);
  EXPECT_NE(h.body.find("a"), std::string::npos);
}

TEST_F(GatewayTest, AStartCommandThatFailsGets502WithTheReason) {
  startConfig({{.name = "a", .run = {"/nonexistent/program"}}});
  Http h = get("a.localhost", "/");
  EXPECT_EQ(h.code, 502);
  EXPECT_NE(h.body.find("cannot execute /nonexistent/program"), std::string::npos) << h.body;
}

// It exits at once with code 3: the held request is answered 502 with the exit status, not
// held for the minute of start_timeout (curl gives up after 20 s: a 504 would never come).
TEST_F(GatewayTest, AnAppThatExitsBeforeItIsReadyGets502WithItsExitStatusAtOnce) {
  startConfig({{.name = "a", .start_timeout = "60s", .run = {testapp(), "crash", "0", "3"}}});
  Http h = get("a.localhost", "/");
  EXPECT_EQ(h.code, 502) << h.body;
  EXPECT_NE(h.body.find("app 'a'"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("exited with code 3"), std::string::npos) << h.body;
  // The supervisor agrees: it is not online.
  EXPECT_NE(status("a"), "online");
}

TEST_F(GatewayTest, AnAppKilledWhileOnlineIsServedAgainSoon) {
  startConfig({{.name = "a", .idle = "1m"}});
  ASSERT_EQ(get("a.localhost", "/").code, 200);
  int pid = instance("a").value("pid", 0);
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitFor([&] { return get("a.localhost", "/").code == 200; }, seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
}

TEST_F(GatewayTest, SmugglingAttemptsAndOversizedHeadersAreRefused) {
  startConfig({{.name = "a"}});
  auto raw = [&](const std::string& request) {
    asio::io_context io;
    tcp::socket s(io);
    beast::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(gateway_port_)}, ec);
    asio::write(s, asio::buffer(request), ec);
    std::string reply;
    char buf[4096];
    while (true) {
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      reply.append(buf, n);
      if (reply.find("\r\n\r\n") != std::string::npos) break;
    }
    return reply.substr(0, reply.find("\r\n"));
  };
  EXPECT_EQ(raw("POST /echo HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 4\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(raw("POST /echo HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 4\r\n"
                "Content-Length: 5\r\n\r\nabcde"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(
      raw("GET / HTTP/1.1\r\nHost: a.localhost\r\nX-Big: " + std::string(70000, 'x') + "\r\n\r\n"),
      "HTTP/1.1 431 Request Header Fields Too Large");
  // The gateway still serves.
  EXPECT_EQ(get("a.localhost", "/").code, 200);
}

// Framing a proxy and an app could read two ways (RFC 9110 section 8.6, RFC 9112 section
// 6): refused with a 400 and a closed connection, before the app sees anything; identical
// Content-Length values reach the app as one field.
TEST_F(GatewayTest, FramingIsRefusedOrForwardedInOneFormAsNginxDoes) {
  startConfig({{.name = "a", .idle = "1m"}});
  ASSERT_EQ(get("a.localhost", "/").code, 200);
  auto post = [](const std::string& framing, const std::string& body) {
    return "POST /headers HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n" + framing +
           "\r\n\r\n" + body;
  };
  for (std::string framing : {"Content-Length: 3\r\nContent-Length: 3", "Content-Length: 3, 3"}) {
    std::string reply = rawReply(post(framing, "abc"));
    EXPECT_EQ(statusLine(reply), "HTTP/1.1 200 OK") << framing << "\n" << reply;
    size_t first = reply.find("Content-Length: 3\n");
    EXPECT_NE(first, std::string::npos) << reply;
    EXPECT_EQ(reply.find("Content-Length", first + 1), std::string::npos) << reply;
  }
  for (std::string framing :
       {"Transfer-Encoding: chunked;x=1", "Transfer-Encoding: , chunked",
        "Content-Length: 3\r\nContent-Length: 4", "Content-Length: 3\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked, gzip", "Transfer-Encoding: gzip"}) {
    std::string reply = rawReply(post(framing, "3\r\nabc\r\n0\r\n\r\n"));
    EXPECT_EQ(statusLine(reply), "HTTP/1.1 400 Bad Request") << framing << "\n" << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\r\n\r\ntend: "), std::string::npos) << reply;
  }
  // A coding the gateway does not implement, as nginx: 501.
  EXPECT_EQ(statusLine(rawReply(post("Transfer-Encoding: gzip, chunked", "0\r\n\r\n"))),
            "HTTP/1.1 501 Not Implemented");
  // A client's malformed request is not a failure of the app: nothing in the daemon's log.
  EXPECT_FALSE(logged(502));
  EXPECT_FALSE(logged(501));
  EXPECT_EQ(get("a.localhost", "/").code, 200);
}

std::string chunkedEcho(size_t extension) {
  return "POST /echo HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n"
         "Transfer-Encoding: chunked\r\n\r\n3;x=" +
         std::string(extension, 'e') + "\r\nabc\r\n0\r\n\r\n";
}

TEST_F(GatewayTest, ChunkExtensionsOver32KiBAreRefusedAtOnceAnd20KiBOnesPass) {
  startConfig({{.name = "a", .idle = "1m"}});
  std::string fits = rawReply(chunkedEcho(20 * 1024));
  EXPECT_EQ(statusLine(fits), "HTTP/1.1 200 OK") << fits;
  EXPECT_NE(fits.find("bytes=3 "), std::string::npos) << fits;
  std::string refused = rawReply(chunkedEcho(40 * 1024));
  EXPECT_EQ(statusLine(refused), "HTTP/1.1 400 Bad Request") << refused;
  EXPECT_NE(refused.find("chunk header"), std::string::npos) << refused;
  // Not the app's fault: the log does not say it failed to answer.
  EXPECT_FALSE(logged(504));
  EXPECT_FALSE(logged(502));
}

// nginx answers 400 to both; tend did not answer and closed after the 10 s head timeout.
TEST_F(GatewayTest, BareLfLineEndsAndATlsClientHelloGet400AtOnce) {
  startConfig({{.name = "a", .idle = "1m"}});
  std::string lf = rawReply("GET / HTTP/1.1\nHost: a.localhost\n\n");
  EXPECT_EQ(statusLine(lf), "HTTP/1.1 400 Bad Request") << lf;
  EXPECT_NE(lf.find("bare LF"), std::string::npos) << lf;
  // The start of a TLS 1.2/1.3 ClientHello (record type 0x16, version 3.1, length, type 1).
  std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  hello += std::string(32, '\x42');
  std::string tls = rawReply(hello);
  EXPECT_EQ(statusLine(tls), "HTTP/1.1 400 Bad Request") << tls;
  EXPECT_EQ(status("a"), "stopped");  // nothing was routed
}

// The TCP sockets of process `pid` in state CLOSE-WAIT: the peer closed, the process has not.
int closeWaitSockets(pid_t pid) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(readText(table));
    std::string line;
    std::getline(in, line);  // the column names
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (state == "08") inodes.insert(inode);
    }
  }
  int n = 0;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::error_code link_ec;
    std::string target = std::filesystem::read_symlink(fd.path(), link_ec).string();
    if (target.starts_with("socket:[") && inodes.contains(target.substr(8, target.size() - 9))) {
      ++n;
    }
  }
  return n;
}

// The app answers keep-alive and closes the connection right after (as Node does after its
// 5 s keep-alive timeout): the gateway closes its pooled end at once, instead of keeping it
// in CLOSE-WAIT until it is next picked or the pool's idle timeout.
TEST_F(GatewayTest, APooledConnectionTheAppClosesIsClosedAtOnce) {
  startConfig({{.name = "a", .idle = "1m"}});
  pid_t daemon = daemonPid();
  ASSERT_GT(daemon, 0);
  std::vector<std::string> argv{"curl",       "-s",
                                "-m",         "20",
                                "-H",         "Host: a.localhost",
                                "-o",         "/dev/null",
                                "--parallel", "--parallel-immediate"};
  for (int i = 0; i < 8; ++i) argv.push_back(fmt::format("http://127.0.0.1:{}/bye", gateway_port_));
  RunResult r = runProgram(argv, seconds(30));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(waitFor([&] { return closeWaitSockets(daemon) == 0; }, seconds(10)))
      << closeWaitSockets(daemon) << " socket(s) of the daemon in CLOSE-WAIT";
  EXPECT_EQ(get("a.localhost", "/after").code, 200);
}

TEST_F(GatewayTest, AStalledHalfRequestDoesNotHoldTheGateway) {
  startConfig({{.name = "a"}});
  asio::io_context io;
  tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(gateway_port_)});
  asio::write(s, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: a.loc")));
  EXPECT_EQ(get("a.localhost", "/").code, 200);
}

TEST_F(GatewayTest, SocketActivationHandsTheListeningSocketToTheApp) {
  startConfig({{.name = "sa",
                .on_demand_extra = "      socket_activation: true\n",
                .env = ", BACKEND_DELAY_MS: \"400\""}});
  Http h = get("sa.localhost", "/activated");
  EXPECT_EQ(h.code, 200) << h.body;
  RunResult logs = tend({"logs", "sa", "--lines", "5"});
  EXPECT_NE(logs.out.find("socket-activated fd 3"), std::string::npos) << logs.out;
}

TEST_F(GatewayTest, AServiceTendDoesNotSpawnIsCheckedStartedAndStopped) {
  int port = freePortRun(1);
  std::string pidfile = dir_ + "/svc.pid";
  std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: svc
    start: PORT={1} {2} {3} > /dev/null 2>&1 & echo $! > {4}
    check: test -s {4} && kill -0 $(cat {4})
    stop: kill $(cat {4}) && rm -f {4}
    on_demand:
      hosts: [svc.localhost]
      target: http://127.0.0.1:{1}
      idle_timeout: 700ms
      start_timeout: 5s
)",
                                 gateway_port_, port, BACKEND_BINARY, tag(), pidfile);
  ASSERT_EQ(tend({"start", writeFile("tend.yaml", yaml)}).status, 0);
  EXPECT_EQ(status("svc"), "stopped");
  Http h = get("svc.localhost", "/x");
  EXPECT_EQ(h.code, 200) << h.body;
  EXPECT_EQ(processesWith(tag()).size(), 1u);
  // Idle: its stop command runs.
  EXPECT_TRUE(waitFor([&] { return processesWith(tag()).empty(); }, seconds(10)));
  EXPECT_TRUE(waitFor([&] { return status("svc") == "stopped"; }));
  RunResult logs = tend({"logs", "svc", "--lines", "50"});
  EXPECT_EQ(logs.status, 0);
}

TEST_F(GatewayTest, AFailingStartCommandOfAServiceGets502) {
  std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: broken
    start: echo "no such container" >&2; exit 3
    on_demand:
      hosts: [broken.localhost]
      target: http://127.0.0.1:9
)",
                                 gateway_port_);
  ASSERT_EQ(tend({"start", writeFile("tend.yaml", yaml)}).status, 0);
  Http h = get("broken.localhost", "/");
  EXPECT_EQ(h.code, 502);
  EXPECT_NE(h.body.find("start command failed: exited with code 3"), std::string::npos) << h.body;
  RunResult logs = tend({"logs", "broken", "--lines", "5"});
  EXPECT_NE(logs.out.find("no such container"), std::string::npos) << logs.out;
}

TEST_F(GatewayTest, WrkAgainstAWarmAppHasNoErrors) {
  if (runProgram({"sh", "-c", "command -v wrk"}).status != 0) GTEST_SKIP() << "wrk not installed";
  startConfig({{.name = "a", .idle = "1m"}});
  ASSERT_EQ(get("a.localhost", "/").code, 200);
  RunResult r = runProgram({"wrk", "-t1", "-c8", "-d2s", "-H", "Host: a.localhost",
                            fmt::format("http://127.0.0.1:{}/", gateway_port_)},
                           seconds(30));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Requests/sec"), std::string::npos) << r.out;
}

// ---- several instances behind the gateway --------------------------------------------------

class GatewayClusterTest : public GatewayTest {
 protected:
  // App "a": `instances` backends on a port range with room for `room` instances.
  void startCluster(int instances, const std::string& balance = "", int room = 0) {
    room = std::max(room, instances);
    base_ = freePortRun(room);
    ASSERT_GT(base_, 0);
    std::string yaml =
        fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: a
    run: ["{1}", "{2}"]
    instances: {3}
    port: "{4}-{5}"
    env: {{ TEST_TAG: "{2}" }}
    on_demand:
      hosts: [a.localhost]
      idle_timeout: 1m
      start_timeout: 10s
{6})",
                    gateway_port_, BACKEND_BINARY, tag(), instances, base_, base_ + room - 1,
                    balance.empty() ? "" : "      balance: " + balance + "\n");
    RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }

  // The instance that answered /whoami, or -1.
  int whoami(const std::string& path = "/whoami") {
    Http h = get("a.localhost", path);
    if (h.code != 200 || !h.body.starts_with("instance=")) return -1;
    return std::atoi(h.body.c_str() + 9);
  }

  // Until `n` sequential requests in a row were answered by `n` different instances (every
  // instance is up and listening, none passed over as refusing).
  bool allAnswer(int n) {
    return waitFor(
        [&] {
          std::set<int> seen;
          for (int i = 0; i < n; ++i) seen.insert(whoami());
          return seen.size() == static_cast<size_t>(n) && !seen.contains(-1);
        },
        seconds(15));
  }

  int base_ = 0;
};

TEST_F(GatewayClusterTest, RoundRobinSpreadsSequentialRequestsEvenlyOverThreeInstances) {
  startCluster(3);
  EXPECT_GE(whoami(), 0);  // the cold start: served as soon as one instance is ready
  ASSERT_TRUE(allAnswer(3));
  std::map<int, int> count;
  for (int i = 0; i < 30; ++i) ++count[whoami()];
  EXPECT_EQ(count, (std::map<int, int>{{0, 10}, {1, 10}, {2, 10}}));
  EXPECT_EQ(instancesOf("a").size(), 3u);
}

TEST_F(GatewayClusterTest, LeastConnSendsANewRequestToTheInstanceThatIsNotBusy) {
  startCluster(2, "least-conn");
  ASSERT_TRUE(allAnswer(2));
  auto slow = std::async(std::launch::async, [&] { return whoami("/slow?ms=3000"); });
  ASSERT_TRUE(waitFor(
      [&] {
        RunResult d = tend({"describe", "a", "--json"});
        auto j = json::parse(d.out, nullptr, false);
        if (j.is_discarded() || !j.is_array() || j.empty()) return false;
        return j[0]["gateway"].value("in_flight", 0) == 1;
      },
      seconds(10)));
  std::set<int> quick;
  for (int i = 0; i < 4; ++i) quick.insert(whoami());
  int busy = slow.get();
  ASSERT_GE(busy, 0);
  EXPECT_EQ(quick, (std::set<int>{1 - busy}));
}

TEST_F(GatewayClusterTest, KillingOneInstanceFailsNoRequest) {
  startCluster(3);
  ASSERT_TRUE(allAnswer(3));
  int pid = instance("a", 1).value("pid", 0);
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  int failed = 0;
  std::set<int> seen;
  for (int i = 0; i < 30; ++i) {
    int who = whoami();
    if (who < 0) ++failed;
    seen.insert(who);
  }
  EXPECT_EQ(failed, 0);
  EXPECT_TRUE(seen.contains(0) && seen.contains(2));
  // The supervisor restarts it, and it gets its share again.
  EXPECT_TRUE(allAnswer(3));
}

TEST_F(GatewayClusterTest, ScalingUpSendsTrafficToTheNewInstance) {
  startCluster(2, "", 3);
  ASSERT_TRUE(allAnswer(2));
  RunResult up = tend({"scale", "a", "3"});
  ASSERT_EQ(up.status, 0) << up.out << up.err;
  EXPECT_TRUE(allAnswer(3));
  RunResult down = tend({"scale", "a", "1"});
  ASSERT_EQ(down.status, 0) << down.out << down.err;
  std::set<int> seen;
  for (int i = 0; i < 6; ++i) seen.insert(whoami());
  EXPECT_EQ(seen, (std::set<int>{0}));
}

TEST_F(GatewayClusterTest, WrkAgainstThreeInstancesReachesEachWithoutErrors) {
  if (runProgram({"sh", "-c", "command -v wrk"}).status != 0) GTEST_SKIP() << "wrk not installed";
  startCluster(3);
  ASSERT_TRUE(allAnswer(3));
  RunResult r = runProgram({"wrk", "-t1", "-c8", "-d2s", "-H", "Host: a.localhost",
                            fmt::format("http://127.0.0.1:{}/whoami", gateway_port_)},
                           seconds(30));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
  RunResult d = tend({"describe", "a", "--json"});
  auto j = json::parse(d.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && !j.empty()) << d.out;
  const json& targets = j[0]["gateway"]["targets"];
  ASSERT_EQ(targets.size(), 3u) << j[0]["gateway"].dump();
  uint64_t least = UINT64_MAX, most = 0;
  for (const auto& t : targets) {
    least = std::min(least, t.value("requests", uint64_t{0}));
    most = std::max(most, t.value("requests", uint64_t{0}));
  }
  EXPECT_GT(least, 0u);
  EXPECT_LE(most - least, 10u) << targets.dump();  // round-robin: about an even share each
}

TEST_F(GatewayClusterTest, KillingOneInstanceUnderWrkFailsNoRequest) {
  if (runProgram({"sh", "-c", "command -v wrk"}).status != 0) GTEST_SKIP() << "wrk not installed";
  startCluster(3);
  ASSERT_TRUE(allAnswer(3));
  int pid = instance("a", 1).value("pid", 0);
  ASSERT_GT(pid, 0);
  auto load = std::async(std::launch::async, [&] {
    return runProgram({"wrk", "-t1", "-c8", "-d3s", "-H", "Host: a.localhost",
                       fmt::format("http://127.0.0.1:{}/whoami", gateway_port_)},
                      seconds(30));
  });
  // Once the load is under way (the instance has answered some of it), kill it.
  ASSERT_TRUE(waitFor(
      [&] {
        RunResult d = tend({"describe", "a", "--json"});
        auto j = json::parse(d.out, nullptr, false);
        return j.is_array() && !j.empty() && j[0]["gateway"].value("requests", 0) > 500;
      },
      seconds(10)));
  ::kill(pid, SIGKILL);
  RunResult r = load.get();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out << readText(home_ + "/daemon.log");
  EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tend::testing
