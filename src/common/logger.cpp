#include "common/logger.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "common/clock.hpp"

namespace tend {

Logger::Logger(const std::string& path, bool echo_stderr) : echo_stderr_(echo_stderr) {
  if (!path.empty())
    fd_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
}

void Logger::write(std::string_view level, std::string_view message) {
  std::string line = fmt::format(
      "{} {} {}\n", formatTimestamp(SystemClock::instance().wallMillis()), level, message);
  if (fd_) {
    ssize_t n = ::write(fd_.get(), line.data(), line.size());
    (void)n;
  }
  if (echo_stderr_ || !fd_) {
    ssize_t n = ::write(2, line.data(), line.size());
    (void)n;
  }
}

}  // namespace tend
