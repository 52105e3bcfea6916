// Balancer: each strategy of on_demand.balance over a ready set that changes under it.

#include "gateway/balancer.hpp"

#include <cstdlib>
#include <map>
#include <new>
#include <vector>

#include "gtest/gtest.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEND_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEND_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef TEND_COUNT_ALLOCATIONS
#define TEND_COUNT_ALLOCATIONS 1
#endif

#if TEND_COUNT_ALLOCATIONS
// Counts this thread's allocations through operator new (the sanitizers' builds have their
// own operator new: there the check is skipped).
namespace {
thread_local long g_allocations = 0;
}
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// Not inlined: GCC 12 would otherwise see free() on what it knows came from operator new
// (-Wmismatched-new-delete), at the call sites of the maps and strings below.
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#endif

namespace tend::gateway {
namespace {

using std::chrono::seconds;

std::vector<uint16_t> ports(std::initializer_list<uint16_t> list) {
  return list;
}

// Picks `n` times, each request ending at once; returns how often each port was picked.
std::map<uint16_t, int> spread(Balancer& b, int n, TimePoint now = {}) {
  std::map<uint16_t, int> got;
  for (int i = 0; i < n; ++i) {
    size_t slot = b.pick(now);
    if (slot == Balancer::kNone) {
      ++got[0];
      continue;
    }
    ++got[b.port(slot)];
    b.begin(slot);
    b.end(slot);
  }
  return got;
}

TEST(Balancer, NothingReadyPicksNothing) {
  Balancer b;
  EXPECT_EQ(b.pick({}), Balancer::kNone);
  b.setReady(ports({0}));
  EXPECT_EQ(b.pick({}), Balancer::kNone);
}

TEST(Balancer, RoundRobinTakesEachInTurn) {
  Balancer b;
  b.setReady(ports({3001, 3002, 3003}));
  std::vector<uint16_t> order;
  for (int i = 0; i < 6; ++i) {
    size_t slot = b.pick({});
    order.push_back(b.port(slot));
    b.begin(slot);  // requests stay in flight: round-robin does not care
  }
  EXPECT_EQ(order, (std::vector<uint16_t>{3001, 3002, 3003, 3001, 3002, 3003}));
  EXPECT_EQ(spread(b, 300), (std::map<uint16_t, int>{{3001, 100}, {3002, 100}, {3003, 100}}));
}

TEST(Balancer, RoundRobinFollowsAChangingReadySet) {
  Balancer b;
  b.setReady(ports({3001, 3002, 3003}));
  std::vector<size_t> left;
  b.setReady(ports({3001, 3003}), [&](size_t slot) { left.push_back(slot); });
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(b.port(left[0]), 3002);
  EXPECT_EQ(b.readyCount(), 2u);
  EXPECT_EQ(spread(b, 100), (std::map<uint16_t, int>{{3001, 50}, {3003, 50}}));
  // Scaled up, and a reload's replacement on a new port beside the old ones.
  b.setReady(ports({3001, 3003, 3004, 3010}));
  EXPECT_EQ(spread(b, 400),
            (std::map<uint16_t, int>{{3001, 100}, {3003, 100}, {3004, 100}, {3010, 100}}));
  // Everything gone, then back.
  b.setReady(ports({}));
  EXPECT_EQ(b.pick({}), Balancer::kNone);
  b.setReady(ports({3002}));
  EXPECT_EQ(spread(b, 3), (std::map<uint16_t, int>{{3002, 3}}));
}

TEST(Balancer, ASlotKeepsItsIndexWhileInFlightAndAnotherPortTakesAFreeOne) {
  Balancer b;
  b.setReady(ports({3001, 3002}));
  size_t s2 = b.find(3002);
  b.begin(s2);  // a request in flight on 3002
  uint32_t epoch = b.epoch(s2);
  b.setReady(ports({3001}));
  EXPECT_FALSE(b.ready(s2));
  EXPECT_NE(b.epoch(s2), epoch);  // its connection is not pooled again
  b.setReady(ports({3001, 3005}));
  EXPECT_NE(b.find(3005), s2);  // 3002's slot is still busy
  EXPECT_EQ(b.port(s2), 3002);
  b.end(s2);
  EXPECT_EQ(b.slots(), 3u);
  b.setReady(ports({3001, 3005, 3006}));
  EXPECT_EQ(b.find(3006), s2);  // now free: reused, no new slot
  EXPECT_EQ(b.slots(), 3u);
  // A port that comes back takes its old slot.
  b.setReady(ports({3001}));
  b.setReady(ports({3001, 3005}));
  EXPECT_EQ(b.slots(), 3u);
}

TEST(Balancer, LeastConnPicksTheLeastBusyAndRoundRobinOnTies) {
  Balancer b(Balance::LeastConn);
  b.setReady(ports({3001, 3002, 3003}));
  // Ties: in turn.
  EXPECT_EQ(spread(b, 30), (std::map<uint16_t, int>{{3001, 10}, {3002, 10}, {3003, 10}}));
  // 3001 busy with a slow request: the next ones go to the others.
  size_t s1 = b.find(3001);
  b.begin(s1);
  EXPECT_EQ(spread(b, 20), (std::map<uint16_t, int>{{3002, 10}, {3003, 10}}));
  // 3002 gets two in flight, 3003 one: 3001 and 3003 tie at one.
  size_t s2 = b.find(3002), s3 = b.find(3003);
  b.begin(s2);
  b.begin(s2);
  b.begin(s3);
  size_t next = b.pick({});
  EXPECT_TRUE(next == s1 || next == s3);
  b.begin(next);  // now that one has two
  size_t after = b.pick({});
  EXPECT_EQ(after, next == s1 ? s3 : s1);
  b.end(s1);
  b.end(s1);
  EXPECT_EQ(b.pick({}), s1);
}

TEST(Balancer, ATargetMarkedDownIsPassedOverUntilItsTimeIsUpOrAllAreDown) {
  Balancer b;
  b.setReady(ports({3001, 3002, 3003}));
  TimePoint now{};
  b.markDown(b.find(3002), now + seconds(1));
  EXPECT_EQ(spread(b, 10, now), (std::map<uint16_t, int>{{3001, 5}, {3003, 5}}));
  EXPECT_EQ(spread(b, 30, now + seconds(2)),
            (std::map<uint16_t, int>{{3001, 10}, {3002, 10}, {3003, 10}}));
  b.markDown(b.find(3001), now + seconds(1));
  b.markDown(b.find(3002), now + seconds(1));
  b.markDown(b.find(3003), now + seconds(1));
  EXPECT_EQ(b.pick(now, false), Balancer::kNone);  // a retry has nowhere to go
  EXPECT_NE(b.pick(now), Balancer::kNone);         // a new request tries anyway
  // Leaving and coming back clears the mark.
  b.setReady(ports({3001}));
  b.setReady(ports({3001, 3002}));
  EXPECT_EQ(b.port(b.pick(now, false)), 3002);
}

TEST(Balancer, PickAllocatesNothing) {
#if !TEND_COUNT_ALLOCATIONS
  GTEST_SKIP() << "allocations are not counted under the sanitizers";
#else
  for (Balance mode :
       {Balance::RoundRobin, Balance::LeastConn, Balance::Random, Balance::IpHash,
        Balance::Weighted, Balance::LeastCpu, Balance::LeastMemory, Balance::LeastTime}) {
    Balancer b(mode);
    b.setReady(ports({3001, 3002, 3003, 3004}));
    b.setWeight(b.find(3001), 3);
    b.setLoad(b.find(3002), 12.5, 1000);
    b.observe(b.find(3004), std::chrono::milliseconds(3));
    b.markDown(b.find(3003), TimePoint{} + seconds(5));
    long before = g_allocations;
    for (int i = 0; i < 1000; ++i) {
      size_t slot = b.pick({}, true, static_cast<uint64_t>(i));
      b.begin(slot);
      if (i % 3 != 0) b.end(slot);
    }
    EXPECT_EQ(g_allocations, before);
    // A change of the ready set that only removes and re-adds known ports does not either.
    b.setReady(ports({3001}));
    before = g_allocations;
    static constexpr uint16_t kAll[] = {3001, 3002, 3003, 3004};
    b.setReady(kAll);
    EXPECT_EQ(g_allocations, before);
  }
#endif
}

TEST(Balancer, RandomTakesTheLessBusyOfTwoDrawsAndSpreadsEvenly) {
  Balancer b(Balance::Random);
  b.setSeed(42);
  b.setReady(ports({3001, 3002, 3003, 3004}));
  // The same pick until a request begins: takeIdle() and connect() agree.
  size_t first = b.pick({});
  EXPECT_EQ(b.pick({}), first);
  auto got = spread(b, 4000);
  ASSERT_EQ(got.size(), 4u);
  for (auto [port, n] : got) {
    EXPECT_GT(n, 800) << port;
    EXPECT_LT(n, 1200) << port;
  }
  // Three busy ones: of any two drawn, the idle one (when drawn) wins; it is never passed
  // over for a busier one, and the busiest is never taken while another is drawn with it.
  size_t idle = b.find(3004);
  for (uint16_t p : {3001, 3002, 3003}) b.begin(b.find(p));
  b.begin(b.find(3003));
  std::map<uint16_t, int> busy;
  for (int i = 0; i < 600; ++i) {
    size_t slot = b.pick({});
    ++busy[b.port(slot)];
    b.begin(slot);
    b.end(slot);
  }
  // 3004 is in every pair it is drawn in (half of them), and wins each.
  EXPECT_EQ(busy[3003], 0);
  EXPECT_GT(busy[3004], 250);
  EXPECT_EQ(b.inFlight(idle), 0u);
}

TEST(Balancer, RandomWithTheSameSeedPicksTheSameSequence) {
  Balancer a(Balance::Random), b(Balance::Random);
  a.setSeed(7);
  b.setSeed(7);
  a.setReady(ports({3001, 3002, 3003}));
  b.setReady(ports({3001, 3002, 3003}));
  for (int i = 0; i < 50; ++i) {
    size_t x = a.pick({}), y = b.pick({});
    ASSERT_EQ(x, y);
    a.begin(x);
    b.begin(y);
  }
}

TEST(Balancer, IpHashKeepsAClientOnItsInstanceAndMovesOnlyTheClientsOfOneThatLeaves) {
  Balancer b(Balance::IpHash);
  b.setReady(ports({3001, 3002, 3003, 3004}));
  std::map<std::string, uint16_t> home;
  std::map<uint16_t, int> per_port;
  for (int i = 0; i < 400; ++i) {
    std::string client = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    uint64_t key = Balancer::hashKey(client);
    size_t slot = b.pick({}, true, key);
    home[client] = b.port(slot);
    ++per_port[b.port(slot)];
    // The same client again, with other requests in flight: the same instance.
    b.begin(slot);
    EXPECT_EQ(b.pick({}, true, key), slot);
  }
  ASSERT_EQ(per_port.size(), 4u);
  for (auto [port, n] : per_port) EXPECT_GT(n, 50) << port;
  // 3002 leaves: its clients move, the others stay.
  b.setReady(ports({3001, 3003, 3004}));
  for (const auto& [client, port] : home) {
    uint16_t now = b.port(b.pick({}, true, Balancer::hashKey(client)));
    if (port == 3002) {
      EXPECT_NE(now, 3002);
    } else {
      EXPECT_EQ(now, port) << client;
    }
  }
  // It comes back: everyone is home again.
  b.setReady(ports({3001, 3002, 3003, 3004}));
  for (const auto& [client, port] : home)
    EXPECT_EQ(b.port(b.pick({}, true, Balancer::hashKey(client))), port);
  // A home instance marked down: the client goes elsewhere for the moment.
  const std::string& someone = home.begin()->first;
  size_t own = b.find(home.begin()->second);
  b.markDown(own, TimePoint{} + seconds(1));
  EXPECT_NE(b.pick({}, false, Balancer::hashKey(someone)), own);
}

TEST(Balancer, WeightedIsSmoothAsNginx) {
  Balancer b(Balance::Weighted);
  b.setReady(ports({3001, 3002}));
  b.setWeight(b.find(3001), 3);
  b.setWeight(b.find(3002), 1);
  std::vector<uint16_t> order;
  for (int i = 0; i < 8; ++i) {
    size_t slot = b.pick({});
    order.push_back(b.port(slot));
    b.begin(slot);
    b.end(slot);
  }
  EXPECT_EQ(order, (std::vector<uint16_t>{3001, 3001, 3002, 3001, 3001, 3001, 3002, 3001}));
  // nginx's example: weights 5, 1, 1 give a a b a c a a.
  Balancer c(Balance::Weighted);
  c.setReady(ports({1, 2, 3}));
  c.setWeight(c.find(1), 5);
  order.clear();
  for (int i = 0; i < 7; ++i) {
    size_t slot = c.pick({});
    order.push_back(c.port(slot));
    c.begin(slot);
  }
  EXPECT_EQ(order, (std::vector<uint16_t>{1, 1, 2, 1, 3, 1, 1}));
  EXPECT_EQ(spread(b, 400), (std::map<uint16_t, int>{{3001, 300}, {3002, 100}}));
}

TEST(Balancer, LeastMemoryAndLeastCpuPickTheLightestSample) {
  Balancer m(Balance::LeastMemory);
  m.setReady(ports({3001, 3002, 3003}));
  m.setLoad(m.find(3001), 5, 400u << 20);
  m.setLoad(m.find(3002), 90, 30u << 20);
  m.setLoad(m.find(3003), 1, 200u << 20);
  EXPECT_EQ(spread(m, 10), (std::map<uint16_t, int>{{3002, 10}}));
  Balancer c(Balance::LeastCpu);
  c.setReady(ports({3001, 3002, 3003}));
  c.setLoad(c.find(3001), 5, 400u << 20);
  c.setLoad(c.find(3002), 90, 30u << 20);
  c.setLoad(c.find(3003), 1, 200u << 20);
  EXPECT_EQ(spread(c, 10), (std::map<uint16_t, int>{{3003, 10}}));
  // Equal samples: fewer in flight, then in turn.
  c.setLoad(c.find(3001), 1, 0);
  EXPECT_EQ(spread(c, 10), (std::map<uint16_t, int>{{3001, 5}, {3003, 5}}));
  c.begin(c.find(3003));
  EXPECT_EQ(spread(c, 4), (std::map<uint16_t, int>{{3001, 4}}));
  // New samples move the traffic.
  c.setLoad(c.find(3002), 0, 0);
  EXPECT_EQ(spread(c, 3), (std::map<uint16_t, int>{{3002, 3}}));
}

TEST(Balancer, LeastTimeTriesNewInstancesThenPrefersTheFastOneUntilItIsBusy) {
  using std::chrono::milliseconds;
  Balancer b(Balance::LeastTime);
  b.setReady(ports({3001, 3002}));
  // No samples yet: both are tried.
  EXPECT_EQ(spread(b, 2), (std::map<uint16_t, int>{{3001, 1}, {3002, 1}}));
  size_t fast = b.find(3001), slow = b.find(3002);
  b.observe(fast, milliseconds(10));
  b.observe(slow, milliseconds(50));
  EXPECT_EQ(spread(b, 5), (std::map<uint16_t, int>{{3001, 5}}));
  // The moving average: one slow answer of the fast one does not make it the slow one.
  b.observe(fast, milliseconds(40));
  EXPECT_NEAR(b.ewmaMicros(fast), 19000, 1);
  EXPECT_EQ(b.pick({}), fast);
  // Busy: 19 ms x (1 in flight + 1) = 38 still beats 50 ms x 1; with 2 in flight, 57 does not.
  b.begin(fast);
  EXPECT_EQ(b.pick({}), fast);
  b.begin(fast);
  EXPECT_EQ(b.pick({}), slow);
}

}  // namespace
}  // namespace tend::gateway
