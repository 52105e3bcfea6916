// The HTTP API end to end: the real daemon with an `api` section, real curl, raw sockets for
// slow clients and event streams, a Beast WebSocket client, and promtool when installed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <regex>
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

struct Http {
  int code = 0;
  std::string body;
  std::string headers;
  json j() const { return json::parse(body, nullptr, false); }
};

// A TCP connection to 127.0.0.1:port with deadlines on every read.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  // Reads until `done(received)` or the peer closes or the deadline passes. True when the
  // peer closed the connection.
  bool readUntil(const std::function<bool(const std::string&)>& done, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(received)) {
      auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
      received.append(buf, static_cast<size_t>(n));
    }
    return false;
  }
  std::string received;

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class ApiTest : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    port_ = freePortRun(1);
    ASSERT_GT(port_, 0);
  }

  // Starts a config with the API on port_ and one long-running app, "web".
  void startWithApi(const std::map<std::string, std::string>& env = {}) {
    std::string yaml = fmt::format(R"(api:
  listen: 127.0.0.1:{0}
apps:
  - name: web
    run: ["{1}", "sleep", "web-{2}"]
)",
                                   port_, testapp(), tag());
    RunResult r = tend({"start", writeFile("tend.yaml", yaml)}, env);
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    token_ = readText(home_ + "/api.token");
    while (!token_.empty() && token_.back() == '\n') token_.pop_back();
    ASSERT_EQ(token_.size(), 64u);
  }

  std::string url(const std::string& path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

  // curl with `extra` arguments; the token unless `auth` is false.
  Http curl(const std::string& method, const std::string& path, std::vector<std::string> extra = {},
            bool auth = true) {
    std::vector<std::string> argv = {
        "curl", "-s", "-S", "-X", method, "-D", "-", "-w", "\n%{http_code}", "--max-time", "20"};
    if (auth) {
      argv.push_back("-H");
      argv.push_back("Authorization: Bearer " + token_);
    }
    for (auto& e : extra) argv.push_back(e);
    argv.push_back(url(path));
    RunResult r = runProgram(argv, seconds(30));
    Http h;
    auto nl = r.out.rfind('\n');
    if (nl == std::string::npos) return h;
    h.code = std::atoi(r.out.c_str() + nl + 1);
    std::string all = r.out.substr(0, nl);
    auto split = all.find("\r\n\r\n");
    if (split != std::string::npos) {
      h.headers = all.substr(0, split);
      h.body = all.substr(split + 4);
    } else {
      h.body = all;
    }
    return h;
  }

  int webPid() { return instance("web").value("pid", 0); }

  int port_ = 0;
  std::string token_;
};

