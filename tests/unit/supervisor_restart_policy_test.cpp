#include "supervisor/restart_policy.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

using Kind = RestartPolicy::Decision::Kind;

ExitStatus crash(int code = 1) {
  return ExitStatus{code, 0};
}

class RestartPolicyTest : public ::testing::Test {
 protected:
  AppSpec spec() {
    AppSpec s;
    s.name = "app";
    s.backoff = {100ms, 1s, 2.0};
    s.min_uptime = 1s;
    s.max_restarts = 15;
    s.restart_window = 15min;
    return s;
  }
  FakeClock clock;
};

TEST_F(RestartPolicyTest, ACrashAfterALongRunRestartsAtOnce) {
  RestartPolicy p(spec());
  auto d = p.onExit(clock.now(), 10s, crash());
  EXPECT_EQ(d.kind, Kind::Restart);
  EXPECT_EQ(d.delay, 0ms);
  EXPECT_EQ(d.reason, "exited with code 1; restarting");
}

TEST_F(RestartPolicyTest, BacksOffExponentiallyUpToTheCap) {
  RestartPolicy p(spec());
  std::vector<int64_t> delays;
  for (int i = 0; i < 6; ++i) {
    auto d = p.onExit(clock.now(), 10ms, crash());
    ASSERT_EQ(d.kind, Kind::Restart);
    delays.push_back(d.delay.count());
    clock.advance(d.delay + 10ms);
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000}));
}

TEST_F(RestartPolicyTest, ARunLongerThanMinUptimeResetsTheBackoff) {
  RestartPolicy p(spec());
  p.onExit(clock.now(), 10ms, crash());
  p.onExit(clock.now(), 10ms, crash());
  EXPECT_EQ(p.consecutiveShortRuns(), 2);
  auto d = p.onExit(clock.now(), 2s, crash());
  EXPECT_EQ(d.delay, 0ms);
  EXPECT_EQ(p.consecutiveShortRuns(), 0);
  EXPECT_EQ(p.onExit(clock.now(), 10ms, crash()).delay, 100ms);
}

TEST_F(RestartPolicyTest, RestartDelayIsAddedToTheBackoff) {
  AppSpec s = spec();
  s.restart_delay = 250ms;
  RestartPolicy p(s);
  EXPECT_EQ(p.onExit(clock.now(), 10s, crash()).delay, 250ms);
  EXPECT_EQ(p.onExit(clock.now(), 10ms, crash()).delay, 350ms);
}

TEST_F(RestartPolicyTest, GivesUpAfterMaxRestartsWithinTheWindow) {
  AppSpec s = spec();
  s.max_restarts = 3;
  s.restart_window = 1min;
  RestartPolicy p(s);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(p.onExit(clock.now(), 10s, crash()).kind, Kind::Restart);
    clock.advance(1s);
  }
  auto d = p.onExit(clock.now(), 10s, crash(2));
  EXPECT_EQ(d.kind, Kind::GiveUp);
  EXPECT_EQ(d.reason, "exited with code 2; gave up after 3 restarts within 1m");
}

TEST_F(RestartPolicyTest, RestartsOlderThanTheWindowNoLongerCount) {
  AppSpec s = spec();
  s.max_restarts = 2;
  s.restart_window = 1min;
  RestartPolicy p(s);
  p.onExit(clock.now(), 10s, crash());
  p.onExit(clock.now(), 10s, crash());
  clock.advance(61s);
  EXPECT_EQ(p.onExit(clock.now(), 10s, crash()).kind, Kind::Restart);
}

TEST_F(RestartPolicyTest, MaxRestartsZeroNeverRestarts) {
  AppSpec s = spec();
  s.max_restarts = 0;
  RestartPolicy p(s);
  EXPECT_EQ(p.onExit(clock.now(), 10s, crash()).kind, Kind::GiveUp);
}

TEST_F(RestartPolicyTest, AutorestartOffStaysStopped) {
  AppSpec s = spec();
  s.autorestart = AutoRestart::Never;
  RestartPolicy p(s);
  auto d = p.onExit(clock.now(), 10s, crash());
  EXPECT_EQ(d.kind, Kind::StayStopped);
  EXPECT_EQ(d.reason, "exited with code 1; autorestart is off");
}

TEST_F(RestartPolicyTest, OnFailureRestartsFailuresAndSignalsButNotCleanExits) {
  AppSpec s = spec();
  s.autorestart = AutoRestart::OnFailure;
  RestartPolicy p(s);
  EXPECT_EQ(p.onExit(clock.now(), 10s, ExitStatus{0, 0}).kind, Kind::StayStopped);
  EXPECT_EQ(p.onExit(clock.now(), 10s, ExitStatus{1, 0}).kind, Kind::Restart);
  EXPECT_EQ(p.onExit(clock.now(), 10s, ExitStatus{-1, SIGKILL}).kind, Kind::Restart);
}

TEST_F(RestartPolicyTest, ResetForgetsHistory) {
  AppSpec s = spec();
  s.max_restarts = 1;
  RestartPolicy p(s);
  p.onExit(clock.now(), 10ms, crash());
  p.reset();
  auto d = p.onExit(clock.now(), 10ms, crash());
  EXPECT_EQ(d.kind, Kind::Restart);
  EXPECT_EQ(d.delay, 100ms);
}

TEST(ExitStatus, DescribesCodesSignalsAndUnknownExits) {
  EXPECT_EQ((ExitStatus{3, 0}.describe()), "exited with code 3");
  EXPECT_EQ((ExitStatus{-1, SIGSEGV}.describe()), "killed by SIGSEGV");
  EXPECT_EQ(ExitStatus{}.describe(), "exited (status unknown)");
}

}  // namespace
}  // namespace tend
