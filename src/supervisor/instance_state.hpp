#pragma once
// InstanceMachine: the life of one instance as an explicit table of (status, event) ->
// (new status, actions), in the manner of s6. It decides; the Supervisor carries the
// actions out (spawning, signalling, timers) and feeds back what happened as events.
//
// Pure logic: no processes, no timers, time comes in as arguments. Not thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "supervisor/restart_policy.hpp"

namespace tend {

enum class Status { Starting, Online, Stopping, Stopped, Waiting, Errored };
std::string_view statusName(Status s);

enum class Action {
  Spawn,            // start a new process
  SendStopSignal,   // stop_signal to the process group, and arm the kill timer
  ScheduleRestart,  // arm the restart timer for `delay`
  CancelRestart,    // disarm the restart timer
  RecordRestart,    // append to restart history (reason in `reason`)
  ProbeReady,       // run the ready probe (ready() or notReady() follows)
  ProbeHealth,      // run the health (liveness) checks while online
};

struct Transition {
  Status status;
  std::vector<Action> actions;
  Duration delay{0};              // for ScheduleRestart
  std::string reason;             // why, for people and the restart history
  bool changed = false;           // the status moved
  Status from = Status::Stopped;  // the status before
};

class InstanceMachine {
 public:
  explicit InstanceMachine(const AppSpec& spec) : policy_(spec) {}

  Status status() const { return status_; }
  const std::string& lastReason() const { return last_reason_; }
  // Starting, with its process running, until its ready probe passes.
  bool awaitingReady() const { return status_ == Status::Starting && spawned_; }

  // A user asked for it to run. Clears crash history.
  Transition start();
  // A user asked it to stop.
  Transition stop();
  // A user asked for a restart: stop (if running) then start.
  Transition restart();
  // The process now exists: its ready probe runs (ProbeReady).
  Transition spawned();
  // Spawning failed before the program ran (fork, exec, cwd...). When a user's start or
  // restart asked for this spawn, the instance is `errored` at once (retrying a program
  // that cannot be executed helps nobody); an automatic restart goes through the policy.
  Transition spawnFailed(TimePoint now, const std::string& why);
  // Starting it was refused before its program ran, for a reason a retry would not change
  // (its pre_start command failed, its `user` cannot be had): `errored` at once, whoever
  // asked, with `why` kept as the reason.
  Transition refused(const std::string& why);
  // The daemon found this instance's process still running from before it restarted.
  Transition adoptRunning();
  // Its ready probe passed: online, and its health checks run (ProbeHealth).
  Transition ready();
  // Its ready probe did not pass in time: a failed start. The process is stopped, and the
  // restart policy then decides as for a crash (a run that never got ready counts as a
  // short one), with `why` as the cause.
  Transition notReady(const std::string& why);
  // The process (and its group) is gone.
  Transition exited(TimePoint now, Duration uptime, const ExitStatus& status);
  // The restart timer fired.
  Transition restartDue();
  // The running process broke a limit (max_memory, a failing health check): restart it,
  // recording `why` as the restart's cause. Not a user's restart, and not a crash: the
  // restart policy's backoff and max_restarts do not apply (as PM2's max_memory_restart).
  Transition limitExceeded(const std::string& why);

 private:
  Transition move(Status to, std::vector<Action> actions = {}, std::string reason = {});
  Transition crashed(TimePoint now, Duration uptime, const ExitStatus& status,
                     const std::string& cause = {});

  Status status_ = Status::Stopped;
  bool start_after_stop_ = false;
  std::string restart_cause_;  // why the stop in progress restarts (limitExceeded)
  std::string failed_start_;   // why the stop in progress is a failed start (notReady)
  bool spawned_ = false;       // in Starting: the process exists
  bool user_asked_ = false;    // the pending spawn comes from a user's start/restart
  std::string last_reason_;
  RestartPolicy policy_;
};

}  // namespace tend
