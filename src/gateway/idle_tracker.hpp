#pragma once
// IdleTracker: the idle accounting of one app behind the gateway. Counts what is open
// (requests being held or relayed; streams: tunnels and event streams) and remembers when
// the app was last active, and from that says whether the app may be stopped and when to
// look again. Pure logic over a Clock: no timers, no sockets.
//
// Every count is held by an ActivityGuard, a move-only RAII object: the count goes up when
// the guard is made and down exactly once when it is destroyed (or release()d), so a
// connection that is torn down half-way cannot leave a count wrong or negative.
//
// "Last active" is the latest of: a request or stream beginning, anything open ending, and
// touch(). So an app is idle for idle_timeout after its last request *ended*, not after it
// began: a 10-minute download does not make the app stoppable the moment it finishes.
//
// Guards share the counters with the tracker: a guard may outlive its tracker (the route
// was removed while a connection still ran). The Clock must outlive both. Not thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "common/clock.hpp"

namespace tend {

class IdleTracker {
  struct State;

 public:
  IdleTracker(const Clock& clock, Duration idle_timeout);
  ~IdleTracker();
  IdleTracker(const IdleTracker&) = delete;
  IdleTracker& operator=(const IdleTracker&) = delete;

  enum class Kind { Request, Stream };

  class ActivityGuard {
   public:
    ActivityGuard() = default;
    ActivityGuard(ActivityGuard&& other) noexcept;
    ActivityGuard& operator=(ActivityGuard&& other) noexcept;
    ActivityGuard(const ActivityGuard&) = delete;
    ActivityGuard& operator=(const ActivityGuard&) = delete;
    ~ActivityGuard() { release(); }

    // Ends the activity now (idempotent).
    void release();
    bool active() const { return state_ != nullptr; }

   private:
    friend class IdleTracker;
    ActivityGuard(std::shared_ptr<State> state, Kind kind);
    std::shared_ptr<State> state_;
    Kind kind_ = Kind::Request;
  };

  // A request: counts one in flight and stamps the last request time.
  [[nodiscard]] ActivityGuard beginRequest();
  // A tunnel or an event stream: counts one open stream.
  [[nodiscard]] ActivityGuard beginStream();

  // Called from the destructor of the guard that closes the last open activity (so with
  // nothing open). It must not destroy this tracker.
  void setOnIdle(std::function<void()> on_idle);

  // The app just started (or was seen running): idle time counts from now.
  void touch();
  void setIdleTimeout(Duration idle_timeout);
  Duration idleTimeout() const;

  int inFlight() const;
  int openStreams() const;
  uint64_t requests() const;
  int64_t lastRequestWallMs() const;  // 0 when there was none

  // Nothing is open and nothing happened for idle_timeout.
  bool mayStop() const;
  // When mayStop() may next become true: last activity + idle_timeout (which may be in the
  // past). nullopt while something is open: the on-idle callback says when that ends.
  std::optional<TimePoint> nextCheck() const;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tend
