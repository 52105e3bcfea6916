#include "daemon/gateway_link.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

Supervisor::AppSnapshot onDemandApp(const std::string& name, std::vector<Status> statuses,
                                    uint16_t port = 3001) {
  Supervisor::AppSnapshot snap;
  snap.spec.name = name;
  snap.spec.on_demand = OnDemandSpec{};
  snap.spec.on_demand->hosts = {name + ".localhost"};
  snap.statuses = std::move(statuses);
  snap.ports.assign(snap.statuses.size(), port);
  return snap;
}

TEST(GatewayLink, RunStateFollowsTheInstances) {
  EXPECT_EQ(runStateOf(onDemandApp("a", {Status::Stopped})), AppRunState::Stopped);
  EXPECT_EQ(runStateOf(onDemandApp("a", {Status::Starting})), AppRunState::Starting);
  EXPECT_EQ(runStateOf(onDemandApp("a", {Status::Stopped, Status::Online})), AppRunState::Running);
  EXPECT_EQ(runStateOf(onDemandApp("a", {Status::Stopping})), AppRunState::Stopping);
  EXPECT_EQ(runStateOf(onDemandApp("a", {Status::Errored})), AppRunState::Failed);
  // Exited during its start, a restart scheduled: a request gets the reason, not a wait.
  EXPECT_EQ(runStateOf(onDemandApp("a", {Status::Waiting})), AppRunState::Failed);
}

TEST(GatewayLink, RoutesTargetTheAppsPortUnlessATargetIsGiven) {
  auto a = onDemandApp("a", {Status::Stopped}, 4100);
  auto b = onDemandApp("b", {Status::Stopped}, 0);
  b.spec.on_demand->target = "http://[::1]:8081";
  b.spec.on_demand->socket_activation = true;
  Supervisor::AppSnapshot plain;  // no on_demand: not behind the gateway
  plain.spec.name = "plain";
  GatewayConfig c = gatewayConfigFor({"127.0.0.1:8080"}, {a, b, plain});
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.listen, std::vector<std::string>{"127.0.0.1:8080"});
  EXPECT_EQ(c.routes[0].app, "a");
  EXPECT_EQ(c.routes[0].target_host, "127.0.0.1");
  EXPECT_EQ(c.routes[0].target_port, 4100);
  EXPECT_EQ(c.routes[0].hosts, std::vector<std::string>{"a.localhost"});
  EXPECT_EQ(c.routes[1].target_host, "::1");
  EXPECT_EQ(c.routes[1].target_port, 8081);
  EXPECT_TRUE(c.routes[1].socket_activated);
  // Without a target the route is balanced over the app's ready instances; with one, not.
  EXPECT_TRUE(c.routes[0].balanced);
  EXPECT_EQ(c.routes[0].balance, Balance::RoundRobin);
  EXPECT_FALSE(c.routes[1].balanced);
}

TEST(GatewayLink, TheBalanceModeComesFromOnDemand) {
  auto a = onDemandApp("a", {Status::Stopped, Status::Stopped}, 4100);
  a.spec.on_demand->balance = BalanceMode::LeastConn;
  GatewayConfig c = gatewayConfigFor({}, {a});
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].balance, Balance::LeastConn);
}

TEST(GatewayLink, EveryBalanceModeWeightsAndProxyOnlyRoutesReachTheRoute) {
  const std::pair<BalanceMode, Balance> all[] = {{BalanceMode::RoundRobin, Balance::RoundRobin},
                                                 {BalanceMode::LeastConn, Balance::LeastConn},
                                                 {BalanceMode::Random, Balance::Random},
                                                 {BalanceMode::IpHash, Balance::IpHash},
                                                 {BalanceMode::Weighted, Balance::Weighted},
                                                 {BalanceMode::LeastCpu, Balance::LeastCpu},
                                                 {BalanceMode::LeastMemory, Balance::LeastMemory},
                                                 {BalanceMode::LeastTime, Balance::LeastTime}};
  for (auto [mode, balance] : all) {
    auto a = onDemandApp("a", {Status::Stopped, Status::Stopped}, 4100);
    a.spec.on_demand->balance = mode;
    a.spec.on_demand->weights = {3, 1};
    GatewayConfig c = gatewayConfigFor({}, {a});
    ASSERT_EQ(c.routes.size(), 1u);
    EXPECT_EQ(c.routes[0].balance, balance);
    EXPECT_EQ(c.routes[0].weights, (std::vector<uint32_t>{3, 1}));
    EXPECT_FALSE(c.routes[0].proxy_only);
  }
  auto route = onDemandApp("r", {Status::Online}, 0);
  route.spec.on_demand->target = "http://127.0.0.1:9000";
  GatewayConfig c = gatewayConfigFor({}, {route});
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_TRUE(c.routes[0].proxy_only);
  EXPECT_FALSE(c.routes[0].balanced);
}

