#pragma once
// RepeatLimiter decides which of many similar log lines are written, as journald's
// RateLimitBurst does: per key (for the daemon's log, the message's format string), at
// most `burst` lines in a window of `window_ms`; the rest are suppressed and counted. Once
// a window has ended, its count is handed back once, for one summary line.
//
// Pure: no clock, no I/O; times come in as milliseconds. Memory is bounded: at most
// `max_keys` keys are tracked; a key beyond that shares one overflow entry.
// Not thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tend {

class RepeatLimiter {
 public:
  struct Limits {
    uint32_t burst = 100;
    int64_t window_ms = 10'000;
    size_t max_keys = 256;
  };
  // Lines of `key` suppressed in a window that has ended (or, from takeAll(), not yet).
  struct Suppressed {
    std::string key;
    uint64_t count = 0;
    int64_t window_ms = 0;  // how long the window ran
  };

  RepeatLimiter() = default;
  explicit RepeatLimiter(Limits limits) : limits_(limits) {}

  // Whether a line of `key` at `now_ms` may be written. Counts it either way.
  bool admit(std::string_view key, int64_t now_ms);
  // The windows that ended by `now_ms` with lines suppressed, each returned once (and
  // forgotten, with the keys that have been quiet for a window).
  std::vector<Suppressed> takeEnded(int64_t now_ms);
  // Every count of suppressed lines, ended window or not (at shutdown).
  std::vector<Suppressed> takeAll(int64_t now_ms);

  const Limits& limits() const { return limits_; }

  // The key that stands for every key past `max_keys`.
  static constexpr std::string_view kOverflowKey = "(other messages)";

 private:
  struct Window {
    int64_t start_ms = 0;
    uint32_t written = 0;
    uint64_t suppressed = 0;
  };

  Limits limits_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace tend
