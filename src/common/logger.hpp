#pragma once
// Logger: the daemon's own log, one timestamped line per event, appended to a file (and
// echoed to stderr when the daemon runs in the foreground). Never throws; a failed write
// is dropped.

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace tend {

class Logger {
 public:
  Logger() = default;
  // `path` empty: stderr only.
  Logger(const std::string& path, bool echo_stderr);

  template <typename... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) {
    write("info", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) {
    write("warn", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) {
    write("error", fmt::format(f, std::forward<Args>(args)...));
  }
  void write(std::string_view level, std::string_view message);

 private:
  UniqueFd fd_;
  bool echo_stderr_ = true;
};

}  // namespace tend
