// The HTTP API's pure parts: routing, origin checks, reply statuses, authentication,
// the event hub's bounded queues, and the Prometheus formatting.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <sstream>

#include "api/auth.hpp"
#include "api/events.hpp"
#include "api/http_routes.hpp"
#include "api/metrics.hpp"
#include "gateway/router.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using nlohmann::json;

TEST(ApiRoutes, MapsRestPathsOntoControlCommands) {
  Route r = route("GET", "/api/apps");
  EXPECT_EQ(r.kind, RouteKind::Command);
  EXPECT_EQ(r.command, json({{"cmd", "list"}}));
  r = route("GET", "/api/apps/web");
  EXPECT_EQ(r.command, json({{"cmd", "describe"}, {"target", "web"}}));
  r = route("DELETE", "/api/apps/web");
  EXPECT_EQ(r.command, json({{"cmd", "delete"}, {"target", "web"}}));
  for (std::string verb : {"start", "stop", "restart"}) {
    r = route("POST", "/api/apps/web/" + verb);
    EXPECT_EQ(r.command, json({{"cmd", verb}, {"target", "web"}}));
    EXPECT_TRUE(r.changesState());
  }
  EXPECT_EQ(route("POST", "/api/apps/web/reload").command,
            json({{"cmd", "reload"}, {"target", "web"}}));
  EXPECT_EQ(route("POST", "/api/save").command["cmd"], "save");
  EXPECT_EQ(route("DELETE", "/api/apps/web/logs").command["cmd"], "flush");
  EXPECT_EQ(route("POST", "/api/apps/web/scale").kind, RouteKind::Scale);
  EXPECT_EQ(route("GET", "/api/events").kind, RouteKind::Events);
  EXPECT_EQ(route("GET", "/api/events/ws").kind, RouteKind::EventsWs);
  EXPECT_EQ(route("GET", "/metrics").kind, RouteKind::Metrics);
  EXPECT_FALSE(route("GET", "/api/apps").changesState());
}

TEST(ApiRoutes, DecodesAppNamesAndQueries) {
  Route r = route("GET", "/api/apps/my%20app/logs?lines=20&follow=1");
  EXPECT_EQ(r.kind, RouteKind::Logs);
  EXPECT_EQ(r.app, "my app");
  EXPECT_EQ(r.query.at("lines"), "20");
  EXPECT_EQ(r.query.at("follow"), "1");
  EXPECT_EQ(route("GET", "/api/events?app=a%2Fb").query.at("app"), "a/b");
  EXPECT_FALSE(route("GET", "/api/apps/%zz").error.empty());
  EXPECT_FALSE(route("GET", "/api/apps/a%00b").error.empty());
  EXPECT_FALSE(route("GET", "/api/apps?x=1").error.empty());
  EXPECT_FALSE(route("GET", "/api/apps/web/logs?colour=red").error.empty());
}

TEST(ApiRoutes, UnknownPathsAre404AndWrongMethods405WithAllow) {
  EXPECT_EQ(route("GET", "/api/nothing").kind, RouteKind::NotFound);
  EXPECT_EQ(route("GET", "/api/apps/web/explode").kind, RouteKind::NotFound);
  EXPECT_EQ(route("GET", "/etc/passwd").kind, RouteKind::NotFound);
  Route r = route("PUT", "/api/apps/web");
  EXPECT_EQ(r.kind, RouteKind::MethodNotAllowed);
  EXPECT_EQ(r.allow, "GET, DELETE");
  EXPECT_EQ(route("GET", "/api/apps/web/restart").allow, "POST");
  EXPECT_EQ(route("POST", "/metrics").kind, RouteKind::MethodNotAllowed);
}

TEST(ApiRoutes, OnlyTheDashboardFilesAndLoginArePublic) {
  EXPECT_TRUE(route("GET", "/").isPublic());
  EXPECT_EQ(route("GET", "/").asset, "index.html");
  EXPECT_TRUE(route("GET", "/app.js").isPublic());
  EXPECT_TRUE(route("GET", "/login?code=x").isPublic());
  EXPECT_FALSE(route("GET", "/metrics").isPublic());
  EXPECT_FALSE(route("GET", "/api/apps").isPublic());
  EXPECT_FALSE(route("GET", "/api/events").isPublic());
  EXPECT_FALSE(route("GET", "/nothing").isPublic());
}

