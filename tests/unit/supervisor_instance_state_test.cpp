#include "supervisor/instance_state.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

AppSpec quickSpec() {
  AppSpec s;
  s.name = "app";
  s.backoff = {100ms, 1s, 2.0};
  s.max_restarts = 2;
  return s;
}

class InstanceMachineTest : public ::testing::Test {
 protected:
  FakeClock clock;
  InstanceMachine m{quickSpec()};

  void runOnline() {
    m.start();
    m.spawned();
    m.ready();
    ASSERT_EQ(m.status(), Status::Online);
  }
};

TEST_F(InstanceMachineTest, StartSpawnsAndReadyMakesItOnline) {
  Transition t = m.start();
  EXPECT_EQ(t.status, Status::Starting);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::Spawn});
  EXPECT_TRUE(t.changed);
  EXPECT_FALSE(m.awaitingReady());
  t = m.spawned();
  EXPECT_EQ(t.status, Status::Starting);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::ProbeReady});
  EXPECT_TRUE(m.awaitingReady());
  t = m.ready();
  EXPECT_EQ(t.status, Status::Online);
  EXPECT_EQ(t.from, Status::Starting);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::ProbeHealth});
  EXPECT_FALSE(m.awaitingReady());
}

TEST_F(InstanceMachineTest, ReadyCountsOnlyWhileItsProcessAwaitsIt) {
  m.start();
  EXPECT_FALSE(m.ready().changed);  // no process yet
  EXPECT_FALSE(m.notReady("x").changed);
  runOnline();
  EXPECT_FALSE(m.ready().changed);
  EXPECT_FALSE(m.notReady("late").changed);
  EXPECT_EQ(m.status(), Status::Online);
}

TEST_F(InstanceMachineTest, NotReadyStopsItAndThePolicyRestartsItAsAFailedStart) {
  m.start();
  m.spawned();
  Transition t = m.notReady("not ready after 5s: connection refused");
  EXPECT_EQ(t.status, Status::Stopping);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::SendStopSignal});
  EXPECT_EQ(m.lastReason(), "not ready after 5s: connection refused");
  // The app exits cleanly on SIGTERM: still a failed start, restarted with backoff.
  t = m.exited(clock.now(), 5s, ExitStatus{0, 0});
  EXPECT_EQ(t.status, Status::Waiting);
  EXPECT_EQ(t.actions, (std::vector<Action>{Action::RecordRestart, Action::ScheduleRestart}));
  EXPECT_GT(t.delay.count(), 0);
  EXPECT_NE(t.reason.find("not ready after 5s: connection refused"), std::string::npos) << t.reason;
  EXPECT_EQ(m.restartDue().actions, std::vector<Action>{Action::Spawn});
  EXPECT_FALSE(m.awaitingReady());
}

TEST_F(InstanceMachineTest, NotReadyGivesUpAfterMaxRestarts) {
  for (int i = 0; i < 3; ++i) {
    if (i == 0)
      m.start();
    else
      m.restartDue();
    m.spawned();
    m.notReady("not ready");
    m.exited(clock.now(), 1s, ExitStatus{-1, SIGTERM});
  }
  EXPECT_EQ(m.status(), Status::Errored);
  EXPECT_NE(m.lastReason().find("not ready; gave up"), std::string::npos) << m.lastReason();
}

TEST_F(InstanceMachineTest, NotReadyWithAutorestartOffStaysStopped) {
  AppSpec spec = quickSpec();
  spec.autorestart = AutoRestart::Never;
  InstanceMachine off{spec};
  off.start();
  off.spawned();
  off.notReady("not ready after 1s: no READY=1");
  Transition t = off.exited(clock.now(), 1s, ExitStatus{0, 0});
  EXPECT_EQ(t.status, Status::Stopped);
  EXPECT_NE(t.reason.find("not ready after 1s"), std::string::npos) << t.reason;
}

TEST_F(InstanceMachineTest, AStopDuringANotReadyStopIsAPlainStop) {
  m.start();
  m.spawned();
  m.notReady("not ready");
  m.stop();
  EXPECT_EQ(m.exited(clock.now(), 1s, ExitStatus{0, 0}).status, Status::Stopped);
}

