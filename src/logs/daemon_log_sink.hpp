#pragma once
// DaemonLogSink: the daemon's own log file ($TEND_HOME/daemon.log), rotated by size as an
// app's log is (daemon.log.1 ... daemon.log.N, see LogWriter), so that nothing the daemon
// is told to log can fill the disk.
//
// A background daemon's stdout and stderr are that same file (what a sanitizer or the C++
// runtime prints goes there too). With `follow_stdio`, after each rotation they are
// pointed at the new file, so they never write into a rotated one.
//
// Not thread-safe: the Logger serialises its calls.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/logger.hpp"
#include "logs/log_writer.hpp"

namespace tend {

class DaemonLogSink final : public LogSink {
 public:
  static constexpr uint64_t kMaxSize = 10ull << 20;
  static constexpr int kMaxFiles = 5;

  DaemonLogSink(std::string path, bool follow_stdio, const Clock& clock,
                uint64_t max_size = kMaxSize, int max_files = kMaxFiles, LogFs& fs = LogFs::real());
  void writeLine(std::string_view line) override;

 private:
  void pointStdioAtFile();

  LogWriter writer_;
  bool follow_stdio_;
  const Clock& clock_;
  uint64_t rotations_seen_ = 0;
};

}  // namespace tend
