// Integration tests of the gateway's access log (gateway.access_log), proxy-only routes
// (on_demand.target alone) and the idle stop of the dependencies an on-demand app started,
// with the real daemon, real backends and curl.

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

using Reply = HttpReply;

class GatewayRoutesTest : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    gateway_port_ = freePortRun(1);
    ASSERT_GT(gateway_port_, 0);
  }

  Reply get(const std::string& host, const std::string& path,
            const std::vector<std::string>& more = {}) {
    return curlGet(gateway_port_, host, path, more);
  }

  void start(const std::string& yaml) {
    RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }

  std::string accessLog() const { return home_ + "/logs/access.log"; }

  std::vector<std::string> lines(const std::string& path) {
    std::vector<std::string> out;
    std::istringstream in(readText(path));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  }

  std::string status(const std::string& app) { return instance(app).value("status", ""); }

  int gateway_port_ = 0;
};

// ---- access log ----------------------------------------------------------------------------

TEST_F(GatewayRoutesTest, JsonAccessLogHasALineWithTheFieldsOfEveryRequest) {
  int port = freePortRun(1);
  start(fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
  access_log: {{ format: json }}
apps:
  - name: a
    run: ["{1}", "{2}"]
    port: {3}
    on_demand: {{ hosts: [a.localhost], idle_timeout: 5m }}
)",
                    gateway_port_, BACKEND_BINARY, tag(), port));
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  ASSERT_EQ(get("a.localhost", "/hello?x=1", {"-A", "tester/1.0", "-e", "http://ref/"}).code, 200);
  ASSERT_EQ(get("nobody.localhost", "/missing").code, 404);
  ASSERT_TRUE(waitFor([&] { return lines(accessLog()).size() == 3; }, seconds(10)))
      << readText(accessLog());
  auto all = lines(accessLog());
  std::vector<json> rows;
  for (const auto& l : all) {
    auto j = json::parse(l, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << l;
    rows.push_back(j);
  }
  EXPECT_EQ(rows[0]["path"], "/whoami");
  EXPECT_EQ(rows[0]["status"], 200);
  EXPECT_EQ(rows[0]["app"], "a");
  EXPECT_EQ(rows[0]["instance"], 0);
  const json& r = rows[1];
  EXPECT_EQ(r["client"], "127.0.0.1");
  EXPECT_EQ(r["host"], "a.localhost");
  EXPECT_EQ(r["method"], "GET");
  EXPECT_EQ(r["path"], "/hello?x=1");
  EXPECT_EQ(r["protocol"], "HTTP/1.1");
  EXPECT_EQ(r["status"], 200);
  // The backend's body for it: "app=a method=GET target=/hello?x=1 host=a.localhost".
  Reply again = get("a.localhost", "/hello?x=1");
  EXPECT_EQ(r["bytes"], again.body.size());
  EXPECT_TRUE(r["duration_ms"].is_number());
  EXPECT_GE(r["duration_ms"].get<double>(), 0.0);
  EXPECT_EQ(r["app"], "a");
  EXPECT_EQ(r["instance"], 0);
  EXPECT_EQ(r["referer"], "http://ref/");
  EXPECT_EQ(r["user_agent"], "tester/1.0");
  EXPECT_TRUE(r["time"].get<std::string>().ends_with("Z"));
  // The gateway's own 404: app "-".
  EXPECT_EQ(rows[2]["status"], 404);
  EXPECT_EQ(rows[2]["app"], "-");
  EXPECT_EQ(rows[2]["host"], "nobody.localhost");
  EXPECT_TRUE(rows[2]["instance"].is_null());
  // 0600, as every file in TEND_HOME.
  auto perms = std::filesystem::status(accessLog()).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(GatewayRoutesTest, CombinedAccessLogIsNginxsFormatAndRotates) {
  int port = freePortRun(1);
  start(fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
  trusted_proxies: [127.0.0.1]
  access_log: {{ format: combined, max_size: 2K, max_files: 2 }}
apps:
  - name: a
    run: ["{1}", "{2}"]
    port: {3}
    on_demand: {{ hosts: [a.localhost], idle_timeout: 5m }}
)",
                    gateway_port_, BACKEND_BINARY, tag(), port));
  ASSERT_EQ(get("a.localhost", "/whoami",
                {"-A", "agent \"quoted\"", "-H", "X-Forwarded-For: 203.0.113.9"})
                .code,
            200);
  ASSERT_TRUE(waitFor([&] { return lines(accessLog()).size() == 1; }, seconds(10)));
  std::string line = lines(accessLog())[0];
  std::string body = get("a.localhost", "/whoami").body;
  // 203.0.113.9 - - [05/Dec/2026:04:11:11 +0000] "GET /whoami HTTP/1.1" 200 N "-" "agent..."
  EXPECT_TRUE(line.starts_with("203.0.113.9 - - [")) << line;
  EXPECT_NE(line.find(" +0000] \"GET /whoami HTTP/1.1\" 200 " + std::to_string(body.size()) +
                      " \"-\" \"agent \\x22quoted\\x22\" a 0 "),
            std::string::npos)
      << line;
  // Rotation: 2K per file, lines of about 100 bytes. The lines reach the file in batches,
  // so access.log.1 may be there a batch before access.log.2.
  for (int i = 0; i < 60; ++i) ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(accessLog() + ".2"); }, seconds(10)));
  EXPECT_TRUE(std::filesystem::exists(accessLog() + ".1"));
  EXPECT_FALSE(std::filesystem::exists(accessLog() + ".3"));
  EXPECT_LE(std::filesystem::file_size(accessLog() + ".1"), 2048u);
}