TEST_F(InstanceMachineTest, ACrashWhileAwaitingReadyRespawnsANewProcessToAwait) {
  m.start();
  m.spawned();
  Transition t = m.exited(clock.now(), 10ms, ExitStatus{1, 0});
  if (t.status == Status::Starting) {
    EXPECT_FALSE(m.awaitingReady());
  }
  EXPECT_FALSE(m.ready().changed);
}

TEST_F(InstanceMachineTest, StartingWhatRunsDoesNothing) {
  runOnline();
  Transition t = m.start();
  EXPECT_FALSE(t.changed);
  EXPECT_TRUE(t.actions.empty());
}

TEST_F(InstanceMachineTest, ALimitRestartStopsThenStartsWithItsCause) {
  runOnline();
  Transition t = m.limitExceeded("memory 600mb over max_memory 512mb");
  EXPECT_EQ(t.status, Status::Stopping);
  EXPECT_EQ(t.actions, (std::vector<Action>{Action::RecordRestart, Action::SendStopSignal}));
  EXPECT_EQ(t.reason, "memory 600mb over max_memory 512mb");
  // A second breach while it stops changes nothing.
  EXPECT_TRUE(m.limitExceeded("again").actions.empty());
  t = m.exited(clock.now(), 5s, ExitStatus{-1, SIGTERM});
  EXPECT_EQ(t.status, Status::Starting);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::Spawn});
  EXPECT_NE(t.reason.find("over max_memory"), std::string::npos) << t.reason;
}

TEST_F(InstanceMachineTest, LimitRestartsNeverExhaustMaxRestarts) {
  runOnline();
  for (int i = 0; i < 5; ++i) {  // max_restarts is 2 in quickSpec
    m.limitExceeded("over");
    m.exited(clock.now(), 10ms, ExitStatus{-1, SIGTERM});
    m.spawned();
    m.ready();
    ASSERT_EQ(m.status(), Status::Online);
  }
}

TEST_F(InstanceMachineTest, ALimitBreachOfAStoppedInstanceDoesNothing) {
  Transition t = m.limitExceeded("over");
  EXPECT_EQ(t.status, Status::Stopped);
  EXPECT_TRUE(t.actions.empty());
}

TEST_F(InstanceMachineTest, AStopDuringALimitRestartStaysStopped) {
  runOnline();
  m.limitExceeded("over");
  m.stop();
  Transition t = m.exited(clock.now(), 5s, ExitStatus{-1, SIGTERM});
  EXPECT_EQ(t.status, Status::Stopped);
}

TEST_F(InstanceMachineTest, StopSignalsThenExitMeansStopped) {
  runOnline();
  Transition t = m.stop();
  EXPECT_EQ(t.status, Status::Stopping);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::SendStopSignal});
  t = m.exited(clock.now(), 5s, ExitStatus{-1, SIGTERM});
  EXPECT_EQ(t.status, Status::Stopped);
  EXPECT_TRUE(t.actions.empty());  // a requested stop is never restarted
}

TEST_F(InstanceMachineTest, AnUnrequestedExitRestartsAtOnceAfterALongRun) {
  runOnline();
  Transition t = m.exited(clock.now(), 10s, ExitStatus{-1, SIGKILL});
  EXPECT_EQ(t.status, Status::Starting);
  EXPECT_EQ(t.actions, (std::vector<Action>{Action::RecordRestart, Action::Spawn}));
  EXPECT_EQ(t.reason, "killed by SIGKILL; restarting");
}

TEST_F(InstanceMachineTest, AShortRunWaitsForTheBackoff) {
  runOnline();
  Transition t = m.exited(clock.now(), 10ms, ExitStatus{1, 0});
  EXPECT_EQ(t.status, Status::Waiting);
  EXPECT_EQ(t.actions, (std::vector<Action>{Action::RecordRestart, Action::ScheduleRestart}));
  EXPECT_EQ(t.delay, 100ms);
  t = m.restartDue();
  EXPECT_EQ(t.status, Status::Starting);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::Spawn});
}

TEST_F(InstanceMachineTest, TooManyRestartsEndErrored) {
  runOnline();
  for (int i = 0; i < 2; ++i) {
    m.exited(clock.now(), 10s, ExitStatus{1, 0});
    m.spawned();
    m.ready();
  }
  Transition t = m.exited(clock.now(), 10s, ExitStatus{1, 0});
  EXPECT_EQ(t.status, Status::Errored);
  EXPECT_NE(m.lastReason().find("gave up"), std::string::npos);
  // A user's start clears the history and tries again.
  t = m.start();
  EXPECT_EQ(t.status, Status::Starting);
}