TEST_F(ApiTest, TokenFileIsCreatedPrivateWithARandomToken) {
  startWithApi();
  struct stat st {};
  ASSERT_EQ(::stat((home_ + "/api.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(std::regex_match(token_, std::regex("[0-9a-f]{64}")));
}

TEST_F(ApiTest, WithoutOrWithAWrongTokenEverythingIs401AndNothingChanges) {
  startWithApi();
  int pid = webPid();
  ASSERT_GT(pid, 0);
  for (bool with_wrong : {false, true}) {
    std::vector<std::string> extra;
    if (with_wrong) extra = {"-H", "Authorization: Bearer " + std::string(64, 'a')};
    for (auto [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/api/apps"},
                                                          {"POST", "/api/apps/web/stop"},
                                                          {"POST", "/api/apps/web/restart"},
                                                          {"DELETE", "/api/apps/web"},
                                                          {"GET", "/metrics"},
                                                          {"GET", "/api/events"},
                                                          {"GET", "/api/nothing-here"}}) {
      Http h = curl(method, path, extra, /*auth=*/false);
      EXPECT_EQ(h.code, 401) << method << " " << path << ": " << h.body;
      EXPECT_TRUE(h.j().contains("error")) << h.body;
      EXPECT_NE(h.headers.find("WWW-Authenticate: Bearer"), std::string::npos) << h.headers;
    }
  }
  // A cookie that is not a session is no better.
  EXPECT_EQ(curl("POST", "/api/apps/web/stop", {"-H", "Cookie: tend_session=abc"}, false).code,
            401);
  json web = instance("web");
  EXPECT_EQ(web["status"], "online");
  EXPECT_EQ(web["pid"], pid);
  EXPECT_EQ(web["restarts"], 0);
}

TEST_F(ApiTest, ListAndDescribeAgreeWithTheCli) {
  startWithApi();
  Http h = curl("GET", "/api/apps");
  ASSERT_EQ(h.code, 200) << h.body;
  EXPECT_NE(h.headers.find("Content-Type: application/json"), std::string::npos);
  json http_list = h.j();
  json cli_list = list();
  ASSERT_EQ(http_list.size(), cli_list.size());
  for (size_t i = 0; i < cli_list.size(); ++i) {
    for (const char* key : {"name", "id", "instance", "pid", "status", "restarts", "port"})
      EXPECT_EQ(http_list[i][key], cli_list[i][key]) << key;
  }
  Http d = curl("GET", "/api/apps/web");
  ASSERT_EQ(d.code, 200) << d.body;
  RunResult cli = tend({"describe", "web", "--json"});
  ASSERT_EQ(cli.status, 0);
  json cli_describe = json::parse(cli.out);
  EXPECT_EQ(d.j()[0]["spec"], cli_describe[0]["spec"]);
  EXPECT_EQ(d.j()[0]["instances"][0]["pid"], cli_describe[0]["instances"][0]["pid"]);
}

TEST_F(ApiTest, StopStartRestartThroughHttpShowInTendList) {
  startWithApi();
  int pid = webPid();
  Http stop = curl("POST", "/api/apps/web/stop");
  ASSERT_EQ(stop.code, 200) << stop.body;
  EXPECT_EQ(stop.j()[0]["status"], "stopped");
  EXPECT_EQ(instance("web")["status"], "stopped");
  EXPECT_FALSE(processAlive(pid));

  Http start = curl("POST", "/api/apps/web/start",
                    {"-H", "Content-Type: application/json", "-d", R"({"wait": true})"});
  ASSERT_EQ(start.code, 200) << start.body;
  json web = instance("web");
  EXPECT_EQ(web["status"], "online");
  int started = web["pid"];
  EXPECT_GT(started, 0);

  Http restart = curl("POST", "/api/apps/web/restart");
  ASSERT_EQ(restart.code, 200) << restart.body;
  web = instance("web");
  EXPECT_EQ(web["status"], "online");
  EXPECT_NE(web["pid"], started);
  remember(web["pid"]);

  // reload replaces the instance with a new one, with no downtime
  Http reload = curl("POST", "/api/apps/web/reload");
  ASSERT_EQ(reload.code, 200) << reload.body;
  EXPECT_NE(instance("web")["pid"], web["pid"]);

  Http logs = curl("GET", "/api/apps/web/logs?lines=50");
  ASSERT_EQ(logs.code, 200) << logs.body;
  EXPECT_NE(logs.body.find("testapp started pid="), std::string::npos) << logs.body;

  Http save = curl("POST", "/api/save");
  ASSERT_EQ(save.code, 200) << save.body;
  EXPECT_EQ(save.j()["apps"], 1);

  Http del = curl("DELETE", "/api/apps/web");
  ASSERT_EQ(del.code, 200) << del.body;
  EXPECT_TRUE(instancesOf("web").empty());
}

TEST_F(ApiTest, TheLogBacklogIsInterleavedByTimeAsTendLogsShowsIt) {
  startWithApi();
  // Lines alternate between stdout and stderr. The dashboard's log pane asks for this
  // backlog: it got every stdout line, then every stderr line, so the latest scrolled away.
  RunResult r = tend({"start", "--name", "talk", "--", "sh", "-c",
                      "for i in 1 2 3; do echo out$i; sleep 0.05; echo err$i >&2; sleep 0.05; "
                      "done; exec sleep 1000 " +
                          tag()});
  ASSERT_EQ(r.status, 0) << r.err;
  remember(instance("talk").value("pid", 0));
  Http logs;
  ASSERT_TRUE(waitFor([&] {
    logs = curl("GET", "/api/apps/talk/logs?lines=20");
    return logs.body.find("err3") != std::string::npos;
  })) << logs.body;
  std::vector<std::string> order;
  const json body = logs.j();
  for (const auto& l : body["lines"]) {
    std::string line = l.value("line", "");
    order.push_back(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"out1", "err1", "out2", "err2", "out3", "err3"}))
      << logs.body;
}

TEST_F(ApiTest, BadRequestsGetJsonErrorsAndChangeNothing) {
  startWithApi();
  int pid = webPid();
  auto json_body = [](const std::string& body) {
    return std::vector<std::string>{"-H", "Content-Type: application/json", "--data-binary", body};
  };
  struct Case {
    std::string method, path;
    std::vector<std::string> extra;
    int code;
    std::string says;
  };
  std::string huge = "{\"x\": \"" + std::string(200 * 1024, 'a') + "\"}";
  std::string huge_file = writeFile("huge.json", huge);
  std::vector<Case> cases = {
      {"POST", "/api/apps/web/stop", json_body("{not json"), 400, "malformed JSON"},
      {"POST", "/api/apps/web/stop", json_body("[1,2]"), 400, "JSON object"},
      {"POST", "/api/apps/web/stop", json_body("{\"force\": true}"), 400, "unknown field 'force'"},
      {"POST", "/api/apps/web/stop", json_body("{\"wait\": true}"), 400, "unknown field 'wait'"},
      {"POST", "/api/apps/web/stop", {"-H", "Content-Type: text/plain", "-d", "{}"}, 415, "JSON"},
      {"POST", "/api/apps/nope/stop", {}, 404, "no app named 'nope'"},
      {"GET", "/api/apps/nope", {}, 404, "no app named 'nope'"},
      {"GET", "/api/apps?verbose=1", {}, 400, "query parameter"},
      {"GET", "/api/apps/web/logs?lines=abc", {}, 400, "lines"},
      {"GET", "/api/no-such-thing", {}, 404, "no route"},
      {"PUT", "/api/apps/web", {}, 405, "not allowed"},
      {"GET", "/api/apps/web/stop", {}, 405, "not allowed"},
      {"POST", "/api/apps/web/scale", json_body("{\"instances\": -1}"), 400, "instances"},
      {"POST", "/api/apps/web/scale", json_body("{\"replicas\": 2}"), 400, "unknown field"},
      {"POST", "/api/apps/nope/scale", json_body("{\"instances\": 2}"), 404, "no app"},
      {"POST",
       "/api/apps/web/stop",
       {"-H", "Content-Type: application/json", "--data-binary", "@" + huge_file},
       413,
       "larger than"},
  };
  for (const auto& c : cases) {
    Http h = curl(c.method, c.path, c.extra);
    EXPECT_EQ(h.code, c.code) << c.method << " " << c.path << ": " << h.body;
    json j = h.j();
    ASSERT_TRUE(j.is_object() && j.contains("error")) << c.path << ": " << h.body;
    EXPECT_NE(j["error"].get<std::string>().find(c.says), std::string::npos)
        << c.path << ": " << h.body;
  }
  EXPECT_EQ(curl("PUT", "/api/apps/web").headers.find("Allow: GET, DELETE") != std::string::npos,
            true);
  json web = instance("web");
  EXPECT_EQ(web["status"], "online");
  EXPECT_EQ(web["pid"], pid);
  EXPECT_EQ(curl("GET", "/api/apps").code, 200);  // and the API still serves
}

TEST_F(ApiTest, ScaleUsesTheScaleCommandOrSaysItIsNotThere) {
  startWithApi();
  Http h = curl("POST", "/api/apps/web/scale",
                {"-H", "Content-Type: application/json", "-d", "{\"instances\": 2}"});
  if (h.code == 501) {
    EXPECT_NE(h.j().value("error", "").find("not supported"), std::string::npos) << h.body;
    EXPECT_EQ(instancesOf("web").size(), 1u);
  } else {
    EXPECT_EQ(h.code, 200) << h.body;
    EXPECT_EQ(instancesOf("web").size(), 2u);
  }
}

TEST_F(ApiTest, CrossOriginRequestsAreRefusedAndNoCorsHeaderIsSent) {
  startWithApi();
  int pid = webPid();
  Http h = curl("POST", "/api/apps/web/stop", {"-H", "Origin: http://evil.example"});
  EXPECT_EQ(h.code, 403) << h.body;
  EXPECT_NE(h.j().value("error", "").find("cross-origin"), std::string::npos);
  // A DNS-rebinding page: its Origin matches its Host, but the name is not the API's.
  h = curl("POST", "/api/apps/web/restart",
           {"-H", fmt::format("Origin: http://evil.example:{}", port_), "-H",
            fmt::format("Host: evil.example:{}", port_)});
  EXPECT_EQ(h.code, 403) << h.body;
  EXPECT_EQ(h.headers.find("Access-Control-Allow-Origin"), std::string::npos);
  json web = instance("web");
  EXPECT_EQ(web["status"], "online");
  EXPECT_EQ(web["pid"], pid);
  // The dashboard's own origin may.
  h = curl("POST", "/api/apps/web/restart",
           {"-H", fmt::format("Origin: http://127.0.0.1:{}", port_)});
  EXPECT_EQ(h.code, 200) << h.body;
  // A preflight gets nothing that would allow a cross-origin call.
  h = curl("OPTIONS", "/api/apps/web/stop",
           {"-H", "Origin: http://evil.example", "-H", "Access-Control-Request-Method: POST"});
  EXPECT_NE(h.code, 200);
  EXPECT_EQ(h.headers.find("Access-Control-Allow"), std::string::npos) << h.headers;
}

TEST_F(ApiTest, ASlowClientIsClosedAfterTheReadTimeoutAndTheDaemonCarriesOn) {
  startWithApi({{"TEND_API_READ_TIMEOUT_MS", "300"}});
  RawClient slow(port_);
  ASSERT_TRUE(slow.connected());
  // Half a request head, then nothing.
  slow.send("POST /api/apps/web/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea");
  bool closed = slow.readUntil([](const std::string&) { return false; }, seconds(20));
  EXPECT_TRUE(closed);
  EXPECT_NE(slow.received.find("408"), std::string::npos) << slow.received;
  // A body that never completes, too.
  RawClient slow_body(port_);
  slow_body.send(
      fmt::format("POST /api/apps/web/stop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: Bearer {}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100\r\n\r\n{{",
                  token_));
  EXPECT_TRUE(slow_body.readUntil([](const std::string&) { return false; }, seconds(20)));
  EXPECT_NE(slow_body.received.find("408"), std::string::npos) << slow_body.received;
  // A keep-alive connection whose second request stalls, too.
  RawClient second(port_);
  second.send(
      fmt::format("GET /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(second.readUntil(
      [](const std::string& s) { return s.find("\"pid\"") != std::string::npos; }, seconds(10)));
  second.received.clear();
  second.send("GET /api/apps HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  EXPECT_TRUE(second.readUntil([](const std::string&) { return false; }, seconds(20)));
  EXPECT_NE(second.received.find("408"), std::string::npos) << second.received;
  EXPECT_EQ(instance("web")["status"], "online");
  EXPECT_EQ(curl("GET", "/api/apps").code, 200);
}

TEST_F(ApiTest, ServerSentEventsTellOfARestartAndOfLogLines) {
  startWithApi();
  int pid = webPid();
  RawClient events(port_);
  ASSERT_TRUE(events.connected());
  events.send(
      fmt::format("GET /api/events?app=web HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(events.readUntil(
      [](const std::string& s) { return s.find("retry:") != std::string::npos; }, seconds(10)));
  EXPECT_NE(events.received.find("Content-Type: text/event-stream"), std::string::npos);
  ASSERT_EQ(curl("POST", "/api/apps/web/restart").code, 200);
  int new_pid = webPid();
  remember(new_pid);
  ASSERT_NE(new_pid, pid);
  std::string online = fmt::format("\"pid\":{},\"reason\"", new_pid);
  events.readUntil(
      [&](const std::string& s) {
        return s.find(online) != std::string::npos &&
               s.find(fmt::format("testapp started pid={}", new_pid)) != std::string::npos;
      },
      seconds(10));
  EXPECT_NE(events.received.find("event: state"), std::string::npos) << events.received;
  EXPECT_NE(events.received.find("\"status\":\"stopping\""), std::string::npos);
  EXPECT_NE(events.received.find(online), std::string::npos) << events.received;
  EXPECT_NE(events.received.find("event: log"), std::string::npos) << events.received;
  EXPECT_NE(events.received.find(fmt::format("testapp started pid={}", new_pid)),
            std::string::npos);
}

TEST_F(ApiTest, ACrashAndGivingUpAreNamedEventsOfTheStream) {
  startWithApi();
  RawClient events(port_);
  ASSERT_TRUE(events.connected());
  // `types` matches an event's name as well as its type.
  events.send(
      fmt::format("GET /api/events?app=crasher&types=crash,errored HTTP/1.1\r\n"
                  "Host: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(events.readUntil(
      [](const std::string& s) { return s.find("retry:") != std::string::npos; }, seconds(10)));
  RunResult r = tend({"start", writeFile("crasher.yaml", fmt::format(R"(apps:
  - name: crasher
    run: ["{}", "crash", "100", "7", "{}"]
    max_restarts: 0
)",
                                                                     testapp(), tag()))});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  events.readUntil(
      [](const std::string& s) { return s.find("\"event\":\"errored\"") != std::string::npos; },
      seconds(20));
  EXPECT_NE(events.received.find("event: crash\n"), std::string::npos) << events.received;
  EXPECT_NE(events.received.find("\"reason\":\"exited with code 7 after"), std::string::npos)
      << events.received;
  EXPECT_NE(events.received.find("\"event\":\"errored\""), std::string::npos) << events.received;
  // Other events (online, the plain state changes) are filtered out.
  EXPECT_EQ(events.received.find("\"event\":\"online\""), std::string::npos) << events.received;
}

TEST_F(ApiTest, ProbeResultsComeAsEventsWithoutAFloodOfSuccesses) {
  int app_port = freePortRun(1);
  ASSERT_GT(app_port, 0);
  std::string fail = dir_ + "/fail";
  std::string yaml = fmt::format(R"(api:
  listen: 127.0.0.1:{0}
apps:
  - name: web
    run: ["{1}", "http", "-", "{2}", "0", "{3}/stats", "{4}"]
    port: {5}
    health:
      http: http://127.0.0.1:{5}/
      interval: 20ms
      failures: 2
)",
                                 port_, testapp(), fail, dir_, tag(), app_port);
  RunResult r = tend({"start", writeFile("tend.yaml", yaml), "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  token_ = readText(home_ + "/api.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  RawClient events(port_);
  ASSERT_TRUE(events.connected());
  events.send(
      fmt::format("GET /api/events?app=web&types=probe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(events.readUntil(
      [](const std::string& s) { return s.find("retry:") != std::string::npos; }, seconds(10)));
  // Passing health checks (every 20 ms) are not sent: let a few pass while connected.
  auto requests = [&] {
    std::string stats = readText(dir_ + "/stats");  // "MAX TOTAL"
    size_t space = stats.find(' ');
    return space == std::string::npos ? 0 : std::atoi(stats.c_str() + space + 1);
  };
  const int before = requests();
  ASSERT_TRUE(waitFor([&] { return requests() >= before + 3; })) << readText(dir_ + "/stats");
  writeText(fail, "");
  // Each failure is sent; the restart's new process sends its ready success.
  events.readUntil(
      [](const std::string& s) {
        return s.find("\"ok\":true,\"probe\":\"ready\"") != std::string::npos;
      },
      seconds(20));
  EXPECT_NE(events.received.find("event: probe"), std::string::npos) << events.received;
  EXPECT_NE(events.received.find("\"ok\":false,\"probe\":\"health\""), std::string::npos)
      << events.received;
  EXPECT_NE(events.received.find("status 500 (expected 200) (2 of 2)"), std::string::npos)
      << events.received;
  EXPECT_NE(events.received.find("\"ok\":true,\"probe\":\"ready\""), std::string::npos)
      << events.received;
  EXPECT_EQ(events.received.find("\"ok\":true,\"probe\":\"health\""), std::string::npos)
      << events.received;
}

TEST_F(ApiTest, LogsFollowStreamsNewLines) {
  startWithApi();
  RawClient follow(port_);
  follow.send(
      fmt::format("GET /api/apps/web/logs?lines=5&follow=1 HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(follow.readUntil(
      [](const std::string& s) { return s.find("testapp started") != std::string::npos; },
      seconds(10)))
      << follow.received;
  ASSERT_EQ(curl("POST", "/api/apps/web/restart").code, 200);
  int pid = webPid();
  remember(pid);
  follow.readUntil(
      [&](const std::string& s) {
        return s.find(fmt::format("started pid={}", pid)) != std::string::npos;
      },
      seconds(10));
  EXPECT_NE(follow.received.find(fmt::format("started pid={}", pid)), std::string::npos)
      << follow.received;
}

TEST_F(ApiTest, WebSocketEventsTellOfARestart) {
  startWithApi();
  asio::io_context io;
  beast::websocket::stream<tcp::socket> ws(io);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_));
  ws.next_layer().connect(ep);
  ws.set_option(
      beast::websocket::stream_base::decorator([this](beast::websocket::request_type& req) {
        req.set(beast::http::field::authorization, "Bearer " + token_);
      }));
  ws.handshake(fmt::format("127.0.0.1:{}", port_), "/api/events/ws?app=web&types=state");
  std::thread restart([this] { curl("POST", "/api/apps/web/restart"); });
  bool saw_online = false;
  for (int i = 0; i < 10 && !saw_online; ++i) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    json event = json::parse(beast::buffers_to_string(buffer.data()));
    EXPECT_EQ(event["type"], "state");
    EXPECT_EQ(event["app"], "web");
    saw_online = event["status"] == "online";
  }
  restart.join();
  EXPECT_TRUE(saw_online);
  remember(webPid());
}

