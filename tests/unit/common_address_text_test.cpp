// The answers every area shares: what a listen host means (loopback, every interface) and
// how text that is not UTF-8 or holds control characters is found and shown.

#include <gtest/gtest.h>

#include "common/address.hpp"
#include "common/text.hpp"
#include "config/config.hpp"

namespace tend {
namespace {

TEST(ListenHost, LoopbackIsLocalhostAnd127SlashEightAndColonColonOne) {
  for (const char* host : {"localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "127.255.255.254",
                           "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.3"})
    EXPECT_TRUE(isLoopbackHost(host)) << host;
  for (const char* host : {"0.0.0.0", "::", "[::]", "", "10.0.0.1", "128.0.0.1", "example.com",
                           "localhost.example.com", "::2", "::ffff:10.0.0.1", "[::1"})
    EXPECT_FALSE(isLoopbackHost(host)) << host;
}

TEST(ListenHost, TheApiNeedsATokenFileExactlyWhereTheHostIsNotLoopback) {
  EXPECT_FALSE(apiListenNeedsTokenFile("127.0.0.2"));
  EXPECT_FALSE(apiListenNeedsTokenFile("[::1]"));
  EXPECT_TRUE(apiListenNeedsTokenFile("0.0.0.0"));
  EXPECT_TRUE(apiListenNeedsTokenFile("192.168.1.10"));
}

TEST(ListenHost, EveryInterfaceIsTheUnspecifiedAddressInAnySpelling) {
  for (const char* host : {"0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0", "", "*"})
    EXPECT_TRUE(isAllInterfacesHost(host)) << host;
  for (const char* host : {"127.0.0.1", "::1", "localhost", "10.0.0.1", "0.0.0.1"})
    EXPECT_FALSE(isAllInterfacesHost(host)) << host;
}

TEST(ListenHost, HostOfAddressKeepsBracketsAndAllowsNoHost) {
  EXPECT_EQ(hostOfAddress("127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(hostOfAddress("[::]:80"), "[::]");
  EXPECT_EQ(hostOfAddress(":::80"), "::");
  EXPECT_EQ(hostOfAddress(":80"), "");
}

TEST(ListenHost, AWarningIsGivenOnceWhenAnAllInterfacesListenerOpens) {
  std::set<std::string> open;
  auto first = newAllInterfacesWarnings(
      open,
      {{"the API", "0.0.0.0:9615"}, {"the gateway", "127.0.0.1:80"}, {"the gateway", "[::]:80"}});
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0],
            "the API listens on 0.0.0.0:9615, every network interface: other machines can "
            "connect to it (listen on 127.0.0.1 to keep it to this machine)");
  EXPECT_NE(first[1].find("the gateway listens on [::]:80"), std::string::npos) << first[1];
  // Reconfigured with the same listeners: nothing new to say.
  EXPECT_TRUE(newAllInterfacesWarnings(open, {{"the API", "0.0.0.0:9615"}}).empty());
  // Gone, then back: said again.
  EXPECT_TRUE(newAllInterfacesWarnings(open, {}).empty());
  EXPECT_EQ(newAllInterfacesWarnings(open, {{"the API", "0.0.0.0:9615"}}).size(), 1u);
}

TEST(ListenHost, AConfigNamesEachAllInterfacesAddressItListensOn) {
  ConfigFile config;
  config.gateway = GatewaySpec{};
  config.gateway->listen = {"0.0.0.0:8080", "127.0.0.1:8081"};
  config.api = ApiSpec{};
  config.api->listen = {"[::]:9615"};
  AppSpec app;
  app.name = "web";
  app.on_demand = OnDemandSpec{};
  app.on_demand->listen = {"0.0.0.0:3000"};
  config.apps.push_back(app);
  auto warnings = allInterfacesWarnings(config);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_TRUE(warnings[0].starts_with("the gateway listens on 0.0.0.0:8080,")) << warnings[0];
  EXPECT_TRUE(warnings[1].starts_with("the API listens on [::]:9615,")) << warnings[1];
  EXPECT_TRUE(warnings[2].starts_with("the gateway (app 'web') listens on 0.0.0.0:3000,"))
      << warnings[2];
}

TEST(Utf8Text, FindsTheFirstByteThatIsNotUtf8) {
  EXPECT_EQ(invalidUtf8At("plain é € 😀"), std::string_view::npos);
  EXPECT_EQ(invalidUtf8At("ab\xff"), 2u);
  EXPECT_EQ(invalidUtf8At("a\xc3"), 1u);         // truncated
  EXPECT_EQ(invalidUtf8At("a\xc0\xaf"), 1u);     // overlong
  EXPECT_EQ(invalidUtf8At("\xed\xa0\x80"), 0u);  // a surrogate
  EXPECT_TRUE(isUtf8(std::string("nul \0 is UTF-8", 14)));
  EXPECT_FALSE(isUtf8("\xfe"));
}

TEST(Utf8Text, PrintableTextEscapesWhatATerminalOrAMessageCannotTake) {
  EXPECT_EQ(printableText("line one\n\tline two é"), "line one\n\tline two é");
  EXPECT_EQ(printableText(std::string("a\0b", 3)), "a\\0b");
  EXPECT_EQ(printableText("\x1b[31mred\x7f"), "\\x1B[31mred\\x7F");
  EXPECT_EQ(printableText("bad \xff\xfe"), "bad \\xFF\\xFE");
  EXPECT_EQ(printableText("c1 \xc2\x9b"), "c1 \\u009B");
}

}  // namespace
}  // namespace tend