TEST(ApiRoutes, OriginMustBeTheApiItself) {
  std::vector<ListenAddress> loopback{*parseListenAddress("127.0.0.1:9615")};
  EXPECT_TRUE(originAllowed("http://127.0.0.1:9615", "127.0.0.1:9615", loopback));
  EXPECT_TRUE(originAllowed("http://localhost:9615", "localhost:9615", loopback));
  EXPECT_FALSE(originAllowed("http://evil.example", "127.0.0.1:9615", loopback));
  EXPECT_FALSE(originAllowed("https://127.0.0.1:9615", "127.0.0.1:9615", loopback));
  EXPECT_FALSE(originAllowed("http://127.0.0.1:9616", "127.0.0.1:9615", loopback));
  // DNS rebinding: a foreign name that resolves to us.
  EXPECT_FALSE(originAllowed("http://evil.example:9615", "evil.example:9615", loopback));
  EXPECT_FALSE(originAllowed("null", "127.0.0.1:9615", loopback));
  std::vector<ListenAddress> any{*parseListenAddress("0.0.0.0:9615")};
  EXPECT_TRUE(originAllowed("http://box.lan:9615", "box.lan:9615", any));
  EXPECT_FALSE(originAllowed("http://box.lan:9615", "box.lan:80", any));
}

TEST(ApiRoutes, RepliesMapToStatuses) {
  EXPECT_EQ(statusForReply({{"ok", true}, {"data", 1}}), 200);
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "no app named 'x'"}}), 404);
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "'stop' takes no field 'x'"}}), 400);
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "web[0]: cannot execute"}}), 500);
  EXPECT_EQ(json::parse(errorBody("bad \"x\"\n")), json({{"error", "bad \"x\"\n"}}));
}

TEST(ApiAuth, ComparesInConstantTimeAndExactly) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(constantTimeEquals("", "a"));
  EXPECT_TRUE(constantTimeEquals("", ""));
}

TEST(ApiAuth, ParsesBearerAndCookies) {
  EXPECT_EQ(bearerToken("Bearer abc"), "abc");
  EXPECT_EQ(bearerToken("bearer   abc "), "abc");
  EXPECT_FALSE(bearerToken("Basic abc"));
  EXPECT_FALSE(bearerToken("Bearer"));
  EXPECT_FALSE(bearerToken("Bearer a b"));
  EXPECT_EQ(cookieValue("a=1; tend_session=xyz; b=2", "tend_session"), "xyz");
  EXPECT_FALSE(cookieValue("a=1; xtend_session=xyz", "tend_session"));
}

TEST(ApiAuth, TokensAreRandomHex) {
  std::string a = randomToken(), b = randomToken();
  EXPECT_TRUE(std::regex_match(a, std::regex("[0-9a-f]{64}")));
  EXPECT_NE(a, b);
}

TEST(ApiAuth, TokenFileIsCreatedMode0600AndReadBack) {
  testing::TempDir dir;
  std::string path = dir.path() + "/api.token";
  auto created = loadOrCreateToken(path);
  ASSERT_TRUE(created) << created.error();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = loadOrCreateToken(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *created);
  EXPECT_FALSE(loadOrCreateToken(dir.path() + "/missing/dir/api.token"));
}

TEST(ApiAuth, TokenOrSessionLetsIn) {
  FakeClock clock;
  ApiAuth auth(clock);
  EXPECT_FALSE(auth.allows("Bearer x", ""));  // no token set: nothing matches
  auth.setToken("secret");
  EXPECT_TRUE(auth.allows("Bearer secret", ""));
  EXPECT_FALSE(auth.allows("Bearer secreT", ""));
  EXPECT_FALSE(auth.allows("", ""));
  EXPECT_FALSE(auth.allows("", "tend_session=secret"));
}

TEST(ApiAuth, LoginCodesWorkOnceAndExpire) {
  FakeClock clock;
  ApiAuth auth(clock);
  std::string code = auth.issueCode();
  auto session = auth.redeemCode(code);
  ASSERT_TRUE(session);
  EXPECT_TRUE(auth.allows("", "tend_session=" + *session));
  EXPECT_FALSE(auth.redeemCode(code));  // once

  std::string late = auth.issueCode();
  clock.advance(ApiAuth::kCodeLifetime);
  EXPECT_FALSE(auth.redeemCode(late));

  clock.advance(ApiAuth::kSessionLifetime);
  EXPECT_FALSE(auth.allows("", "tend_session=" + *session));
  EXPECT_FALSE(auth.redeemCode("not-a-code"));
}

