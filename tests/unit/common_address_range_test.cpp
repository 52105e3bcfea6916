#include "common/address_range.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

bool holds(const std::string& range, const std::string& address) {
  auto r = parseAddressRange(range);
  auto a = parseIpAddress(address);
  EXPECT_TRUE(r.has_value()) << range;
  EXPECT_TRUE(a.has_value()) << address;
  return r && a && r->contains(*a);
}

TEST(AddressRange, ASingleAddressHoldsOnlyItself) {
  EXPECT_TRUE(holds("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(holds("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(holds("::1", "::1"));
  EXPECT_FALSE(holds("::1", "::2"));
}

TEST(AddressRange, ACidrBlockHoldsItsAddresses) {
  EXPECT_TRUE(holds("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(holds("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(holds("192.168.1.0/24", "192.168.1.77"));
  EXPECT_FALSE(holds("192.168.1.0/24", "192.168.2.77"));
  EXPECT_TRUE(holds("172.16.0.0/12", "172.31.255.255"));
  EXPECT_FALSE(holds("172.16.0.0/12", "172.32.0.0"));
  EXPECT_TRUE(holds("fd00::/8", "fd12:3456::1"));
  EXPECT_FALSE(holds("fd00::/8", "fe80::1"));
  EXPECT_TRUE(holds("0.0.0.0/0", "203.0.113.9"));
  EXPECT_FALSE(holds("0.0.0.0/0", "2001:db8::1"));  // every IPv4 address, no IPv6 one
  EXPECT_TRUE(holds("::/0", "2001:db8::1"));
}

TEST(AddressRange, BitsPastThePrefixAreIgnoredAsNginxDoes) {
  EXPECT_TRUE(holds("10.1.2.3/8", "10.9.9.9"));
}

// A socket listening on [::] sees IPv4 peers as ::ffff:a.b.c.d.
TEST(AddressRange, AnIpv4RangeHoldsIpv4MappedPeers) {
  EXPECT_TRUE(holds("10.0.0.0/8", "::ffff:10.1.2.3"));
  EXPECT_TRUE(holds("127.0.0.1", "::ffff:127.0.0.1"));
  EXPECT_FALSE(holds("127.0.0.1", "::1"));
}

TEST(AddressRange, RefusesWhatIsNotAnAddressOrBlock) {
  for (std::string bad : {"", "localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                          "10.0.0/8", "10.0.0.0/-1", "1.2.3.4.5", "10.0.0.0/8/8"}) {
    auto r = parseAddressRange(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_NE(r.error().find("'" + bad), std::string::npos) << r.error();
    }
  }
  EXPECT_FALSE(parseIpAddress("example.com").has_value());
}

}  // namespace
}  // namespace tend
