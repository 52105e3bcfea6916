#pragma once
// Time comes in through Clock so that the state machine, restart policy and timers can be
// driven by a FakeClock in tests instead of sleeping.

#include <chrono>
#include <cstdint>
#include <string>

namespace tend {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for timers and uptimes.
  virtual TimePoint now() const = 0;
  // Wall-clock milliseconds since the epoch, for what users read (log stamps, history).
  virtual int64_t wallMillis() const = 0;
};

// "2026-11-21T23:40:00.123Z": UTC, millisecond precision, sorts as text.
std::string formatTimestamp(int64_t wall_ms);

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  int64_t wallMillis() const override;
  static SystemClock& instance();
};

// A clock that moves only when told to. Not thread-safe.
class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  int64_t wallMillis() const override { return wall_; }
  void advance(Duration d) {
    now_ += d;
    wall_ += d.count();
  }

 private:
  TimePoint now_{std::chrono::hours(1)};
  int64_t wall_ = 1'700'000'000'000;
};

}  // namespace tend