TEST_F(ApiTest, WebSocketFromAnotherOriginIsRefused) {
  startWithApi();
  Http h = curl(
      "GET", "/api/events/ws",
      {"-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
       "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Origin: http://evil.example"});
  EXPECT_EQ(h.code, 403) << h.body;
}

TEST_F(ApiTest, DashboardLoginLinkGivesACookieOnce) {
  startWithApi();
  RunResult r = tend({"dashboard", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string link = json::parse(r.out)["url"];
  ASSERT_EQ(link.find(url("/login?code=")), 0u) << link;
  std::string path = link.substr(url("").size());
  Http login = curl("GET", path, {}, /*auth=*/false);
  EXPECT_EQ(login.code, 303) << login.body;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(login.headers, m, std::regex("Set-Cookie: tend_session=([0-9a-f]+);")))
      << login.headers;
  EXPECT_NE(login.headers.find("HttpOnly"), std::string::npos);
  EXPECT_NE(login.headers.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(login.headers.find("Location: /"), std::string::npos);
  std::string cookie = "tend_session=" + m[1].str();
  EXPECT_EQ(curl("GET", "/api/apps", {"-H", "Cookie: " + cookie}, false).code, 200);
  // The link works once.
  EXPECT_EQ(curl("GET", path, {}, false).code, 401);
  // The dashboard's page itself needs no login, and loads nothing from elsewhere.
  Http page = curl("GET", "/", {}, false);
  EXPECT_EQ(page.code, 200);
  EXPECT_NE(page.body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_EQ(page.body.find("http"), std::string::npos) << "no external resource";
  EXPECT_NE(page.headers.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
  EXPECT_EQ(curl("GET", "/app.js", {}, false).code, 200);
  EXPECT_EQ(curl("GET", "/app.css", {}, false).code, 200);
}

TEST_F(ApiTest, MetricsAreValidPrometheusText) {
  startWithApi();
  Http h = curl("GET", "/metrics");
  ASSERT_EQ(h.code, 200) << h.body;
  EXPECT_NE(h.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(h.body.find("tend_instance_state{app=\"web\",instance=\"0\",state=\"online\"} 1"),
            std::string::npos)
      << h.body;
  EXPECT_NE(h.body.find("tend_daemon_open_fds "), std::string::npos);
  // Every line is a comment or "name{labels} value".
  std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfNa]+$)");
  std::istringstream lines(h.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
  if (runProgram({"sh", "-c", "command -v promtool"}).status == 0) {
    std::string file = writeFile("metrics.txt", h.body);
    RunResult check = runProgram({"sh", "-c", "promtool check metrics < " + file});
    EXPECT_EQ(check.status, 0) << check.out << check.err;
  }
}

TEST_F(ApiTest, GatewayActivationsAndIdleStopsShowInEventsAndMetrics) {
  int gateway_port = freePortRun(1);
  int app_port = freePortRun(1);
  std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
api:
  listen: 127.0.0.1:{1}
apps:
  - name: lazy
    run: ["{2}", "{3}"]
    port: {4}
    on_demand:
      hosts: [lazy.localhost]
      idle_timeout: 1s
)",
                                 gateway_port, port_, BACKEND_BINARY, tag(), app_port);
  RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  token_ = readText(home_ + "/api.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();

  RawClient events(port_);
  events.send(
      fmt::format("GET /api/events?app=lazy&types=activation,idle_stop HTTP/1.1\r\n"
                  "Host: x\r\nAuthorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(events.readUntil(
      [](const std::string& s) { return s.find("retry:") != std::string::npos; }, seconds(10)));
  RunResult hit = runProgram({"curl", "-s", "-m", "20", "-H", "Host: lazy.localhost",
                              fmt::format("http://127.0.0.1:{}/hello", gateway_port)});
  ASSERT_NE(hit.out.find("app=lazy"), std::string::npos) << hit.out << hit.err;
  remember(instance("lazy").value("pid", 0));
  events.readUntil(
      [](const std::string& s) { return s.find("event: idle_stop") != std::string::npos; },
      seconds(20));
  EXPECT_NE(events.received.find("event: activation"), std::string::npos) << events.received;
  EXPECT_NE(events.received.find("event: idle_stop"), std::string::npos) << events.received;
  // Named events (docs/API.md, "Events"), as webhooks get them.
  EXPECT_NE(events.received.find("\"event\":\"activation\""), std::string::npos) << events.received;
  EXPECT_NE(events.received.find("\"event\":\"idle_stop\""), std::string::npos) << events.received;

  Http h = curl("GET", "/metrics");
  ASSERT_EQ(h.code, 200);
  for (const char* expected : {
           "tend_gateway_requests_total{app=\"lazy\",code=\"2xx\"} 1\n",
           "tend_gateway_activations_total{app=\"lazy\"} 1\n",
           "tend_gateway_cold_start_seconds_count{app=\"lazy\"} 1\n",
           "tend_gateway_cold_start_seconds_bucket{app=\"lazy\",le=\"+Inf\"} 1\n",
           "tend_gateway_idle_stops_total{app=\"lazy\"} 1\n",
           "tend_gateway_open_connections{app=\"lazy\"} 0\n",
       })
    EXPECT_NE(h.body.find(expected), std::string::npos) << expected << h.body;
  if (runProgram({"sh", "-c", "command -v promtool"}).status == 0) {
    std::string file = writeFile("metrics.txt", h.body);
    RunResult check = runProgram({"sh", "-c", "promtool check metrics < " + file});
    EXPECT_EQ(check.status, 0) << check.out << check.err;
  }
}

TEST_F(ApiTest, NonLoopbackListenWithoutTokenFileIsAConfigError) {
  RunResult r = tend({"start", writeFile("tend.yaml", fmt::format(R"(api:
  listen: 0.0.0.0:{}
apps:
  - name: web
    run: ["{}", "sleep", "{}"]
)",
                                                                  port_, testapp(), tag()))});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("token_file"), std::string::npos) << r.err;
}

TEST_F(ApiTest, AnyLoopbackAddressNeedsNoTokenFileInTheConfigNorInTheDaemon) {
  // The validator and the daemon ask the same function: 127.0.0.2 is this machine.
  RunResult r = tend({"start", writeFile("tend.yaml", fmt::format(R"(api:
  listen: 127.0.0.2:{}
apps:
  - name: web
    run: ["{}", "sleep", "{}"]
)",
                                                                  port_, testapp(), tag()))});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  token_ = readText(home_ + "/api.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  RunResult ping = runProgram({"curl", "-s", "-m", "20", "-w", "\n%{http_code}", "-H",
                               "Authorization: Bearer " + token_,
                               fmt::format("http://127.0.0.2:{}/api/ping", port_)});
  EXPECT_TRUE(ping.out.ends_with("\n200")) << ping.out << ping.err;
}

