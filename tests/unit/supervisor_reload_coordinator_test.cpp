#include "supervisor/reload_coordinator.hpp"

#include <gtest/gtest.h>

#include <map>

namespace tend {
namespace {

using Kind = ReloadStep::Kind;

// A fake app: each slot's old instance and replacement, changed by the test as the
// supervisor would after carrying out the steps.
class ReloadCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int slot : {0, 1}) slots[slot] = ReloadSlotView{};
  }
  std::vector<ReloadStep> advance(ReloadCoordinator& c) {
    return c.advance(now, [this](int slot) {
      auto it = slots.find(slot);
      if (it == slots.end()) {
        ReloadSlotView gone;
        gone.exists = false;
        return gone;
      }
      return it->second;
    });
  }
  static std::vector<Kind> kinds(const std::vector<ReloadStep>& steps) {
    std::vector<Kind> out;
    for (const auto& s : steps) out.push_back(s.kind);
    return out;
  }

  TimePoint now{};
  std::map<int, ReloadSlotView> slots;
};

TEST_F(ReloadCoordinatorTest, InPlaceDrainsThenRestartsEachSlotInTurn) {
  ReloadCoordinator c("web", {0, 1}, 1, /*in_place=*/true, 5s);
  slots[0].old_run = 7;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::Drain, Kind::RestartInPlace}));
  EXPECT_FALSE(c.draining(0));  // restarting: out of rotation by its own status
  slots[0].old_status = Status::Stopping;
  EXPECT_TRUE(advance(c).empty());
  slots[0].old_status = Status::Starting;
  EXPECT_TRUE(advance(c).empty());
  slots[0].old_status = Status::Online;
  slots[0].old_run = 8;     // a new process
  auto steps = advance(c);  // slot 0 done: slot 1 begins
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].slot, 1);
  EXPECT_EQ(steps[1].kind, Kind::RestartInPlace);
  slots[1].old_run = 1;
  EXPECT_TRUE(advance(c).empty());
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.errors().empty());
}

TEST_F(ReloadCoordinatorTest, RequestsInFlightHoldTheDrainUntilTheDeadline) {
  ReloadCoordinator c("web", {0}, 1, true, 5s);
  slots[0].in_flight = 2;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::Drain, Kind::PollDrain}));
  EXPECT_TRUE(c.draining(0));
  now += 1s;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::PollDrain}));
  slots[0].in_flight = 0;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::RestartInPlace}));

  ReloadCoordinator late("web", {1}, 1, true, 5s);
  slots[1].in_flight = 1;
  advance(late);
  now += 5s;  // the deadline: it goes even with a request still in flight
  EXPECT_EQ(kinds(advance(late)), (std::vector<Kind>{Kind::RestartInPlace}));
}

TEST_F(ReloadCoordinatorTest, AnInstanceThatDoesNotComeBackEndsTheReloadThere) {
  ReloadCoordinator c("web", {0, 1}, 1, true, 5s);
  advance(c);
  slots[0].old_status = Status::Errored;
  slots[0].old_reason = "exited with code 3";
  EXPECT_TRUE(advance(c).empty());  // slot 1 is not begun
  EXPECT_TRUE(c.finished());
  ASSERT_EQ(c.errors().size(), 1u);
  EXPECT_EQ(c.errors()[0],
            "web[0]: did not get back online after the reload's restart (exited with code 3)");
}

TEST_F(ReloadCoordinatorTest, BesideStartsAReplacementAndSwapsItInOnceTheOldOneStopped) {
  ReloadCoordinator c("web", {0}, 1, /*in_place=*/false, 5s);
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::StartReplacement}));
  EXPECT_EQ(c.replacementSlots(), (std::vector<int>{0}));
  slots[0].new_status = Status::Starting;
  slots[0].new_running = true;
  EXPECT_TRUE(advance(c).empty());
  slots[0].new_status = Status::Online;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::Drain, Kind::StopOld}));
  EXPECT_TRUE(c.draining(0));
  EXPECT_TRUE(c.replacementServes(0));
  slots[0].old_status = Status::Stopping;
  EXPECT_TRUE(advance(c).empty());
  slots[0].old_status = Status::Stopped;
  slots[0].old_running = false;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::SwapIn}));
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.errors().empty());
}

TEST_F(ReloadCoordinatorTest, AReplacementThatFailsIsDiscardedAndTheOldOneKeepsRunning) {
  ReloadCoordinator c("web", {0, 1}, 1, false, 5s);
  advance(c);
  slots[0].new_status = Status::Waiting;
  slots[0].new_reason = "exited with code 3";
  slots[0].old_pid = 42;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::StopReplacement}));
  EXPECT_FALSE(c.replacementServes(0));
  slots[0].new_status = Status::Stopped;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::DiscardReplacement}));
  EXPECT_TRUE(c.finished());
  ASSERT_EQ(c.errors().size(), 1u);
  EXPECT_EQ(c.errors()[0],
            "web[0]: the new instance did not get ready (exited with code 3); the old one (pid "
            "42) keeps running");
}

TEST_F(ReloadCoordinatorTest, BatchesBeginSeveralSlotsAtOnce) {
  ReloadCoordinator c("web", {0, 1}, 2, false, 5s);
  auto steps = advance(c);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].slot, 0);
  EXPECT_EQ(steps[1].slot, 1);
}

TEST_F(ReloadCoordinatorTest, ASlotWithNothingOnlineIsRestartedThePlainWay) {
  ReloadCoordinator c("web", {0}, 1, false, 5s);
  slots[0].old_status = Status::Errored;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::RestartPlain}));
  EXPECT_TRUE(c.finished());
}

TEST_F(ReloadCoordinatorTest, AnAbortStopsReplacementsAndBeginsNothingMore) {
  ReloadCoordinator c("web", {0, 1}, 1, false, 5s);
  advance(c);
  slots[0].new_status = Status::Starting;
  auto steps = c.abort("its configuration changed");
  EXPECT_EQ(kinds(steps), (std::vector<Kind>{Kind::StopReplacement, Kind::Undrain}));
  slots[0].new_status = Status::Stopped;
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::DiscardReplacement}));
  EXPECT_TRUE(c.finished());
  EXPECT_EQ(c.errors(),
            (std::vector<std::string>{"web: reload stopped: its configuration changed"}));
}

TEST_F(ReloadCoordinatorTest, ASlotThatGoesAwayIsLeft) {
  ReloadCoordinator c("web", {0, 1}, 2, true, 5s);
  slots[1].in_flight = 1;
  advance(c);
  slots.erase(1);  // scaled down while it drained
  EXPECT_EQ(kinds(advance(c)), (std::vector<Kind>{Kind::Undrain}));
  EXPECT_FALSE(c.draining(1));
}

}  // namespace
}  // namespace tend