TEST_F(GatewayRoutesTest, AWebSocketIsLoggedOnceWhenItIsSetUp) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  int port = freePortRun(1);
  start(fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
  access_log: {{ format: json }}
apps:
  - name: a
    run: ["{1}", "{2}"]
    port: {3}
    on_demand: {{ hosts: [a.localhost], idle_timeout: 5m }}
)",
                    gateway_port_, BACKEND_BINARY, tag(), port));
  asio::io_context io;
  beast::websocket::stream<asio::ip::tcp::socket> ws(io);
  beast::error_code ec;
  ws.next_layer().connect(
      {asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(gateway_port_)}, ec);
  ASSERT_FALSE(ec) << ec.message();
  ws.handshake("a.localhost", "/ws", ec);
  ASSERT_FALSE(ec) << ec.message();
  // Logged at the upgrade, while the tunnel is still open.
  ASSERT_TRUE(waitFor([&] { return lines(accessLog()).size() == 1; }, seconds(10)));
  auto j = json::parse(lines(accessLog())[0], nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["status"], 101);
  EXPECT_EQ(j["path"], "/ws");
  EXPECT_EQ(j["bytes"], 0);
  EXPECT_EQ(j["app"], "a");
  ws.write(asio::buffer(std::string("hello")), ec);
  beast::flat_buffer buffer;
  ws.read(buffer, ec);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "hello");
  ws.close(beast::websocket::close_code::normal, ec);
  // Not logged again at the close: the next request's line is the second.
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  ASSERT_TRUE(waitFor([&] { return lines(accessLog()).size() == 2; }, seconds(10)));
  EXPECT_EQ(json::parse(lines(accessLog())[1])["path"], "/whoami");
}

TEST_F(GatewayRoutesTest, NoAccessLogWithoutTheKey) {
  int port = freePortRun(1);
  start(fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: a
    run: ["{1}", "{2}"]
    port: {3}
    on_demand: {{ hosts: [a.localhost], idle_timeout: 5m }}
)",
                    gateway_port_, BACKEND_BINARY, tag(), port));
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  ASSERT_EQ(get("x.localhost", "/").code, 404);
  // The writer thread writes every 200 ms: a line would be there by the next status.
  RunResult r = tend({"list"});
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(std::filesystem::exists(accessLog()));
}

// ---- proxy-only routes ---------------------------------------------------------------------

TEST_F(GatewayRoutesTest, AnAppWithOnlyATargetIsAPlainRouteToIt) {
  int backend_port = freePortRun(1);
  // The backend runs as an ordinary app of its own; the route points at it.
  start(fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: backend
    run: ["{1}", "{2}"]
    port: {3}
  - name: route
    on_demand: {{ hosts: [route.localhost], target: "http://127.0.0.1:{3}", idle_timeout: 1s }}
)",
                    gateway_port_, BACKEND_BINARY, tag(), backend_port));
  ASSERT_TRUE(waitFor([&] { return status("backend") == "online"; }, seconds(10)));
  // The route is online from the start, with no process.
  ASSERT_TRUE(waitFor([&] { return status("route") == "online"; }, seconds(10)));
  EXPECT_EQ(instance("route").value("pid", -1), 0);
  Reply r = get("route.localhost", "/whoami");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, fmt::format("instance=0 port={}", backend_port));
  // Idle for longer than idle_timeout: a route is not stopped.
  ASSERT_FALSE(waitFor([&] { return status("route") != "online"; }, seconds(3)));
  EXPECT_EQ(get("route.localhost", "/whoami").code, 200);
  // describe says what it is: no command, a target.
  RunResult d = tend({"describe", "route", "--json"});
  auto j = json::parse(d.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && !j.empty()) << d.out;
  EXPECT_FALSE(j[0]["spec"].contains("run") && !j[0]["spec"]["run"].empty()) << d.out;
  EXPECT_EQ(j[0]["spec"]["on_demand"]["target"], fmt::format("http://127.0.0.1:{}", backend_port));
  // The target going away: 502 naming it, nothing restarted.
  ASSERT_EQ(tend({"stop", "backend"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return status("backend") == "stopped"; }, seconds(10)));
  Reply down = get("route.localhost", "/whoami");
  EXPECT_EQ(down.code, 502);
  EXPECT_NE(down.body.find(fmt::format("127.0.0.1:{}", backend_port)), std::string::npos)
      << down.body;
  EXPECT_EQ(status("route"), "online");
}

