#pragma once
// Logger: the daemon's own log, one timestamped line per event, written to a LogSink (a
// file, rotated by the daemon's sink in src/logs/) and echoed to stderr when the daemon
// runs in the foreground.
//
// Guarantees:
// - Never throws; a line that cannot be written is dropped (the sink says why).
// - Repeated messages are rate-limited, as journald does: at most `burst` lines of one
//   kind per window, where a kind is the message's format string (or, for "{}", the
//   message itself). The rest are counted, and one line says how many were suppressed
//   once the window has ended (at the next line, at tick(), or when the Logger goes), so
//   nothing a client sends can grow the log without bound.
// - Safe to use from several threads at once.

#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/repeat_limiter.hpp"

namespace tend {

// Where the Logger's lines go. Called with the Logger's lock held, one whole line at a
// time, without its '\n'.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void writeLine(std::string_view line) = 0;
};

// Appends lines to one file (created mode 0600), or to stderr when `path` is empty.
class FileLogSink final : public LogSink {
 public:
  explicit FileLogSink(const std::string& path);
  ~FileLogSink() override;
  void writeLine(std::string_view line) override;

 private:
  int fd_ = 2;
};

class Logger {
 public:
  // stderr only.
  Logger();
  // `path` empty: stderr only.
  Logger(const std::string& path, bool echo_stderr);
  Logger(std::unique_ptr<LogSink> sink, bool echo_stderr, const Clock& clock,
         RepeatLimiter::Limits limits = {});
  // Writes what is still suppressed.
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  template <typename... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) {
    log("info", fmt::string_view(f), fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) {
    log("warn", fmt::string_view(f), fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) {
    log("error", fmt::string_view(f), fmt::format(f, std::forward<Args>(args)...));
  }
  // Writes one line, never rate-limited.
  void write(std::string_view level, std::string_view message);
  // Writes the summaries of windows that have ended. The daemon calls it now and then, so
  // a count does not wait for the next line.
  void tick();

 private:
  void log(std::string_view level, fmt::string_view format, std::string_view message);
  // With mutex_ held.
  void writeLocked(int64_t wall_ms, std::string_view level, std::string_view message);
  void writeSummaries(const std::vector<RepeatLimiter::Suppressed>& counts, int64_t wall_ms);

  std::unique_ptr<LogSink> sink_;
  bool echo_stderr_ = true;
  const Clock& clock_;
  std::mutex mutex_;
  RepeatLimiter limiter_;
};

}  // namespace tend