TEST_F(ApiTest, ListeningOnEveryInterfaceIsSaidOnceWhenItOpens) {
  int gateway_port = freePortRun(1);
  std::string token_file = writeFile("my.token", std::string(64, 'b') + "\n");
  std::string yaml =
      writeFile("tend.yaml", fmt::format(R"(gateway:
  listen: 0.0.0.0:{0}
api:
  listen: 0.0.0.0:{1}
  token_file: {2}
apps:
  - name: web
    run: ["{3}", "sleep", "{4}"]
)",
                                         gateway_port, port_, token_file, testapp(), tag()));
  auto count = [](const std::string& text, const std::string& part) {
    size_t n = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
  };
  const std::string api_warning = fmt::format(
      "the API listens on 0.0.0.0:{}, every network "
      "interface: other machines can connect to it",
      port_);
  const std::string gateway_warning =
      fmt::format("the gateway listens on 0.0.0.0:{}, every network interface", gateway_port);
  // The person applying the config sees it.
  RunResult r = tend({"start", yaml});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(count(r.err, "warning: " + api_warning), 1u) << r.err;
  EXPECT_EQ(count(r.err, "warning: " + gateway_warning), 1u) << r.err;
  // The daemon's log says it once, and not again when the same config is applied again.
  ASSERT_EQ(tend({"start", yaml}).status, 0);
  std::string log = readText(home_ + "/daemon.log");
  EXPECT_EQ(count(log, "warn " + api_warning), 1u) << log;
  EXPECT_EQ(count(log, "warn " + gateway_warning), 1u) << log;

  // A daemon in the foreground (as under systemd) says it on its stderr when it starts.
  ASSERT_EQ(tend({"kill"}).status, 0);
  auto foreground = std::async(std::launch::async, [&] { return tend({"daemon"}); });
  EXPECT_TRUE(waitFor([&] { return count(readText(home_ + "/daemon.log"), api_warning) == 2; }));
  EXPECT_TRUE(
      waitFor([&] { return count(readText(home_ + "/daemon.log"), gateway_warning) == 2; }));
  ASSERT_EQ(tend({"kill"}).status, 0);
  RunResult daemon = foreground.get();
  EXPECT_EQ(count(daemon.err, "warn " + api_warning), 1u) << daemon.err;
  EXPECT_EQ(count(daemon.err, "warn " + gateway_warning), 1u) << daemon.err;
}

