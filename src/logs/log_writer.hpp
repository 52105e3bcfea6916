#pragma once
// LogWriter appends lines to one log file, each optionally prefixed with a UTC timestamp
// ("2026-11-21T23:40:00.123Z "). Writes are whole lines in one write(2), so readers never
// see half a line. A failed write never stops the app: the error is kept for
// `tend describe` and writing is tried again with the next line.
// Not thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/unique_fd.hpp"

namespace tend {

class LogWriter {
 public:
  LogWriter(std::string path, bool timestamps);
  void write(std::string_view line, int64_t wall_ms);
  const std::string& path() const { return path_; }
  const std::string& lastError() const { return last_error_; }

 private:
  bool ensureOpen();

  std::string path_;
  bool timestamps_;
  UniqueFd fd_;
  std::string last_error_;
  std::string buffer_;
};

}  // namespace tend
