#include "common/logger.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace tend {

namespace {

void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // dropped: there is nowhere to say so
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void writeLineTo(int fd, std::string_view line) {
  std::string out;
  out.reserve(line.size() + 1);
  out.append(line);
  out += '\n';
  writeAll(fd, out);
}

}  // namespace

FileLogSink::FileLogSink(const std::string& path) {
  if (path.empty()) return;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) fd_ = fd;
}

FileLogSink::~FileLogSink() {
  if (fd_ != 2) ::close(fd_);
}

void FileLogSink::writeLine(std::string_view line) {
  writeLineTo(fd_, line);
}

Logger::Logger() : Logger(std::make_unique<FileLogSink>(""), false, SystemClock::instance()) {}

Logger::Logger(const std::string& path, bool echo_stderr)
    : Logger(std::make_unique<FileLogSink>(path), echo_stderr && !path.empty(),
             SystemClock::instance()) {}

Logger::Logger(std::unique_ptr<LogSink> sink, bool echo_stderr, const Clock& clock,
               RepeatLimiter::Limits limits)
    : sink_(std::move(sink)), echo_stderr_(echo_stderr), clock_(clock), limiter_(limits) {}

Logger::~Logger() {
  std::lock_guard lock(mutex_);
  int64_t now = clock_.wallMillis();
  writeSummaries(limiter_.takeAll(now), now);
}

void Logger::write(std::string_view level, std::string_view message) {
  std::lock_guard lock(mutex_);
  int64_t now = clock_.wallMillis();
  writeSummaries(limiter_.takeEnded(now), now);
  writeLocked(now, level, message);
}

void Logger::tick() {
  std::lock_guard lock(mutex_);
  int64_t now = clock_.wallMillis();
  writeSummaries(limiter_.takeEnded(now), now);
}

void Logger::log(std::string_view level, fmt::string_view format, std::string_view message) {
  std::string_view kind(format.data(), format.size());
  if (kind == "{}") kind = message;  // a message built elsewhere: each is its own kind
  std::lock_guard lock(mutex_);
  int64_t now = clock_.wallMillis();
  writeSummaries(limiter_.takeEnded(now), now);
  if (limiter_.admit(kind, now)) writeLocked(now, level, message);
}

void Logger::writeLocked(int64_t wall_ms, std::string_view level, std::string_view message) {
  std::string line = fmt::format("{} {} {}", formatTimestamp(wall_ms), level, message);
  sink_->writeLine(line);
  if (echo_stderr_) writeLineTo(2, line);
}

void Logger::writeSummaries(const std::vector<RepeatLimiter::Suppressed>& counts, int64_t wall_ms) {
  for (const auto& s : counts)
    writeLocked(wall_ms, "warn",
                fmt::format("suppressed {} more line{} like \"{}\" in {:.0f} s (at most {} of a "
                            "kind are written per {:.0f} s)",
                            s.count, s.count == 1 ? "" : "s", s.key, s.window_ms / 1000.0,
                            limiter_.limits().burst, limiter_.limits().window_ms / 1000.0));
}

}  // namespace tend
