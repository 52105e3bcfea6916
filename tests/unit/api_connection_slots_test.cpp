// ConnectionSlots: the HTTP API's caps, unauthenticated connections apart, with no sockets.

#include "api/connection_slots.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace tend {
namespace {

class Slots : public ::testing::Test {
 protected:
  // Admits a connection named `name`; its eviction is recorded in `evicted`.
  std::optional<ConnectionSlots::Slot> connect(ConnectionSlots& slots, const std::string& name) {
    auto slot = slots.admit();
    if (slot) slot->onEvict([this, name] { evicted.push_back(name); });
    return slot;
  }
  std::vector<std::string> evicted;
};

TEST_F(Slots, UnauthenticatedConnectionsHaveTheirOwnCapAndTheOldestWaitingMakesRoom) {
  ConnectionSlots slots({.total = 10, .unauthenticated = 3});
  auto a = connect(slots, "a");
  auto b = connect(slots, "b");
  auto c = connect(slots, "c");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(slots.unauthenticated(), 3u);
  auto d = connect(slots, "d");
  ASSERT_TRUE(d);
  EXPECT_EQ(evicted, std::vector<std::string>{"a"});
  EXPECT_EQ(slots.unauthenticated(), 3u);
  EXPECT_EQ(slots.open(), 3u);
  a.reset();  // the evicted session ends later: nothing more to give back
  EXPECT_EQ(slots.open(), 3u);
  // b sent a request and waits again: it goes to the back of the line; c is now oldest.
  b->waiting(false);
  b->waiting(true);
  ASSERT_TRUE(connect(slots, "e"));
  EXPECT_EQ(evicted, (std::vector<std::string>{"a", "c"}));
}

TEST_F(Slots, AConnectionInTheMiddleOfARequestIsNotEvictedAndTheNewcomerIsRefusedInstead) {
  ConnectionSlots slots({.total = 10, .unauthenticated = 2});
  auto a = connect(slots, "a");
  auto b = connect(slots, "b");
  a->waiting(false);
  b->waiting(false);
  EXPECT_FALSE(connect(slots, "c"));
  EXPECT_TRUE(evicted.empty());
  b->waiting(true);
  EXPECT_TRUE(connect(slots, "d"));
  EXPECT_EQ(evicted, std::vector<std::string>{"b"});
}

TEST_F(Slots, AnAuthenticatedConnectionLeavesTheUnauthenticatedCapAndIsNeverEvicted) {
  ConnectionSlots slots({.total = 4, .unauthenticated = 1});
  auto token_holder = connect(slots, "token holder");
  token_holder->authenticated();
  EXPECT_TRUE(token_holder->isAuthenticated());
  EXPECT_EQ(slots.unauthenticated(), 0u);
  token_holder->waiting(true);  // idle between requests, still not evictable
  std::vector<std::optional<ConnectionSlots::Slot>> idle;
  for (int i = 0; i < 50; ++i) idle.push_back(connect(slots, "idle" + std::to_string(i)));
  EXPECT_EQ(slots.unauthenticated(), 1u);
  EXPECT_EQ(evicted.size(), 49u);
  EXPECT_EQ(std::count(evicted.begin(), evicted.end(), "token holder"), 0);
  EXPECT_EQ(slots.open(), 2u);
}

TEST_F(Slots, AFullTotalMakesRoomFromUnauthenticatedOnesOrRefuses) {
  ConnectionSlots slots({.total = 3, .unauthenticated = 3});
  std::vector<std::optional<ConnectionSlots::Slot>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(connect(slots, "auth" + std::to_string(i)));
    held.back()->authenticated();
  }
  held.push_back(connect(slots, "idle"));
  ASSERT_TRUE(held.back());
  // Full: the idle unauthenticated one goes.
  held.push_back(connect(slots, "new"));
  ASSERT_TRUE(held.back());
  EXPECT_EQ(evicted, std::vector<std::string>{"idle"});
  held.back()->authenticated();
  // Full of authenticated connections: refused.
  EXPECT_FALSE(connect(slots, "late"));
  held.clear();
  EXPECT_EQ(slots.open(), 0u);
  EXPECT_TRUE(connect(slots, "after"));
}

TEST_F(Slots, AMovedSlotIsGivenBackOnce) {
  ConnectionSlots slots({.total = 2, .unauthenticated = 2});
  auto a = connect(slots, "a");
  a->authenticated();
  ConnectionSlots::Slot moved = std::move(*a);
  a.reset();
  EXPECT_EQ(slots.open(), 1u);
  EXPECT_TRUE(moved.isAuthenticated());
  moved = ConnectionSlots::Slot();
  EXPECT_EQ(slots.open(), 0u);
}

}  // namespace
}  // namespace tend
