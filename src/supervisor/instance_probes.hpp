#pragma once
// InstanceProbes: the ready and health checks of one instance, and its sd_notify
// watchdog. It runs the checks and keeps their results; the Supervisor turns what it
// reports (ready, not ready, unhealthy) into InstanceMachine events.
//
// - Ready: the check is tried at once, then again after each readyRetryDelay(), until it
//   passes or the ready timeout ends (each try gets at most 5 s). A notify check waits for
//   READY=1 instead.
// - Health (while online): one check every `interval`, counted from the end of the
//   previous one, so a slow app never has two checks at once; `failures` failures in a
//   row make it unhealthy.
// - Watchdog (while online, notify with `watchdog`): unhealthy when no WATCHDOG=1 comes
//   for that long, or at once on WATCHDOG=trigger.
// Never more than one check in flight. Results come back on the loop, never inside a call
// to this class; a check that finishes after stop() is ignored.

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "common/clock.hpp"
#include "config/app_spec.hpp"
#include "supervisor/notify_socket.hpp"
#include "supervisor/probe.hpp"

namespace tend {

// How long to wait before the next ready try, `elapsed` after the process started: a
// twentieth of that, at least 1 ms and at most 100 ms. So a ready app is noticed at most
// 1 ms, or 5% of its own start time, after it got ready (the gateway's cold start waits on
// this), and an app that takes 10 s to get ready costs about 200 tries, not 10,000.
Duration readyRetryDelay(Duration elapsed);

class InstanceProbes {
 public:
  struct Hooks {
    // Runs an exec check's command for the instance, killed at `timeout`; reports once.
    std::function<void(const std::string& command, Duration timeout, ProbeDone done)> exec;
    std::function<void()> ready;                            // the ready check passed
    std::function<void(const std::string& why)> not_ready;  // the ready timeout ended
    std::function<void(const std::string& why)> unhealthy;  // health or watchdog failed
    // A result worth telling (see docs/API.md): {"probe", "ok", "detail"}.
    std::function<void(const nlohmann::json& event)> event;
  };
  InstanceProbes(boost::asio::io_context& io, Clock& clock, Hooks hooks);
  ~InstanceProbes();
  InstanceProbes(const InstanceProbes&) = delete;
  InstanceProbes& operator=(const InstanceProbes&) = delete;

  // A new process: checks readiness with `check` for up to `timeout`. Kind::None: ready
  // at once (hooks.ready is called inside this call).
  void startReady(const ProbeCheck& check, Duration timeout);
  // Online: health checks (when `health` is given) and the watchdog (when > 0).
  void startOnline(const std::optional<ProbeCheck>& health, const ProbeSpec* health_spec,
                   Duration watchdog);
  // A datagram from the instance's notify socket (already known to be the instance's).
  void notify(const NotifyMessage& message);
  // Stops every check and timer (the process stops or is gone). Results are kept.
  void stop();

  // For `tend describe`: {"ready": {...}, "health": {...}, "notify_status", "watchdog"}.
  nlohmann::json describe() const;

 private:
  enum class Phase { Idle, Ready, Online };

  void run(const ProbeCheck& check, Duration timeout, ProbeDone done);
  void readyAttempt();
  void readyPassed(const std::string& how);
  void readyTimedOut();
  void scheduleHealth();
  void healthCheck();
  void armWatchdog();
  void watchdogFailed(const std::string& why);
  void emit(const char* probe, bool ok, const std::string& detail);
  // Wraps a callback so that it runs only while this object lives and no stop() came since.
  template <typename Fn>
  auto guarded(Fn fn);

  boost::asio::io_context& io_;
  Clock& clock_;
  Hooks hooks_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  uint64_t generation_ = 0;
  Phase phase_ = Phase::Idle;
  boost::asio::steady_timer retry_timer_, deadline_timer_, health_timer_, watchdog_timer_;

  // ready
  ProbeCheck ready_check_;
  Duration ready_timeout_{0};
  TimePoint ready_began_{};
  int ready_attempts_ = 0;
  std::string ready_state_;  // "", "waiting", "passed", "failed"
  std::string ready_error_;  // the last failed try's detail
  Duration ready_took_{0};

  // health
  std::optional<ProbeCheck> health_check_;
  ProbeSpec health_spec_;
  int health_checks_ = 0;
  int health_failures_ = 0;  // in a row
  std::optional<bool> health_last_ok_;
  std::string health_last_detail_;
  int64_t health_last_at_ = 0;  // wall ms

  // notify
  Duration watchdog_{0};
  std::optional<std::string> notify_status_;
  bool notify_stopping_ = false;
};

}  // namespace tend
