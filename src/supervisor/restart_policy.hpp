#pragma once
// RestartPolicy decides what happens when an instance exits without tend asking it to:
// restart now, restart after a delay (restart_delay plus exponential backoff for runs
// shorter than min_uptime), stay stopped (autorestart false, or on-failure and exit 0),
// or give up as `errored` after max_restarts within restart_window.
//
// Pure logic: time comes in as arguments. Not thread-safe.

#include <deque>
#include <string>

#include "common/clock.hpp"
#include "config/app_spec.hpp"

namespace tend {

struct ExitStatus {
  int exit_code = -1;  // -1 when killed by a signal or unknown
  int signal = 0;      // 0 when it exited by itself
  bool clean() const { return signal == 0 && exit_code == 0; }
  // "exited with code 1", "killed by SIGKILL", "exited (status unknown)"
  std::string describe() const;
};

class RestartPolicy {
 public:
  struct Decision {
    enum class Kind { Restart, StayStopped, GiveUp };
    Kind kind = Kind::StayStopped;
    Duration delay{0};
    std::string reason;  // for people: why it restarts, stops or gives up
  };

  explicit RestartPolicy(const AppSpec& spec);

  // An unrequested exit after running for `uptime`. `cause` says what happened for people
  // (default: status.describe()); a failed spawn is an exit with uptime 0 and its cause.
  Decision onExit(TimePoint now, Duration uptime, const ExitStatus& status,
                  const std::string& cause = {});
  // A user's start or restart: forget the crash history and the backoff.
  void reset();
  int consecutiveShortRuns() const { return consecutive_short_runs_; }

 private:
  Duration backoffFor(int short_runs) const;

  AutoRestart mode_;
  Duration restart_delay_;
  BackoffSpec backoff_;
  int max_restarts_;
  Duration window_;
  Duration min_uptime_;
  std::deque<TimePoint> recent_restarts_;
  int consecutive_short_runs_ = 0;
};

}  // namespace tend
