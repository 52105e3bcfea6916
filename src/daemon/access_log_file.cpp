#include "daemon/access_log_file.hpp"

#include <memory>
#include <string_view>
#include <utility>

namespace tend {

AccessLogFile::AccessLogFile(std::string path, uint64_t max_size, int max_files, const Clock& clock,
                             Logger& log)
    : clock_(clock),
      log_(log),
      path_(std::move(path)),
      max_size_(max_size),
      max_files_(max_files),
      thread_([this] { run(); }) {}

AccessLogFile::~AccessLogFile() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void AccessLogFile::record(AccessLogFormat format, const AccessRecord& record) {
  scratch_.clear();
  formatAccessLine(format, record, scratch_);
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + scratch_.size() + 1 > kMaxPending) {
      ++dropped_;
      return;
    }
    // The first line of a batch wakes the writer, which then gathers more for a moment.
    wake = pending_.empty();
    pending_ += scratch_;
    pending_ += '\n';
    wake = wake || pending_.size() >= kWakeBytes;
  }
  if (wake) wake_.notify_one();
}

void AccessLogFile::setRotation(uint64_t max_size, int max_files) {
  std::lock_guard lock(mutex_);
  if (max_size == max_size_ && max_files == max_files_) return;
  max_size_ = max_size;
  max_files_ = max_files;
  rotation_changed_ = true;
}

uint64_t AccessLogFile::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void AccessLogFile::run() {
  std::unique_ptr<LogWriter> writer;
  std::string batch;
  std::unique_lock lock(mutex_);
  while (true) {
    // Asleep while there is nothing to write (a daemon without an access log never wakes
    // it); then more lines are gathered for up to kFlushInterval, unless the buffer fills.
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    wake_.wait_for(lock, kFlushInterval,
                   [this] { return stopping_ || pending_.size() >= kWakeBytes; });
    batch.clear();
    std::swap(batch, pending_);
    const bool stop = stopping_;
    if (rotation_changed_ || !writer) {
      writer = std::make_unique<LogWriter>(path_, false, max_size_, max_files_);
      writer->setStatusHandler(
          [this](const std::string& message) { log_.warn("gateway access log: {}", message); });
      rotation_changed_ = false;
    }
    lock.unlock();
    if (!batch.empty()) {
      const int64_t now = clock_.wallMillis();
      std::string_view rest = batch;
      while (!rest.empty()) {
        size_t nl = rest.find('\n');
        writer->append(rest.substr(0, nl), now);
        rest.remove_prefix(nl + 1);
      }
      writer->flush(now);
    }
    lock.lock();
    // Lines dropped because the buffer was full, reported once per stretch (the writer
    // reports its own failures through its status handler).
    if (dropped_ > dropped_reported_) {
      uint64_t lost = dropped_ - dropped_reported_;
      dropped_reported_ = dropped_;
      lock.unlock();
      log_.warn("gateway access log: {} line(s) dropped (the disk did not keep up)", lost);
      lock.lock();
    }
    if (stop) return;
  }
}

}  // namespace tend