TEST_F(ApiTest, EnvValuesNeverLeaveTheDaemonOverHttpAndShowEnvGivesThemLocally) {
  // Three kinds of secret: env, env_file and the caller's inherited environment.
  const std::string env_secret = "hunter2-env-" + tag();
  const std::string file_secret = "hunter2-file-" + tag();
  const std::string shell_secret = "hunter2-shell-" + tag();
  writeFile("app.env", "FILE_SECRET=" + file_secret + "\n");
  std::string yaml = fmt::format(R"(api:
  listen: 127.0.0.1:{0}
apps:
  - name: web
    run: ["{1}", "sleep", "web-{2}"]
    env_file: app.env
    env:
      SECRET_PASSWORD: {3}
)",
                                 port_, testapp(), tag(), env_secret);
  RunResult started =
      tend({"start", writeFile("tend.yaml", yaml)}, {{"SHELL_SECRET", shell_secret}});
  ASSERT_EQ(started.status, 0) << started.out << started.err;
  token_ = readText(home_ + "/api.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  auto leaks = [&](const std::string& text) {
    for (const auto& secret : {env_secret, file_secret, shell_secret})
      if (text.find(secret) != std::string::npos) return secret;
    return std::string();
  };

  // Every event stream, while the app goes through every state.
  RawClient events(port_);
  events.send(
      fmt::format("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: Bearer {}\r\n\r\n",
                  token_));
  ASSERT_FALSE(events.readUntil(
      [](const std::string& s) { return s.find("retry:") != std::string::npos; }, seconds(10)));
  asio::io_context io;
  beast::websocket::stream<tcp::socket> ws(io);
  ws.next_layer().connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)));
  ws.set_option(
      beast::websocket::stream_base::decorator([this](beast::websocket::request_type& req) {
        req.set(beast::http::field::authorization, "Bearer " + token_);
      }));
  ws.handshake(fmt::format("127.0.0.1:{}", port_), "/api/events/ws");

  // Every route.
  for (auto [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api/ping"},
                                                        {"GET", "/api/apps"},
                                                        {"GET", "/api/apps/web"},
                                                        {"GET", "/api/apps/1"},
                                                        {"GET", "/api/apps/all"},
                                                        {"POST", "/api/apps/web/stop"},
                                                        {"POST", "/api/apps/web/start"},
                                                        {"POST", "/api/apps/web/restart"},
                                                        {"POST", "/api/apps/web/reload"},
                                                        {"GET", "/api/apps/web/logs?lines=1000"},
                                                        {"POST", "/api/save"},
                                                        {"GET", "/metrics"},
                                                        {"GET", "/"},
                                                        {"GET", "/app.js"}}) {
    Http h = curl(method, path);
    EXPECT_EQ(h.code, 200) << method << " " << path << ": " << h.body;
    EXPECT_EQ(leaks(h.headers + h.body), "") << method << " " << path << ": " << h.body;
  }
  remember(webPid());
  // Describe says which keys there are.
  json described = curl("GET", "/api/apps/web").j();
  EXPECT_EQ(described[0]["env_keys"], json::array({"FILE_SECRET", "SECRET_PASSWORD"}));
  EXPECT_FALSE(described[0]["spec"].contains("env"));
  EXPECT_FALSE(described[0]["spec"].contains("inherited_env"));
  // And there is no way to ask for the values over HTTP.
  EXPECT_EQ(curl("GET", "/api/apps/web?show_env=1").code, 400);

  events.readUntil(
      [](const std::string& s) { return s.find("\"status\":\"online\"") != std::string::npos; },
      seconds(10));
  EXPECT_NE(events.received.find("event: state"), std::string::npos) << events.received;
  EXPECT_EQ(leaks(events.received), "") << events.received;
  std::string ws_text;
  while (ws_text.find("\"status\":\"online\"") == std::string::npos) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    ws_text += beast::buffers_to_string(buffer.data()) + "\n";
  }
  EXPECT_EQ(leaks(ws_text), "") << ws_text;

  // The CLI's describe shows keys too; --show-env, over the local socket, the values.
  for (const auto& args : {std::vector<std::string>{"describe", "web"},
                           std::vector<std::string>{"describe", "web", "--json"},
                           std::vector<std::string>{"list", "--json"}}) {
    RunResult r = tend(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(leaks(r.out + r.err), "") << r.out;
  }
  RunResult table = tend({"describe", "web", "--show-env"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("SECRET_PASSWORD=" + env_secret), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("FILE_SECRET=" + file_secret), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("SHELL_SECRET=" + shell_secret), std::string::npos) << table.out;
  RunResult as_json = tend({"describe", "web", "--show-env", "--json"});
  ASSERT_EQ(as_json.status, 0) << as_json.err;
  json spec = json::parse(as_json.out)[0]["spec"];
  EXPECT_EQ(spec["env"]["SECRET_PASSWORD"], env_secret);
  EXPECT_EQ(spec["env"]["FILE_SECRET"], file_secret);
  EXPECT_EQ(spec["inherited_env"]["SHELL_SECRET"], shell_secret);
}

TEST_F(ApiTest, IdleConnectionsWithoutATokenCannotKeepTokenHoldersOut) {
  startWithApi();
  // More idle connections than the API takes in all, none sending a byte.
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  // Every token holder is served, each on a connection of its own, all at once.
  std::vector<std::future<Http>> pings;
  for (int i = 0; i < 25; ++i)
    pings.push_back(std::async(std::launch::async, [this] { return curl("GET", "/api/ping"); }));
  int served = 0;
  for (auto& p : pings) {
    Http h = p.get();
    EXPECT_EQ(h.code, 200) << h.body;
    served += h.code == 200;
  }
  EXPECT_EQ(served, 25);
}

TEST_F(ApiTest, AConnectionWithoutATokenIsClosedSoonerThanOneWithIt) {
  startWithApi();
  const std::string ping = fmt::format(
      "GET /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n", token_);
  auto answered = [](const std::string& s) { return s.find("\"pid\"") != std::string::npos; };
  // A token holder's keep-alive connection, first.
  RawClient with_token(port_);
  with_token.send(ping);
  ASSERT_FALSE(with_token.readUntil(answered, seconds(20))) << with_token.received;
  ASSERT_TRUE(answered(with_token.received)) << with_token.received;
  // Then one without: answered 401, then closed after the short unauthenticated timeout.
  RawClient without(port_);
  without.send("GET /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_TRUE(without.readUntil([](const std::string&) { return false; }, seconds(90)));
  EXPECT_NE(without.received.find("HTTP/1.1 401"), std::string::npos) << without.received;
  // The token holder's connection, older, is still open and served.
  with_token.received.clear();
  with_token.send(ping);
  EXPECT_FALSE(with_token.readUntil(answered, seconds(20))) << with_token.received;
  EXPECT_TRUE(answered(with_token.received)) << with_token.received;
}

TEST_F(ApiTest, LogLinesThatAreNotUtf8ReachHttpClientsWithReplacementCharacters) {
  // The app's bytes stay as written in its log file; JSON gets U+FFFD for each bad byte.
  std::string yaml = fmt::format(R"(api:
  listen: 127.0.0.1:{0}
apps:
  - name: web
    run: 'printf "bad \377 byte {1}\n"; exec {2} sleep web-{1}'
)",
                                 port_, tag(), testapp());
  RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  token_ = readText(home_ + "/api.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  ASSERT_TRUE(waitFor([&] {
    return readText(home_ + "/logs/web-0-out.log").find("bad \xff byte") != std::string::npos;
  }));
  Http logs = curl("GET", "/api/apps/web/logs?lines=10");
  ASSERT_EQ(logs.code, 200) << logs.body;
  EXPECT_NE(logs.body.find("bad \xef\xbf\xbd byte " + tag()), std::string::npos) << logs.body;
  RawClient follow(port_);
  follow.send(
      fmt::format("GET /api/apps/web/logs?follow=1&lines=10 HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer {}\r\n\r\n",
                  token_));
  follow.readUntil(
      [&](const std::string& s) { return s.find("byte " + tag()) != std::string::npos; },
      seconds(10));
  EXPECT_NE(follow.received.find("bad \xef\xbf\xbd byte " + tag()), std::string::npos)
      << follow.received;
  EXPECT_EQ(curl("GET", "/api/ping").code, 200);  // the daemon carries on
}

