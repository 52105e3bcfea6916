#include "supervisor/port_allocator.hpp"

#include <gtest/gtest.h>

#include <set>

namespace tend {
namespace {

class FakeProbe : public PortProbe {
 public:
  bool isFree(uint16_t port) override { return !busy.count(port); }
  std::set<uint16_t> busy;
};

PortSpec fixed(uint16_t p) {
  return {PortSpec::Kind::Fixed, p, p};
}
PortSpec range(uint16_t a, uint16_t b) {
  return {PortSpec::Kind::Range, a, b};
}
PortSpec autoIn(uint16_t a, uint16_t b) {
  return {PortSpec::Kind::Auto, a, b};
}

class PortAllocatorTest : public ::testing::Test {
 protected:
  FakeProbe probe;
  PortAllocator ports{probe};
};

TEST_F(PortAllocatorTest, NoPortSpecGivesNoPorts) {
  auto r = ports.allocate("a", PortSpec{}, 2);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST_F(PortAllocatorTest, ARangeGivesOnePortPerInstance) {
  auto r = ports.allocate("a", range(3001, 3004), 3);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<uint16_t>{3001, 3002, 3003}));
}

TEST_F(PortAllocatorTest, ARangeTooSmallIsAnError) {
  auto r = ports.allocate("a", range(3001, 3002), 3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "port range 3001-3002 has 2 ports for 3 instances");
}

TEST_F(PortAllocatorTest, TwoAppsNeverGetTheSamePort) {
  ASSERT_TRUE(ports.allocate("a", fixed(3000), 1));
  auto r = ports.allocate("b", fixed(3000), 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "port 3000 is already assigned to app 'a'");
  auto overlap = ports.allocate("c", range(2999, 3001), 3);
  ASSERT_FALSE(overlap);
  EXPECT_EQ(overlap.error(), "port 3000 is already assigned to app 'a'");
}

TEST_F(PortAllocatorTest, APortTakenByAnotherProcessIsReportedNotTaken) {
  probe.busy.insert(3000);
  auto r = ports.allocate("a", fixed(3000), 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "port 3000 is in use by another process");
  EXPECT_TRUE(ports.portsOf("a").empty());
}

TEST_F(PortAllocatorTest, AnAppKeepsItsOwnPortsWithoutProbingThemAgain) {
  ASSERT_TRUE(ports.allocate("a", fixed(3000), 1));
  probe.busy.insert(3000);  // its own process listens there now
  auto r = ports.allocate("a", fixed(3000), 1);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, std::vector<uint16_t>{3000});
}

TEST_F(PortAllocatorTest, AutoSkipsBusyAndAssignedPorts) {
  ASSERT_TRUE(ports.allocate("a", fixed(4000), 1));
  probe.busy.insert(4001);
  auto r = ports.allocate("b", autoIn(4000, 4010), 2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 2u);
  for (uint16_t p : *r) {
    EXPECT_NE(p, 4000);
    EXPECT_NE(p, 4001);
    EXPECT_GE(p, 4000);
    EXPECT_LE(p, 4010);
  }
  EXPECT_NE((*r)[0], (*r)[1]);
}

TEST_F(PortAllocatorTest, AutoWithNoFreePortFailsAndChangesNothing) {
  probe.busy = {5000, 5001};
  auto r = ports.allocate("a", autoIn(5000, 5001), 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "no free port in 5000-5001 (1 needed)");
}

TEST_F(PortAllocatorTest, ReleasedPortsCanBeTakenByAnotherApp) {
  ASSERT_TRUE(ports.allocate("a", fixed(3000), 1));
  ports.release("a");
  EXPECT_TRUE(ports.allocate("b", fixed(3000), 1));
}

TEST_F(PortAllocatorTest, ClaimedPortsFromTheStoreAreRespected) {
  ports.claim("a", {3005});
  auto r = ports.allocate("b", fixed(3005), 1);
  ASSERT_FALSE(r);
}

TEST_F(PortAllocatorTest, ScalingKeepsEachInstancesPortAndNeverHandsOutASiblings) {
  auto two = ports.allocate("a", range(5001, 5003), 2);
  ASSERT_TRUE(two);
  // The instances' own processes listen there now: the probe says taken, they keep them.
  probe.busy = {5001, 5002};
  auto three = ports.allocate("a", range(5001, 5003), 3);
  ASSERT_TRUE(three);
  EXPECT_EQ(*three, (std::vector<uint16_t>{5001, 5002, 5003}));
  auto back = ports.allocate("a", range(5001, 5003), 2);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, (std::vector<uint16_t>{5001, 5002}));
  EXPECT_TRUE(ports.allocate("b", fixed(5003), 1));  // given back when scaled down
}

TEST_F(PortAllocatorTest, AutoPortsStayWithTheirInstanceWhenScaled) {
  auto two = ports.allocate("a", autoIn(6000, 6009), 2);
  ASSERT_TRUE(two);
  probe.busy = {(*two)[0], (*two)[1]};
  auto three = ports.allocate("a", autoIn(6000, 6009), 3);
  ASSERT_TRUE(three);
  EXPECT_EQ((*three)[0], (*two)[0]);
  EXPECT_EQ((*three)[1], (*two)[1]);
  EXPECT_NE((*three)[2], (*two)[0]);
  EXPECT_NE((*three)[2], (*two)[1]);
}

}  // namespace
}  // namespace tend
