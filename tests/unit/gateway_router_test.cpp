#include "gateway/router.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

GatewayRoute route(std::string app, std::vector<std::string> hosts,
                   std::vector<std::string> listen = {}) {
  GatewayRoute r;
  r.app = std::move(app);
  r.hosts = std::move(hosts);
  r.listen = std::move(listen);
  return r;
}

std::string appFor(const Router& router, std::string_view host) {
  const std::string* app = router.appForHost(host);
  return app ? *app : "<none>";
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GatewayConfig config;
    config.listen = {"127.0.0.1:8080"};
    config.routes = {route("api", {"api.localhost", "api.example.com"}),
                     route("wild", {"*.example.com"}), route("deeper", {"*.eu.example.com"}),
                     route("v6", {"[::1]"}), route("admin", {}, {"127.0.0.1:3998"})};
    ASSERT_EQ(router.configure(config), "");
  }
  Router router;
};

TEST_F(RouterTest, MatchesAnExactHost) {
  EXPECT_EQ(appFor(router, "api.localhost"), "api");
}

TEST_F(RouterTest, IgnoresCaseThePortAndATrailingDot) {
  EXPECT_EQ(appFor(router, "API.LocalHost"), "api");
  EXPECT_EQ(appFor(router, "api.localhost:8080"), "api");
  EXPECT_EQ(appFor(router, "api.localhost."), "api");
  EXPECT_EQ(appFor(router, "Api.Localhost.:80"), "api");
}

TEST_F(RouterTest, AWildcardMatchesSubdomainsAtAnyDepthButNotTheDomainItself) {
  EXPECT_EQ(appFor(router, "www.example.com"), "wild");
  EXPECT_EQ(appFor(router, "a.b.example.com"), "wild");
  EXPECT_EQ(appFor(router, "example.com"), "<none>");
  EXPECT_EQ(appFor(router, "notexample.com"), "<none>");
}

TEST_F(RouterTest, AnExactNameWinsOverAWildcardAndALongerWildcardOverAShorterOne) {
  EXPECT_EQ(appFor(router, "api.example.com"), "api");
  EXPECT_EQ(appFor(router, "paris.eu.example.com"), "deeper");
  EXPECT_EQ(appFor(router, "eu.example.com"), "wild");
}

TEST_F(RouterTest, MatchesAnIpv6LiteralWithOrWithoutPort) {
  EXPECT_EQ(appFor(router, "[::1]"), "v6");
  EXPECT_EQ(appFor(router, "[::1]:8080"), "v6");
}

TEST_F(RouterTest, UnknownAndMalformedHostsMatchNothing) {
  EXPECT_EQ(appFor(router, "other.localhost"), "<none>");
  EXPECT_EQ(appFor(router, ""), "<none>");
  EXPECT_EQ(appFor(router, "api.localhost:80:80"), "<none>");
  EXPECT_EQ(appFor(router, "api.localhost:x"), "<none>");
  EXPECT_EQ(appFor(router, "api localhost"), "<none>");
  EXPECT_EQ(appFor(router, "user@api.localhost"), "<none>");
  EXPECT_EQ(appFor(router, "[::1"), "<none>");
}

TEST_F(RouterTest, RoutesADedicatedListenerToItsApp) {
  const std::string* app = router.appForListener("127.0.0.1:3998");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(*app, "admin");
  EXPECT_EQ(router.appForListener("127.0.0.1:8080"), nullptr);  // Host-routed
  EXPECT_EQ(router.appForListener("127.0.0.1:1"), nullptr);
}

TEST(RouterNormalizeHost, GivesTheCanonicalSpelling) {
  EXPECT_EQ(Router::normalizeHost("API.Example.com.:8080"), "api.example.com");
  EXPECT_EQ(Router::normalizeHost("[::1]:8080"), "[::1]");
  EXPECT_EQ(Router::normalizeHost("[::FFFF:127.0.0.1]"), "[::ffff:127.0.0.1]");
  EXPECT_EQ(Router::normalizeHost("127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(Router::normalizeHost(" api.localhost "), "api.localhost");
  EXPECT_EQ(Router::normalizeHost("a/b"), "");
  EXPECT_EQ(Router::normalizeHost("[::1]x"), "");
}

TEST(RouterConfigure, RefusesAHostRoutedToTwoApps) {
  Router router;
  GatewayConfig config;
  config.routes = {route("a", {"x.localhost"}), route("b", {"X.localhost"})};
  EXPECT_EQ(router.configure(config), "host 'X.localhost' is routed to both 'a' and 'b'");
  config.routes = {route("a", {"*.example.com"}), route("b", {"*.example.com"})};
  EXPECT_EQ(router.configure(config), "host '*.example.com' is routed to both 'a' and 'b'");
}

TEST(RouterConfigure, RefusesAListenAddressUsedTwice) {
  Router router;
  GatewayConfig config;
  config.listen = {"127.0.0.1:8080"};
  config.routes = {route("a", {}, {"127.0.0.1:8080"})};
  EXPECT_EQ(router.configure(config),
            "listen address 127.0.0.1:8080 is used by both the gateway's own listen and 'a'");
  config.listen = {};
  config.routes = {route("a", {}, {"127.0.0.1:9000"}), route("b", {}, {"127.0.0.1:9000"})};
  EXPECT_EQ(router.configure(config), "listen address 127.0.0.1:9000 is used by both 'a' and 'b'");
}

TEST(RouterConfigure, RefusesMalformedPatternsAndKeepsTheOldRoutes) {
  Router router;
  GatewayConfig good;
  good.routes = {route("a", {"a.localhost"})};
  ASSERT_EQ(router.configure(good), "");
  for (std::string bad : {"a.localhost:80", "a b", "", "*.", "*.[::1]"}) {
    GatewayConfig config;
    config.routes = {route("b", {bad})};
    EXPECT_NE(router.configure(config), "") << bad;
  }
  GatewayConfig config;
  config.listen = {"nonsense"};
  EXPECT_EQ(router.configure(config), "gateway listen address 'nonsense' is not host:port");
  EXPECT_EQ(appFor(router, "a.localhost"), "a");
}

TEST(ParseListenAddress, ReadsHostAndPort) {
  auto a = parseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = parseListenAddress("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->text(), "[::1]:80");
  auto c = parseListenAddress(":9000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->text(), "0.0.0.0:9000");
  EXPECT_EQ(parseListenAddress("Localhost:1")->text(), "localhost:1");
  for (auto bad :
       {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:80", "[::1]80", "host:port", "a b:1"}) {
    EXPECT_FALSE(parseListenAddress(bad)) << bad;
  }
}

}  // namespace
}  // namespace tend