TEST_F(ApiTest, PostingAConfigEntryCreatesAndStartsTheApp) {
  startWithApi();
  int app_port = freePortRun(1);
  ASSERT_GT(app_port, 0);
  auto post = [&](const std::string& body, bool auth = true) {
    return curl("POST", "/api/apps", {"-H", "Content-Type: application/json", "--data", body},
                auth);
  };
  std::string entry = fmt::format(
      R"({{"name": "made", "group": "created", "run": ["{}", "listen", "{}"], "port": {},
          "env": {{"GREETING": "hi"}}}})",
      testapp(), tag(), app_port);

  // Unauthenticated: refused, nothing made.
  EXPECT_EQ(post(entry, /*auth=*/false).code, 401);
  EXPECT_TRUE(instancesOf("made").empty());

  Http made = post(entry);
  ASSERT_EQ(made.code, 201) << made.body;
  EXPECT_TRUE(made.j().is_array()) << made.body;
  ASSERT_TRUE(waitFor([&] { return instance("made")["status"] == "online"; }))
      << instance("made").dump();
  json inst = instance("made");
  EXPECT_EQ(inst["port"], app_port);
  EXPECT_EQ(inst["group"], "created");
  // testapp's `listen` answers "ok" to any connection (no HTTP head: curl's --http0.9).
  RunResult answer = runProgram({"curl", "-s", "--http0.9", "--max-time", "10",
                                 fmt::format("http://127.0.0.1:{}/", app_port)});
  EXPECT_EQ(answer.out, "ok\n");

  // The group filter of the list.
  Http group = curl("GET", "/api/apps?group=created");
  ASSERT_EQ(group.code, 200) << group.body;
  ASSERT_EQ(group.j().size(), 1u) << group.body;
  EXPECT_EQ(group.j()[0]["name"], "made");

  // The same name again: a conflict, and the running app is left alone.
  Http again = post(entry);
  EXPECT_EQ(again.code, 409) << again.body;
  EXPECT_NE(again.j().value("error", "").find("'made' already exists"), std::string::npos)
      << again.body;
  EXPECT_EQ(instance("made")["pid"], inst["pid"]);

  // A bad field: 400 with the validator's message, as a config file would get.
  Http bad = post(R"({"name": "other", "run": "true", "restrat_delay": "1s"})");
  EXPECT_EQ(bad.code, 400) << bad.body;
  EXPECT_NE(bad.j()
                .value("error", "")
                .find("unknown key 'restrat_delay' (did you mean "
                      "'restart_delay'?)"),
            std::string::npos)
      << bad.body;
  Http bad_port = post(R"({"name": "other", "run": "true", "port": "nope"})");
  EXPECT_EQ(bad_port.code, 400) << bad_port.body;
  EXPECT_NE(bad_port.j().value("error", "").find("port"), std::string::npos) << bad_port.body;
  Http nameless = post(R"({"run": "true"})");
  EXPECT_EQ(nameless.code, 400) << nameless.body;
  EXPECT_NE(nameless.j().value("error", "").find("needs a 'name'"), std::string::npos)
      << nameless.body;
  EXPECT_TRUE(instancesOf("other").empty());

  // PM2's spelling of an entry is read as an ecosystem file's would be.
  Http pm2 = post(fmt::format(R"({{"name": "pm2-style", "script": "{}", "args": ["sleep", "{}"]}})",
                              testapp(), tag()));
  EXPECT_EQ(pm2.code, 201) << pm2.body;
  EXPECT_EQ(instance("pm2-style")["status"], "online");
}

}  // namespace
}  // namespace tend::testing
