#include "supervisor/restart_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/duration.hpp"
#include "common/text.hpp"

namespace tend {

std::string ExitStatus::describe() const {
  if (signal != 0) return fmt::format("killed by {}", signalName(signal));
  if (exit_code >= 0) return fmt::format("exited with code {}", exit_code);
  return "exited (status unknown)";
}

RestartPolicy::RestartPolicy(const AppSpec& spec)
    : mode_(spec.autorestart),
      restart_delay_(spec.restart_delay),
      backoff_(spec.backoff),
      max_restarts_(spec.max_restarts),
      window_(spec.restart_window),
      min_uptime_(spec.min_uptime) {}

void RestartPolicy::reset() {
  recent_restarts_.clear();
  consecutive_short_runs_ = 0;
}

Duration RestartPolicy::backoffFor(int short_runs) const {
  if (short_runs <= 0) return Duration(0);
  double ms = static_cast<double>(backoff_.initial.count()) *
              std::pow(backoff_.multiplier, static_cast<double>(short_runs - 1));
  double cap = static_cast<double>(backoff_.max.count());
  return Duration(static_cast<int64_t>(std::min(ms, cap)));
}

RestartPolicy::Decision RestartPolicy::onExit(TimePoint now, Duration uptime,
                                              const ExitStatus& status, const std::string& cause) {
  using Kind = Decision::Kind;
  const std::string what = cause.empty() ? status.describe() : cause;
  if (mode_ == AutoRestart::Never)
    return {Kind::StayStopped, Duration(0), fmt::format("{}; autorestart is off", what)};
  if (mode_ == AutoRestart::OnFailure && status.clean())
    return {Kind::StayStopped, Duration(0), fmt::format("{}; autorestart is on-failure", what)};

  while (!recent_restarts_.empty() && now - recent_restarts_.front() >= window_)
    recent_restarts_.pop_front();
  if (static_cast<int>(recent_restarts_.size()) >= max_restarts_) {
    return {Kind::GiveUp, Duration(0),
            fmt::format("{}; gave up after {} restarts within {}", what, recent_restarts_.size(),
                        formatDuration(window_))};
  }
  recent_restarts_.push_back(now);

  if (uptime < min_uptime_)
    ++consecutive_short_runs_;
  else
    consecutive_short_runs_ = 0;
  Duration delay = restart_delay_ + backoffFor(consecutive_short_runs_);
  return {Kind::Restart, delay,
          delay.count() > 0 ? fmt::format("{}; restarting in {}", what, formatDuration(delay))
                            : fmt::format("{}; restarting", what)};
}

}  // namespace tend
