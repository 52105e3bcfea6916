#include "gateway/header_rules.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

TEST(HeaderRules, KnowsTheHopByHopHeaders) {
  for (auto name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                    "Transfer-Encoding", "UPGRADE"}) {
    EXPECT_TRUE(isHopByHopHeader(name)) << name;
  }
  for (auto name : {"Host", "Content-Length", "Content-Type", "X-Forwarded-For", "Cookie"}) {
    EXPECT_FALSE(isHopByHopHeader(name)) << name;
  }
}

TEST(HeaderRules, ReadsConnectionOptions) {
  EXPECT_EQ(connectionOptions("keep-alive, Upgrade ,,X-Private"),
            (std::vector<std::string>{"keep-alive", "upgrade", "x-private"}));
  EXPECT_TRUE(connectionOptions("").empty());
  EXPECT_TRUE(listHasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(listHasToken("keep-alive, Upgraded", "upgrade"));
}

TEST(HeaderRules, NeverDropsFramingOrRoutingHeadersNamedInConnection) {
  EXPECT_FALSE(mayDropConnectionOption("Content-Length"));
  EXPECT_FALSE(mayDropConnectionOption("transfer-encoding"));
  EXPECT_FALSE(mayDropConnectionOption("HOST"));
  EXPECT_TRUE(mayDropConnectionOption("x-private"));
}

TEST(HeaderRules, AppendsTheClientToXForwardedFor) {
  EXPECT_EQ(appendForwardedFor("", "127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(appendForwardedFor("  ", "::1"), "::1");
  EXPECT_EQ(appendForwardedFor("203.0.113.7, 10.0.0.1", "127.0.0.1"),
            "203.0.113.7, 10.0.0.1, 127.0.0.1");
}

TEST(HeaderRules, TellsABrowserNavigationByItsAccept) {
  EXPECT_TRUE(acceptsHtml("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
  EXPECT_TRUE(acceptsHtml("TEXT/HTML; q=1"));
  EXPECT_FALSE(acceptsHtml("*/*"));
  EXPECT_FALSE(acceptsHtml("application/json"));
  EXPECT_FALSE(acceptsHtml("text/htmlx"));
}

}  // namespace
}  // namespace tend
