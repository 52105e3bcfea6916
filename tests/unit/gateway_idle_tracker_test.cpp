#include "gateway/idle_tracker.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tend {
namespace {

using namespace std::chrono_literals;

class IdleTrackerTest : public ::testing::Test {
 protected:
  FakeClock clock;
  IdleTracker tracker{clock, 5min};
};

TEST_F(IdleTrackerTest, MayStopOnceIdleTimeoutHasPassedWithNothingOpen) {
  EXPECT_FALSE(tracker.mayStop());
  EXPECT_EQ(tracker.nextCheck(), clock.now() + 5min);
  clock.advance(5min - 1ms);
  EXPECT_FALSE(tracker.mayStop());
  clock.advance(1ms);
  EXPECT_TRUE(tracker.mayStop());
}

TEST_F(IdleTrackerTest, AnOpenRequestHoldsOffTheStopHoweverLongItTakes) {
  auto guard = tracker.beginRequest();
  EXPECT_EQ(tracker.inFlight(), 1);
  EXPECT_EQ(tracker.nextCheck(), std::nullopt);
  clock.advance(1h);
  EXPECT_FALSE(tracker.mayStop());
  guard.release();
  EXPECT_EQ(tracker.inFlight(), 0);
  // Idle time counts from the end of the request, not its start.
  EXPECT_EQ(tracker.nextCheck(), clock.now() + 5min);
  EXPECT_FALSE(tracker.mayStop());
  clock.advance(5min);
  EXPECT_TRUE(tracker.mayStop());
}

TEST_F(IdleTrackerTest, AnOpenStreamHoldsOffTheStop) {
  {
    auto stream = tracker.beginStream();
    EXPECT_EQ(tracker.openStreams(), 1);
    EXPECT_EQ(tracker.inFlight(), 0);
    clock.advance(10min);
    EXPECT_FALSE(tracker.mayStop());
  }
  EXPECT_EQ(tracker.openStreams(), 0);
  clock.advance(5min);
  EXPECT_TRUE(tracker.mayStop());
}

TEST_F(IdleTrackerTest, ARequestPostponesTheStop) {
  clock.advance(4min);
  tracker.beginRequest().release();  // begins and ends at once
  clock.advance(4min);
  EXPECT_FALSE(tracker.mayStop());
  clock.advance(1min);
  EXPECT_TRUE(tracker.mayStop());
}

TEST_F(IdleTrackerTest, AMovedGuardCountsOnceAndReleaseIsIdempotent) {
  auto a = tracker.beginRequest();
  auto b = std::move(a);
  EXPECT_FALSE(a.active());
  EXPECT_TRUE(b.active());
  EXPECT_EQ(tracker.inFlight(), 1);
  IdleTracker::ActivityGuard c;
  c = std::move(b);
  EXPECT_EQ(tracker.inFlight(), 1);
  c.release();
  c.release();
  a.release();
  EXPECT_EQ(tracker.inFlight(), 0);
  // Assigning over an active guard ends its activity.
  auto d = tracker.beginRequest();
  auto e = tracker.beginStream();
  d = std::move(e);
  EXPECT_EQ(tracker.inFlight(), 0);
  EXPECT_EQ(tracker.openStreams(), 1);
}

TEST_F(IdleTrackerTest, CountsReturnToZeroWhateverOrderGuardsEndIn) {
  std::vector<IdleTracker::ActivityGuard> guards;
  for (int i = 0; i < 100; ++i) {
    guards.push_back(i % 3 == 0 ? tracker.beginStream() : tracker.beginRequest());
  }
  EXPECT_EQ(tracker.inFlight(), 66);
  EXPECT_EQ(tracker.openStreams(), 34);
  for (size_t i = 0; i < guards.size(); i += 2) guards[i].release();
  guards.clear();  // the rest, as an aborted connection's destructor would
  EXPECT_EQ(tracker.inFlight(), 0);
  EXPECT_EQ(tracker.openStreams(), 0);
  EXPECT_EQ(tracker.requests(), 66u);
}

TEST_F(IdleTrackerTest, CallsOnIdleWhenTheLastActivityEnds) {
  int calls = 0;
  tracker.setOnIdle([&] { ++calls; });
  auto a = tracker.beginRequest();
  auto b = tracker.beginStream();
  a.release();
  EXPECT_EQ(calls, 0);
  b.release();
  EXPECT_EQ(calls, 1);
  tracker.beginRequest().release();
  EXPECT_EQ(calls, 2);
}

TEST_F(IdleTrackerTest, AGuardMayOutliveItsTracker) {
  int calls = 0;
  IdleTracker::ActivityGuard guard;
  {
    IdleTracker t(clock, 1min);
    t.setOnIdle([&] { ++calls; });
    guard = t.beginRequest();
  }
  guard.release();
  EXPECT_EQ(calls, 0);  // the owner is gone: no callback into it
}

TEST_F(IdleTrackerTest, TouchAndANewTimeoutMoveTheNextCheck) {
  clock.advance(3min);
  tracker.touch();
  EXPECT_EQ(tracker.nextCheck(), clock.now() + 5min);
  tracker.setIdleTimeout(1min);
  EXPECT_EQ(tracker.nextCheck(), clock.now() + 1min);
  EXPECT_EQ(tracker.idleTimeout(), 1min);
}

TEST_F(IdleTrackerTest, RemembersTheWallTimeOfTheLastRequest) {
  EXPECT_EQ(tracker.lastRequestWallMs(), 0);
  clock.advance(1s);
  tracker.beginRequest().release();
  EXPECT_EQ(tracker.lastRequestWallMs(), clock.wallMillis());
  EXPECT_EQ(tracker.requests(), 1u);
}

}  // namespace
}  // namespace tend
