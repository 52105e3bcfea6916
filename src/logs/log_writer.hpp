#pragma once
// LogWriter appends lines to one log file, each optionally prefixed with a UTC timestamp
// ("2026-11-21T23:40:00.123Z "), or each as one JSON object (setJson, see json_line.hpp),
// and rotates the file by size.
//
// Guarantees:
// - Lines are written whole: appended lines are batched (up to kBatchBytes) and written
//   with one write(2) per batch at flush() (or truncated away when the write fails
//   part-way), so a line is never split across two files and a fast writer costs one
//   syscall per batch, not per line.
// - Rotation happens between lines: before a line would take the file past `max_size`,
//   app.log.(N-1) -> app.log.N, ..., app.log -> app.log.1 (the oldest is replaced), then a
//   new app.log is opened. A line longer than `max_size` goes whole into a file of its own.
// - Writing never blocks the app and never throws. When the file cannot be opened or
//   written (ENOSPC, EIO, EACCES, a missing folder), the line is dropped and counted, the
//   reason is kept for `tend describe`, and writing is tried again on a later line (at most
//   once per kRetryInterval of wall time, so a full disk costs no syscall per line), so it
//   resumes by itself when space returns. When rotating fails, writing goes on past
//   `max_size` rather than losing lines.
// - Only regular files are rotated or truncated: a log path of /dev/null, a terminal or a
//   FIFO is written as it is.
//
// Not thread-safe: one writer per file, used from one thread.

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "common/clock.hpp"
#include "common/unique_fd.hpp"

namespace tend {

// The file operations LogWriter needs, behind one interface (in the manner of leveldb's
// Env), so a test can make a write fail with ENOSPC, write only part of a line or refuse a
// rename. Errors are std::error_code values in the generic (errno) category.
class LogFs {
 public:
  virtual ~LogFs() = default;
  // Opens `path` for appending, creating it (mode 0600) when missing. O_CLOEXEC.
  virtual std::expected<UniqueFd, std::error_code> openAppend(const std::string& path) = 0;
  struct FileInfo {
    uint64_t size = 0;
    bool regular = true;  // only regular files are rotated (never /dev/null or a pipe)
  };
  virtual std::expected<FileInfo, std::error_code> stat(int fd) = 0;
  // Writes some of `data` (at least one byte on success; EINTR is retried).
  virtual std::expected<size_t, std::error_code> write(int fd, std::string_view data) = 0;
  virtual std::error_code truncate(int fd, uint64_t size) = 0;
  virtual std::error_code rename(const std::string& from, const std::string& to) = 0;
  // Removes a file; a missing file is reported as errc::no_such_file_or_directory.
  virtual std::error_code remove(const std::string& path) = 0;

  // The real file system. Stateless; shared by every writer.
  static LogFs& real();
};

// "app.log" and 2 -> "app.log.2": where rotation puts the index-th older file.
std::string rotatedLogPath(const std::string& path, int index);

// Empties `path` (when it exists) and removes its rotated files (path.1, path.2, ... up to
// `max_files`, and on while more exist). For `tend flush`. A writer appending to `path`
// (O_APPEND) simply carries on at the start of the emptied file.
std::expected<void, std::string> truncateLogFiles(const std::string& path, int max_files,
                                                  LogFs& fs = LogFs::real());

class LogWriter {
 public:
  static constexpr uint64_t kDefaultMaxSize = 10ull << 20;
  static constexpr int kDefaultMaxFiles = 5;
  // After a failure, lines arriving within this much wall time are dropped without trying.
  static constexpr int64_t kRetryIntervalMs = 1000;
  static constexpr size_t kBatchBytes = 64 * 1024;
  static constexpr size_t kStampBytes = 25;  // "2026-11-21T23:40:00.123Z "

  // `max_size` 0: never rotate. `max_files` 0: no rotated files are kept (the file is
  // emptied instead of renamed).
  LogWriter(std::string path, bool timestamps, uint64_t max_size = kDefaultMaxSize,
            int max_files = kDefaultMaxFiles, LogFs& fs = LogFs::real());
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Appends `line` and a '\n' and writes it out. `wall_ms` stamps the line and paces
  // retries after a failure.
  void write(std::string_view line, int64_t wall_ms);
  // Appends `line` to the pending batch (written once it holds kBatchBytes, before a
  // rotation, or at flush()). Whoever appends must flush() before going idle.
  void append(std::string_view line, int64_t wall_ms);
  void flush(int64_t wall_ms);

  // From now on each line is written as one JSON object with these fields and the time
  // (whatever `timestamps` says): logs.format: json.
  void setJson(std::string_view app, int instance, std::string_view stream);

  // Empties the file and removes the rotated ones (`tend flush`). Also makes the next
  // write try at once, whatever failed before.
  std::expected<void, std::string> truncate();

  const std::string& path() const { return path_; }
  // Why the last write or rotation failed; empty while all is well.
  const std::string& lastError() const { return last_error_; }
  // Lines dropped because they could not be written, since this writer was created.
  uint64_t droppedLines() const { return dropped_lines_; }
  // How many times the file was renamed away and a new one begun.
  uint64_t rotations() const { return rotations_; }

  // Called when writing starts failing, when it works again, and when rotation fails,
  // with one sentence for the daemon's log. Never called once per line.
  void setStatusHandler(std::function<void(const std::string&)> handler) {
    status_handler_ = std::move(handler);
  }

 private:
  enum class Trouble { None, Write, Rotate };

  bool ensureOpen(int64_t wall_ms);
  // append() of a line already formatted (`stamp`: prefix the timestamp).
  void appendFormatted(std::string_view line, int64_t wall_ms, bool stamp);
  // Renames the files one step older and opens a new one. Keeps the current file open
  // when the final rename fails.
  std::error_code rotate();
  void writeFailed(std::string message, int64_t wall_ms);
  void notify(const std::string& message) {
    if (status_handler_) status_handler_(message);
  }

  std::string path_;
  bool timestamps_;
  uint64_t max_size_;
  int max_files_;
  LogFs& fs_;
  UniqueFd fd_;
  uint64_t size_ = 0;    // of the open file, as written by this writer
  bool regular_ = true;  // the open file is a regular file (rotation applies)
  bool torn_ = false;    // a failed write left part of a line that could not be cut off
  Trouble trouble_ = Trouble::None;
  std::optional<int64_t> failed_at_;  // wall time of the last open/write/rotate failure
  std::string last_error_;
  uint64_t dropped_lines_ = 0;
  uint64_t rotations_ = 0;
  uint64_t dropped_at_failure_ = 0;  // dropped_lines_ when the current trouble began
  std::string pending_;              // whole lines not written yet
  uint64_t pending_lines_ = 0;
  std::string stamp_;  // the formatted prefix of stamp_ms_ (many lines share a millisecond)
  int64_t stamp_ms_ = -1;
  std::string json_fields_;  // non-empty: JSON lines (see jsonLineFields)
  std::string json_line_;    // the line being formatted, reused
  std::function<void(const std::string&)> status_handler_;
};

}  // namespace tend