TEST(GatewayLink, ReadsTheAccessLogOfTheGatewaySection) {
  auto off = gatewaySectionFrom({{"listen", {"127.0.0.1:8080"}}});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->access_log);
  EXPECT_FALSE(gatewayConfigFrom(*off, {}).access_log);
  auto on = gatewaySectionFrom(
      {{"access_log", {{"format", "combined"}, {"max_size", 2048}, {"max_files", 2}}}});
  ASSERT_TRUE(on) << on.error();
  EXPECT_EQ(on->access_log, AccessLogFormat::Combined);
  EXPECT_EQ(on->access_log_max_size, 2048u);
  EXPECT_EQ(on->access_log_max_files, 2);
  EXPECT_EQ(gatewayConfigFrom(*on, {}).access_log, AccessLogFormat::Combined);
  EXPECT_EQ(gatewaySectionFrom({{"access_log", {{"format", "xml"}}}}).error(),
            "gateway.access_log.format must be json or combined");
  EXPECT_EQ(gatewaySectionFrom({{"access_log", "json"}}).error(),
            "gateway.access_log must be an object");
}

TEST(GatewayLink, StateEventsTellWhichAppsTargetsMayHaveChanged) {
  const nlohmann::json event = {
      {"type", "state"}, {"app", "api"}, {"instance", 1}, {"status", "online"}};
  const std::string* app = servingChangeOf(event);
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(*app, "api");
  EXPECT_EQ(servingChangeOf({{"type", "restart"}, {"app", "api"}}), nullptr);
  EXPECT_EQ(servingChangeOf({{"type", "log"}, {"app", "api"}}), nullptr);
  EXPECT_EQ(servingChangeOf(nlohmann::json::array()), nullptr);
}

TEST(GatewayLink, AnAppWithNoPortYetGetsNoRoute) {
  GatewayConfig c = gatewayConfigFor({}, {onDemandApp("a", {Status::Stopped}, 0)});
  EXPECT_TRUE(c.routes.empty());
}

TEST(GatewayLink, ReadsTheGatewaySectionWithItsTrustedProxiesAndCap) {
  auto section = gatewaySectionFrom({{"listen", {"127.0.0.1:8080"}},
                                     {"trusted_proxies", {"10.0.0.0/8", "::1"}},
                                     {"max_connections", 300}});
  ASSERT_TRUE(section.has_value()) << section.error();
  EXPECT_EQ(section->listen, std::vector<std::string>{"127.0.0.1:8080"});
  EXPECT_EQ(section->trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
  EXPECT_EQ(section->max_connections, 300u);
  GatewayConfig c = gatewayConfigFrom(*section, {onDemandApp("a", {Status::Stopped})});
  EXPECT_EQ(c.listen, section->listen);
  EXPECT_EQ(c.trusted_proxies, section->trusted_proxies);
  EXPECT_EQ(c.max_connections, 300u);
  EXPECT_EQ(c.routes.size(), 1u);
  // A section from an older daemon's gateway.json has only listen.
  auto old = gatewaySectionFrom({{"listen", {"127.0.0.1:8080"}}});
  ASSERT_TRUE(old.has_value());
  EXPECT_TRUE(old->trusted_proxies.empty());
  EXPECT_FALSE(old->max_connections);
}

TEST(GatewayLink, RefusesAGatewaySectionOfTheWrongShape) {
  EXPECT_EQ(gatewaySectionFrom(nlohmann::json::array()).error(),
            "the gateway section must be an object");
  EXPECT_EQ(gatewaySectionFrom({{"trusted_proxies", "10.0.0.0/8"}}).error(),
            "gateway.trusted_proxies must be a list");
  EXPECT_EQ(gatewaySectionFrom({{"listen", {1}}}).error(),
            "gateway.listen must be a list of strings");
  EXPECT_EQ(gatewaySectionFrom({{"max_connections", 0}}).error(),
            "gateway.max_connections must be a whole number of at least 1");
  EXPECT_EQ(gatewaySectionFrom({{"max_connections", "10"}}).error(),
            "gateway.max_connections must be a whole number of at least 1");
}

}  // namespace
}  // namespace tend
