#include "supervisor/instance_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace tend {

std::string_view statusName(Status s) {
  switch (s) {
    case Status::Starting:
      return "starting";
    case Status::Online:
      return "online";
    case Status::Stopping:
      return "stopping";
    case Status::Stopped:
      return "stopped";
    case Status::Waiting:
      return "waiting";
    case Status::Errored:
      return "errored";
  }
  return "unknown";
}

Transition InstanceMachine::move(Status to, std::vector<Action> actions, std::string reason) {
  // A new process (or none) is not the one whose readiness was awaited.
  if (to != Status::Starting || std::ranges::find(actions, Action::Spawn) != actions.end())
    spawned_ = false;
  Transition t{to, std::move(actions), Duration(0), std::move(reason), to != status_, status_};
  status_ = to;
  if (!t.reason.empty()) last_reason_ = t.reason;
  return t;
}

Transition InstanceMachine::start() {
  user_asked_ = true;
  switch (status_) {
    case Status::Stopped:
    case Status::Errored:
      policy_.reset();
      return move(Status::Starting, {Action::Spawn});
    case Status::Waiting:
      policy_.reset();
      return move(Status::Starting, {Action::CancelRestart, Action::Spawn});
    case Status::Stopping:
      start_after_stop_ = true;
      return move(Status::Stopping);
    case Status::Starting:
    case Status::Online:
      return move(status_);
  }
  return move(status_);
}

Transition InstanceMachine::stop() {
  start_after_stop_ = false;
  restart_cause_.clear();
  failed_start_.clear();
  switch (status_) {
    case Status::Starting:
    case Status::Online:
      return move(Status::Stopping, {Action::SendStopSignal});
    case Status::Waiting:
      return move(Status::Stopped, {Action::CancelRestart});
    case Status::Errored:
      return move(Status::Stopped);
    case Status::Stopping:
    case Status::Stopped:
      return move(status_);
  }
  return move(status_);
}

Transition InstanceMachine::restart() {
  user_asked_ = true;
  switch (status_) {
    case Status::Starting:
    case Status::Online: {
      Transition t = move(Status::Stopping, {Action::SendStopSignal});
      start_after_stop_ = true;
      return t;
    }
    case Status::Stopping:
      start_after_stop_ = true;
      return move(Status::Stopping);
    case Status::Waiting:
    case Status::Stopped:
    case Status::Errored:
      return start();
  }
  return move(status_);
}

Transition InstanceMachine::spawned() {
  assert(status_ == Status::Starting);
  user_asked_ = false;
  spawned_ = true;
  return move(Status::Starting, {Action::ProbeReady});
}

Transition InstanceMachine::adoptRunning() {
  user_asked_ = false;
  return move(Status::Online);
}

Transition InstanceMachine::ready() {
  if (!awaitingReady()) return move(status_);
  return move(Status::Online, {Action::ProbeHealth});
}

Transition InstanceMachine::notReady(const std::string& why) {
  if (!awaitingReady()) return move(status_);
  failed_start_ = why;
  return move(Status::Stopping, {Action::SendStopSignal}, why);
}

Transition InstanceMachine::spawnFailed(TimePoint now, const std::string& why) {
  if (user_asked_) {
    user_asked_ = false;
    return move(Status::Errored, {}, why);
  }
  return crashed(now, Duration(0), ExitStatus{}, why);
}

Transition InstanceMachine::refused(const std::string& why) {
  if (status_ != Status::Starting) return move(status_);
  user_asked_ = false;
  return move(Status::Errored, {}, why);
}

Transition InstanceMachine::crashed(TimePoint now, Duration uptime, const ExitStatus& status,
                                    const std::string& cause) {
  RestartPolicy::Decision d = policy_.onExit(now, uptime, status, cause);
  switch (d.kind) {
    case RestartPolicy::Decision::Kind::Restart: {
      if (d.delay.count() == 0)
        return move(Status::Starting, {Action::RecordRestart, Action::Spawn}, d.reason);
      Transition t =
          move(Status::Waiting, {Action::RecordRestart, Action::ScheduleRestart}, d.reason);
      t.delay = d.delay;
      return t;
    }
    case RestartPolicy::Decision::Kind::StayStopped:
      return move(Status::Stopped, {}, d.reason);
    case RestartPolicy::Decision::Kind::GiveUp:
      return move(Status::Errored, {}, d.reason);
  }
  return move(status_);
}

Transition InstanceMachine::exited(TimePoint now, Duration uptime, const ExitStatus& status) {
  switch (status_) {
    case Status::Stopping:
      if (start_after_stop_) {
        start_after_stop_ = false;
        policy_.reset();
        std::string cause = std::exchange(restart_cause_, {});
        failed_start_.clear();
        return move(Status::Starting, {Action::Spawn},
                    cause.empty() ? status.describe() + "; restarting"
                                  : fmt::format("{}; restarted ({})", cause, status.describe()));
      }
      if (!failed_start_.empty()) {
        // Whatever the stop signal made of its exit, a start that never got ready failed.
        std::string cause = std::exchange(failed_start_, {});
        return crashed(now, Duration(0), ExitStatus{}, cause);
      }
      return move(Status::Stopped, {}, status.describe());
    case Status::Starting:
    case Status::Online:
      return crashed(now, uptime, status);
    case Status::Stopped:
    case Status::Waiting:
    case Status::Errored:
      break;
  }
  return move(status_);
}

Transition InstanceMachine::limitExceeded(const std::string& why) {
  if (status_ != Status::Starting && status_ != Status::Online) return move(status_);
  user_asked_ = false;
  start_after_stop_ = true;
  restart_cause_ = why;
  return move(Status::Stopping, {Action::RecordRestart, Action::SendStopSignal}, why);
}

Transition InstanceMachine::restartDue() {
  if (status_ != Status::Waiting) return move(status_);
  return move(Status::Starting, {Action::Spawn});
}

}  // namespace tend