TEST(ApiAuth, SessionsAreCapped) {
  FakeClock clock;
  ApiAuth auth(clock);
  std::string first = *auth.redeemCode(auth.issueCode());
  for (size_t i = 0; i < ApiAuth::kMaxSessions; ++i) {
    clock.advance(std::chrono::milliseconds(1));
    auth.redeemCode(auth.issueCode());
  }
  EXPECT_FALSE(auth.sessionValid(first));
}

TEST(EventHub, DeliversMatchingEventsToEachSubscriber) {
  FakeClock clock;
  EventHub hub(clock);
  auto all = hub.subscribe({});
  auto web_logs = hub.subscribe({"web", {"log"}});
  hub.publish({{"type", "state"}, {"app", "web"}});
  hub.publish({{"type", "log"}, {"app", "web"}, {"line", "hi"}});
  hub.publish({{"type", "log"}, {"app", "db"}, {"line", "x"}});
  int n = 0;
  while (!all->empty()) {
    json e = json::parse(all->pop());
    EXPECT_EQ(e["time"], clock.wallMillis());
    ++n;
  }
  EXPECT_EQ(n, 3);
  ASSERT_FALSE(web_logs->empty());
  EXPECT_EQ(json::parse(web_logs->pop())["line"], "hi");
  EXPECT_TRUE(web_logs->empty());
  EXPECT_TRUE(hub.wants("log", "web"));
  web_logs.reset();
  all.reset();
  EXPECT_FALSE(hub.wants("log", "web"));
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(EventHub, ASlowSubscriberOverflowsInsteadOfGrowing) {
  FakeClock clock;
  EventHub hub(clock);
  auto slow = hub.subscribe({}, /*max_events=*/3, /*max_bytes=*/1 << 20);
  int notified = 0;
  slow->setNotify([&] { ++notified; });
  for (int i = 0; i < 3; ++i) hub.publish({{"type", "state"}});
  EXPECT_FALSE(slow->overflowed());
  hub.publish({{"type", "state"}});
  EXPECT_TRUE(slow->overflowed());
  EXPECT_TRUE(slow->empty());  // its backlog is dropped with it
  EXPECT_EQ(notified, 4);      // so the session learns and closes
  auto small = hub.subscribe({}, 100, /*max_bytes=*/10);
  hub.publish({{"type", "log"}, {"line", "a line longer than ten bytes"}});
  EXPECT_TRUE(small->overflowed());
}

TEST(EventHub, ATypeFilterMatchesTheNamedEventToo) {
  FakeClock clock;
  EventHub hub(clock);
  auto errored = hub.subscribe({"", {"errored", "crash"}});
  hub.publish({{"type", "state"}, {"event", "online"}, {"app", "web"}});
  hub.publish({{"type", "state"}, {"event", "errored"}, {"app", "web"}});
  hub.publish({{"type", "crash"}, {"event", "crash"}, {"app", "web"}});
  ASSERT_FALSE(errored->empty());
  EXPECT_EQ(json::parse(errored->pop())["event"], "errored");
  EXPECT_EQ(json::parse(errored->pop())["event"], "crash");
  EXPECT_TRUE(errored->empty());
}

TEST(EventHub, HandsEveryEventToItsTapWithItsTime) {
  FakeClock clock;
  EventHub hub(clock);
  std::vector<json> tapped;
  hub.setTap([&](const json& e) { tapped.push_back(e); });
  // No subscriber at all: the tap (the webhooks) still gets it.
  hub.publish({{"type", "crash"}, {"event", "crash"}, {"app", "web"}});
  ASSERT_EQ(tapped.size(), 1u);
  EXPECT_EQ(tapped[0]["event"], "crash");
  EXPECT_EQ(tapped[0]["time"], clock.wallMillis());
}

TEST(EventHub, CapsSubscribers) {
  FakeClock clock;
  EventHub hub(clock);
  std::vector<std::shared_ptr<EventHub::Subscriber>> subs;
  for (size_t i = 0; i < EventHub::kMaxSubscribers; ++i) subs.push_back(hub.subscribe({}));
  EXPECT_EQ(hub.subscribe({}), nullptr);
  subs.pop_back();
  EXPECT_NE(hub.subscribe({}), nullptr);
}

TEST(Metrics, FormatsInstancesGatewayAndDaemon) {
  MetricsInput in;
  in.instances = json::array({json{{"name", "web"},
                                   {"instance", 0},
                                   {"cpu", 1.5},
                                   {"memory", 1048576},
                                   {"restarts", 2},
                                   {"uptime_ms", 1500},
                                   {"pid", 42},
                                   {"status", "online"}}});
  GatewayAppMetrics g;
  g.responses[1] = 10;
  g.responses[4] = 1;
  g.activations = 3;
  g.idle_stops = 2;
  g.open_connections = 4;
  g.cold_start_bounds = {0.1, 1};
  g.cold_start_counts = {1, 1, 1};
  g.cold_start_sum = 7.25;
  in.gateway["web"] = g;
  in.daemon_rss_bytes = 1000;
  in.daemon_open_fds = 12;
  std::string text = formatMetrics(in);
  for (const char* expected : {
           "# TYPE tend_instance_cpu_percent gauge\n",
           "tend_instance_cpu_percent{app=\"web\",instance=\"0\"} 1.5\n",
           "tend_instance_memory_bytes{app=\"web\",instance=\"0\"} 1048576\n",
           "# TYPE tend_instance_restarts_total counter\n",
           "tend_instance_restarts_total{app=\"web\",instance=\"0\"} 2\n",
           "tend_instance_uptime_seconds{app=\"web\",instance=\"0\"} 1.5\n",
           "tend_instance_state{app=\"web\",instance=\"0\",state=\"online\"} 1\n",
           "tend_instance_state{app=\"web\",instance=\"0\",state=\"stopped\"} 0\n",
           "tend_gateway_requests_total{app=\"web\",code=\"2xx\"} 10\n",
           "tend_gateway_requests_total{app=\"web\",code=\"5xx\"} 1\n",
           "tend_gateway_activations_total{app=\"web\"} 3\n",
           "# TYPE tend_gateway_cold_start_seconds histogram\n",
           "tend_gateway_cold_start_seconds_bucket{app=\"web\",le=\"0.1\"} 1\n",
           "tend_gateway_cold_start_seconds_bucket{app=\"web\",le=\"1\"} 2\n",
           "tend_gateway_cold_start_seconds_bucket{app=\"web\",le=\"+Inf\"} 3\n",
           "tend_gateway_cold_start_seconds_sum{app=\"web\"} 7.25\n",
           "tend_gateway_cold_start_seconds_count{app=\"web\"} 3\n",
           "tend_gateway_open_connections{app=\"web\"} 4\n",
           "tend_gateway_idle_stops_total{app=\"web\"} 2\n",
           "tend_daemon_resident_memory_bytes 1000\n",
           "tend_daemon_open_fds 12\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
  // Each family's HELP and TYPE come once, before its samples.
  std::istringstream lines(text);
  std::string line;
  std::set<std::string> typed;
  while (std::getline(lines, line)) {
    if (line.starts_with("# TYPE ")) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(typed.insert(name).second) << name;
    }
  }
}

TEST(Metrics, EscapesLabelValues) {
  EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  MetricsInput in;
  in.instances = json::array({json{{"name", "we\"ird"}, {"instance", 0}, {"status", "stopped"}}});
  EXPECT_NE(formatMetrics(in).find("app=\"we\\\"ird\""), std::string::npos);
}

TEST(Metrics, ReadsTheDaemonsOwnFigures) {
  EXPECT_GT(selfResidentBytes(), 0u);
  EXPECT_GT(selfOpenFds(), 2);
}

}  // namespace
}  // namespace tend

namespace tend {
namespace {

TEST(ApiRoutes, PostingToAppsCreatesAndListTakesAGroup) {
  Route create = route("POST", "/api/apps");
  EXPECT_EQ(create.kind, RouteKind::Create);
  EXPECT_TRUE(create.takes_body);
  EXPECT_TRUE(create.changesState());
  EXPECT_FALSE(create.isPublic());
  EXPECT_EQ(route("PUT", "/api/apps").allow, "GET, POST");
  Route grouped = route("GET", "/api/apps?group=backend");
  EXPECT_EQ(grouped.command, nlohmann::json({{"cmd", "list"}, {"group", "backend"}}));
  EXPECT_FALSE(route("GET", "/api/apps?team=x").error.empty());
}

TEST(ApiRoutes, AReplyCarryingAStatusGetsIt) {
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "taken"}, {"status", 409}}), 409);
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "bad"}, {"status", 400}}), 400);
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "no app or group named 'x'"}}), 404);
  EXPECT_EQ(statusForReply({{"ok", false}, {"error", "x"}, {"status", 7}}), 500);
}

}  // namespace
}  // namespace tend