TEST_F(InstanceMachineTest, StopWhileWaitingCancelsTheRestart) {
  runOnline();
  m.exited(clock.now(), 10ms, ExitStatus{1, 0});
  ASSERT_EQ(m.status(), Status::Waiting);
  Transition t = m.stop();
  EXPECT_EQ(t.status, Status::Stopped);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::CancelRestart});
  EXPECT_FALSE(m.restartDue().changed);  // a late timer does nothing
}

TEST_F(InstanceMachineTest, RestartStopsThenStartsAgain) {
  runOnline();
  Transition t = m.restart();
  EXPECT_EQ(t.status, Status::Stopping);
  t = m.exited(clock.now(), 10s, ExitStatus{-1, SIGTERM});
  EXPECT_EQ(t.status, Status::Starting);
  EXPECT_EQ(t.actions, std::vector<Action>{Action::Spawn});
}

TEST_F(InstanceMachineTest, StartWhileStoppingStartsOnceStopped) {
  runOnline();
  m.stop();
  EXPECT_EQ(m.start().status, Status::Stopping);
  EXPECT_EQ(m.exited(clock.now(), 1s, ExitStatus{0, 0}).status, Status::Starting);
}

TEST_F(InstanceMachineTest, StopAfterRestartCancelsThePendingStart) {
  runOnline();
  m.restart();
  m.stop();
  EXPECT_EQ(m.exited(clock.now(), 1s, ExitStatus{0, 0}).status, Status::Stopped);
}

TEST_F(InstanceMachineTest, AFailedSpawnAUserAskedForIsErroredAtOnce) {
  m.start();
  Transition t = m.spawnFailed(clock.now(), "cannot execute x: No such file or directory");
  EXPECT_EQ(t.status, Status::Errored);
  EXPECT_EQ(m.lastReason(), "cannot execute x: No such file or directory");
}

TEST_F(InstanceMachineTest, AFailedAutomaticRespawnGoesThroughThePolicy) {
  runOnline();
  m.exited(clock.now(), 10s, ExitStatus{1, 0});  // restarts at once: Starting
  Transition t = m.spawnFailed(clock.now(), "fork failed: Resource temporarily unavailable");
  EXPECT_EQ(t.status, Status::Waiting);
  EXPECT_EQ(t.delay, 100ms);
  EXPECT_EQ(t.reason, "fork failed: Resource temporarily unavailable; restarting in 100ms");
}

TEST_F(InstanceMachineTest, ARefusedAutomaticRestartIsErroredWithItsReason) {
  runOnline();
  m.exited(clock.now(), 10s, ExitStatus{1, 0});  // a crash restart: Starting
  Transition t = m.refused("pre_start exited with code 3");
  EXPECT_EQ(t.status, Status::Errored);
  EXPECT_TRUE(t.actions.empty());
  EXPECT_EQ(m.lastReason(), "pre_start exited with code 3");
  // A user's start tries again.
  EXPECT_EQ(m.start().actions, std::vector<Action>{Action::Spawn});
}

TEST_F(InstanceMachineTest, ARefusalOutsideAStartChangesNothing) {
  runOnline();
  Transition t = m.refused("pre_start exited with code 1");
  EXPECT_FALSE(t.changed);
  EXPECT_EQ(m.status(), Status::Online);
}

TEST_F(InstanceMachineTest, AnAdoptedProcessIsOnlineAndCanBeStopped) {
  EXPECT_EQ(m.adoptRunning().status, Status::Online);
  EXPECT_EQ(m.stop().status, Status::Stopping);
}

TEST(StatusNames, MatchTheSpec) {
  EXPECT_EQ(statusName(Status::Starting), "starting");
  EXPECT_EQ(statusName(Status::Online), "online");
  EXPECT_EQ(statusName(Status::Stopping), "stopping");
  EXPECT_EQ(statusName(Status::Stopped), "stopped");
  EXPECT_EQ(statusName(Status::Waiting), "waiting");
  EXPECT_EQ(statusName(Status::Errored), "errored");
}

}  // namespace
}  // namespace tend