TEST_F(GatewayRoutesTest, ARouteWhoseTargetIsDownAnswers502NamingItWithoutWaiting) {
  int nobody = freePortRun(1);  // nothing listens there
  start(fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: route
    on_demand: {{ hosts: [route.localhost], target: "http://127.0.0.1:{1}", start_timeout: 20s }}
)",
                    gateway_port_, nobody));
  ASSERT_TRUE(waitFor([&] { return status("route") == "online"; }, seconds(10)));
  // Not held for start_timeout (a 504 after 20 s): there is nothing to wait for.
  Reply r = get("route.localhost", "/");
  EXPECT_EQ(r.code, 502);
  EXPECT_NE(r.body.find(fmt::format("127.0.0.1:{} refused the connection", nobody)),
            std::string::npos)
      << r.body;
  // list and describe say what it is.
  EXPECT_EQ(instance("route").value("mode", ""), "route");
  RunResult d = tend({"describe", "route"});
  EXPECT_NE(d.out.find(fmt::format("route to http://127.0.0.1:{}", nobody)), std::string::npos)
      << d.out;
}

TEST_F(GatewayRoutesTest, ARouteWithAPortOrSeveralInstancesIsAConfigError) {
  RunResult r = tend({"start", writeFile("tend.yaml", R"(apps:
  - name: route
    port: 3000
    on_demand: { hosts: [route.localhost], target: "http://127.0.0.1:3999" }
)")});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("tend.yaml:3:5: an app that is only a route has no port of its own"),
            std::string::npos)
      << r.err;
  r = tend({"start", writeFile("tend2.yaml", R"(apps:
  - name: route
    on_demand: { hosts: [route.localhost] }
)")});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("or on_demand.target alone for a plain route"), std::string::npos) << r.err;
}

// ---- dependencies stopped at idle ----------------------------------------------------------

class IdleDependencies : public GatewayRoutesTest {
 protected:
  // a: on demand, depends on b; b: an ordinary app; c (with `with_c`): depends on b.
  void startApps(bool with_c) {
    int port = freePortRun(1);
    std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: b
    run: ["{1}", "sleep", "{2}"]
  - name: a
    run: ["{3}", "{2}"]
    port: {4}
    depends_on: [b]
    on_demand: {{ hosts: [a.localhost], idle_timeout: 1s }}
)",
                                   gateway_port_, TESTAPP_BINARY, tag(), BACKEND_BINARY, port);
    if (with_c)
      yaml += fmt::format(R"(  - name: c
    run: ["{0}", "sleep", "{1}"]
    depends_on: [b]
)",
                          TESTAPP_BINARY, tag());
    start(yaml);
    // b (and c) run after the apply: stop them, as a user would who wants b only on demand.
    if (with_c) {
      ASSERT_EQ(tend({"stop", "c"}).status, 0);
    }
    ASSERT_EQ(tend({"stop", "b"}).status, 0);
    ASSERT_TRUE(waitFor([&] { return status("b") == "stopped"; }, seconds(10)));
  }
};

TEST_F(IdleDependencies, TheDependencyAnOnDemandAppStartedStopsWithItWhenIdle) {
  startApps(false);
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  EXPECT_EQ(status("b"), "online");
  EXPECT_EQ(status("a"), "online");
  ASSERT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(15)));
  ASSERT_TRUE(waitFor([&] { return status("b") == "stopped"; }, seconds(10)));
  // And the next request starts both again.
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  EXPECT_EQ(status("b"), "online");
}

TEST_F(IdleDependencies, ADependencyAnotherRunningAppNeedsStays) {
  startApps(true);
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  ASSERT_EQ(status("b"), "online");
  // c, started by the user, needs b too.
  ASSERT_EQ(tend({"start", "c"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return status("c") == "online"; }, seconds(10)));
  ASSERT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(15)));
  EXPECT_FALSE(waitFor([&] { return status("b") != "online"; }, seconds(2)));
}

TEST_F(IdleDependencies, ADependencyTheUserStartedStays) {
  startApps(false);
  ASSERT_EQ(tend({"start", "b"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return status("b") == "online"; }, seconds(10)));
  ASSERT_EQ(get("a.localhost", "/whoami").code, 200);
  ASSERT_TRUE(waitFor([&] { return status("a") == "stopped"; }, seconds(15)));
  EXPECT_FALSE(waitFor([&] { return status("b") != "online"; }, seconds(2)));
}

}  // namespace
}  // namespace tend::testing
