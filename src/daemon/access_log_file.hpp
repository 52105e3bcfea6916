#pragma once
// AccessLogFile: the gateway's access log ($TEND_HOME/logs/access.log), rotated by size as
// the other logs are (access.log.1 ... access.log.N, see LogWriter).
//
// record() runs on the event loop and never waits for the disk: it formats the line into a
// bounded buffer (kMaxPending bytes) and returns; a writer thread, asleep while the buffer
// is empty, gathers lines for kFlushInterval after the first one (less when they reach
// kWakeBytes) and writes them in a batch. When the
// buffer is full (the disk does not keep up, or writing fails) lines are dropped and
// counted; the count goes to the daemon's log, once per stretch of drops.
//
// record() from one thread (the loop); the writer thread is internal. The destructor writes
// what is buffered and joins the thread.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.hpp"
#include "common/logger.hpp"
#include "gateway/access_log.hpp"
#include "logs/log_writer.hpp"

namespace tend {

class AccessLogFile final : public AccessLogSink {
 public:
  static constexpr size_t kMaxPending = 1 << 20;
  static constexpr size_t kWakeBytes = 64 * 1024;
  static constexpr auto kFlushInterval = std::chrono::milliseconds(200);

  AccessLogFile(std::string path, uint64_t max_size, int max_files, const Clock& clock,
                Logger& log);
  ~AccessLogFile() override;
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;

  void record(AccessLogFormat format, const AccessRecord& record) override;
  // Rotation settings for the next lines (gateway.access_log.max_size / max_files).
  void setRotation(uint64_t max_size, int max_files);

  // Lines dropped since the start because the buffer was full (those a failed write lost
  // are counted by the LogWriter and reported to the daemon's log).
  uint64_t dropped() const;

 private:
  void run();

  const Clock& clock_;
  Logger& log_;
  std::string path_;
  std::string scratch_;  // the line being formatted (loop thread only)

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;  // whole lines, each ending in '\n'
  uint64_t dropped_ = 0;
  uint64_t dropped_reported_ = 0;
  bool stopping_ = false;
  uint64_t max_size_;
  int max_files_;
  bool rotation_changed_ = false;
  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace tend
