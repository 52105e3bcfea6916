#include "supervisor/instance_probes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "common/duration.hpp"

namespace tend {
namespace asio = boost::asio;
using nlohmann::json;

namespace {
constexpr Duration kMinRetry = 1ms;
constexpr Duration kMaxRetry = 100ms;
constexpr int kRetryShare = 20;  // the wait is this fraction of the time taken so far
constexpr Duration kMaxReadyTry = 5s;
}  // namespace

Duration readyRetryDelay(Duration elapsed) {
  return std::clamp<Duration>(elapsed / kRetryShare, kMinRetry, kMaxRetry);
}

InstanceProbes::InstanceProbes(asio::io_context& io, Clock& clock, Hooks hooks)
    : io_(io),
      clock_(clock),
      hooks_(std::move(hooks)),
      retry_timer_(io),
      deadline_timer_(io),
      health_timer_(io),
      watchdog_timer_(io) {}

InstanceProbes::~InstanceProbes() {
  stop();
}

template <typename Fn>
auto InstanceProbes::guarded(Fn fn) {
  return [this, weak = std::weak_ptr<bool>(alive_), generation = generation_,
          fn = std::move(fn)](auto&&... args) {
    if (weak.expired() || generation != generation_) return;
    fn(std::forward<decltype(args)>(args)...);
  };
}

void InstanceProbes::stop() {
  ++generation_;
  phase_ = Phase::Idle;
  retry_timer_.cancel();
  deadline_timer_.cancel();
  health_timer_.cancel();
  watchdog_timer_.cancel();
}

void InstanceProbes::run(const ProbeCheck& check, Duration timeout, ProbeDone done) {
  if (check.kind == ProbeCheck::Kind::Exec) {
    hooks_.exec(check.command, timeout, std::move(done));
    return;
  }
  runNetworkCheck(io_, check, timeout, std::move(done));
}

void InstanceProbes::emit(const char* probe, bool ok, const std::string& detail) {
  if (hooks_.event) hooks_.event({{"probe", probe}, {"ok", ok}, {"detail", detail}});
}

// ---- ready -------------------------------------------------------------------------------

void InstanceProbes::startReady(const ProbeCheck& check, Duration timeout) {
  stop();
  phase_ = Phase::Ready;
  ready_check_ = check;
  ready_timeout_ = timeout;
  ready_began_ = clock_.now();
  ready_attempts_ = 0;
  ready_error_.clear();
  ready_took_ = Duration(0);
  notify_status_.reset();
  notify_stopping_ = false;
  health_check_.reset();
  health_last_ok_.reset();
  health_checks_ = health_failures_ = 0;
  health_last_detail_.clear();
  health_last_at_ = 0;
  watchdog_ = Duration(0);
  if (check.kind == ProbeCheck::Kind::None) {
    ready_state_ = "passed";
    phase_ = Phase::Idle;
    ++generation_;
    hooks_.ready();
    return;
  }
  ready_state_ = "waiting";
  deadline_timer_.expires_after(timeout);
  deadline_timer_.async_wait(guarded([this](boost::system::error_code ec) {
    if (!ec) readyTimedOut();
  }));
  if (check.kind == ProbeCheck::Kind::Notify) {
    ready_error_ = "no READY=1 on NOTIFY_SOCKET";
    return;
  }
  readyAttempt();
}

void InstanceProbes::readyAttempt() {
  ++ready_attempts_;
  auto left = ready_timeout_ - std::chrono::duration_cast<Duration>(clock_.now() - ready_began_);
  Duration limit = std::clamp<Duration>(left, Duration(1), kMaxReadyTry);
  run(ready_check_, limit, guarded([this](ProbeResult r) {
        if (phase_ != Phase::Ready) return;
        if (r.ok) {
          readyPassed(fmt::format(
              "{} passed after {} ({} tr{})", ready_check_.describe(),
              humanDuration(std::chrono::duration_cast<Duration>(clock_.now() - ready_began_)),
              ready_attempts_, ready_attempts_ == 1 ? "y" : "ies"));
          return;
        }
        bool first = ready_error_.empty();
        ready_error_ = r.detail;
        if (first) emit("ready", false, r.detail);  // the first failure only: retries are normal
        retry_timer_.expires_after(
            readyRetryDelay(std::chrono::duration_cast<Duration>(clock_.now() - ready_began_)));
        retry_timer_.async_wait(guarded([this](boost::system::error_code ec) {
          if (!ec && phase_ == Phase::Ready) readyAttempt();
        }));
      }));
}

void InstanceProbes::readyPassed(const std::string& how) {
  ++generation_;  // a pending retry or deadline is moot
  retry_timer_.cancel();
  deadline_timer_.cancel();
  phase_ = Phase::Idle;
  ready_state_ = "passed";
  ready_error_.clear();
  ready_took_ = std::chrono::duration_cast<Duration>(clock_.now() - ready_began_);
  emit("ready", true, how);
  hooks_.ready();
}

void InstanceProbes::readyTimedOut() {
  if (phase_ != Phase::Ready) return;
  ++generation_;  // a try still in flight is ignored
  retry_timer_.cancel();
  phase_ = Phase::Idle;
  ready_state_ = "failed";
  std::string why = fmt::format(
      "not ready after {}: {}", formatDuration(ready_timeout_),
      ready_error_.empty() ? ready_check_.describe() + " did not answer" : ready_error_);
  if (notify_status_ && !notify_status_->empty())
    why += fmt::format(" (last STATUS: {})", *notify_status_);
  ready_error_ = why;
  emit("ready", false, why);
  hooks_.not_ready(why);
}

// ---- online: health and watchdog ------------------------------------------------------------

void InstanceProbes::startOnline(const std::optional<ProbeCheck>& health,
                                 const ProbeSpec* health_spec, Duration watchdog) {
  phase_ = Phase::Online;
  health_check_ = health;
  if (health_spec) health_spec_ = *health_spec;
  health_failures_ = 0;
  watchdog_ = watchdog;
  if (health_check_) scheduleHealth();
  if (watchdog_.count() > 0) armWatchdog();
}

void InstanceProbes::scheduleHealth() {
  health_timer_.expires_after(health_spec_.interval);
  health_timer_.async_wait(guarded([this](boost::system::error_code ec) {
    if (!ec && phase_ == Phase::Online) healthCheck();
  }));
}

void InstanceProbes::healthCheck() {
  run(*health_check_, health_spec_.timeout, guarded([this](ProbeResult r) {
    if (phase_ != Phase::Online) return;
    ++health_checks_;
    health_last_at_ = clock_.wallMillis();
    health_last_ok_ = r.ok;
    if (r.ok) {
      if (health_failures_ > 0)
        emit("health", true,
             fmt::format("{} passed again after {} failure{}", health_check_->describe(),
                         health_failures_, health_failures_ == 1 ? "" : "s"));
      health_failures_ = 0;
      health_last_detail_.clear();
      scheduleHealth();
      return;
    }
    ++health_failures_;
    health_last_detail_ = r.detail;
    emit("health", false,
         fmt::format("{} ({} of {})", r.detail, health_failures_, health_spec_.failures));
    if (health_failures_ >= health_spec_.failures) {
      std::string why = fmt::format("health check failed {} time{} in a row: {}", health_failures_,
                                    health_failures_ == 1 ? "" : "s", r.detail);
      stop();
      hooks_.unhealthy(why);
      return;
    }
    scheduleHealth();
  }));
}

void InstanceProbes::armWatchdog() {
  watchdog_timer_.expires_after(watchdog_);
  watchdog_timer_.async_wait(guarded([this](boost::system::error_code ec) {
    if (ec || phase_ != Phase::Online) return;
    watchdogFailed(fmt::format("watchdog: no WATCHDOG=1 for {}", formatDuration(watchdog_)));
  }));
}

void InstanceProbes::watchdogFailed(const std::string& why) {
  emit("watchdog", false, why);
  stop();
  hooks_.unhealthy(why);
}

void InstanceProbes::notify(const NotifyMessage& m) {
  if (m.status) notify_status_ = m.status;
  if (m.stopping) notify_stopping_ = true;
  if (m.ready && phase_ == Phase::Ready && ready_check_.kind == ProbeCheck::Kind::Notify) {
    // Deferred: the caller is a socket read, and hooks may stop this instance.
    asio::post(
        io_, guarded([this] {
          if (phase_ == Phase::Ready)
            readyPassed(fmt::format(
                "READY=1 after {}",
                humanDuration(std::chrono::duration_cast<Duration>(clock_.now() - ready_began_))));
        }));
    return;
  }
  if (phase_ != Phase::Online || watchdog_.count() == 0) return;
  if (m.watchdog_trigger) {
    asio::post(io_, guarded([this] {
                 if (phase_ == Phase::Online)
                   watchdogFailed("watchdog: the app sent WATCHDOG=trigger");
               }));
  } else if (m.watchdog) {
    watchdog_timer_.cancel();  // its pending wait ends with operation_aborted
    armWatchdog();
  }
}

// ---- describe -----------------------------------------------------------------------------

json InstanceProbes::describe() const {
  json out = json::object();
  if (!ready_state_.empty()) {
    json r = {{"check", ready_check_.describe()}, {"state", ready_state_}};
    if (ready_check_.kind != ProbeCheck::Kind::None) r["attempts"] = ready_attempts_;
    if (!ready_error_.empty()) r["last_error"] = ready_error_;
    if (ready_state_ == "passed" && ready_check_.kind != ProbeCheck::Kind::None)
      r["took_ms"] = ready_took_.count();
    out["ready"] = r;
  }
  if (health_check_) {
    json h = {{"check", health_check_->describe()},
              {"interval", formatDuration(health_spec_.interval)},
              {"checks", health_checks_},
              {"consecutive_failures", health_failures_},
              {"last", health_last_ok_ ? (*health_last_ok_ ? "ok" : "failed") : ""}};
    if (!health_last_detail_.empty()) h["last_error"] = health_last_detail_;
    if (health_last_at_) h["last_at"] = formatTimestamp(health_last_at_);
    out["health"] = h;
  }
  if (notify_status_) out["notify_status"] = *notify_status_;
  if (notify_stopping_) out["notify_stopping"] = true;
  if (watchdog_.count() > 0) out["watchdog"] = formatDuration(watchdog_);
  return out;
}

}  // namespace tend
