#include "logs/log_writer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "logs/json_line.hpp"

namespace tend {
namespace {

std::error_code lastErrno() {
  return {errno, std::generic_category()};
}

bool isMissing(std::error_code ec) {
  return ec == std::errc::no_such_file_or_directory;
}

class RealLogFs final : public LogFs {
 public:
  std::expected<UniqueFd, std::error_code> openAppend(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return std::unexpected(lastErrno());
    return fd;
  }

  std::expected<FileInfo, std::error_code> stat(int fd) override {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return std::unexpected(lastErrno());
    return FileInfo{static_cast<uint64_t>(st.st_size), S_ISREG(st.st_mode)};
  }

  std::expected<size_t, std::error_code> write(int fd, std::string_view data) override {
    while (true) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n > 0) return static_cast<size_t>(n);
      if (n < 0 && errno == EINTR) continue;
      // write(2) returning 0 for a non-empty buffer: treat as "no space".
      return std::unexpected(n == 0 ? std::make_error_code(std::errc::no_space_on_device)
                                    : lastErrno());
    }
  }

  std::error_code truncate(int fd, uint64_t size) override {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return lastErrno();
    return {};
  }

  std::error_code rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return lastErrno();
    return {};
  }

  std::error_code remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return lastErrno();
    return {};
  }
};

}  // namespace

LogFs& LogFs::real() {
  static RealLogFs fs;
  return fs;
}

std::string rotatedLogPath(const std::string& path, int index) {
  return fmt::format("{}.{}", path, index);
}

std::expected<void, std::string> truncateLogFiles(const std::string& path, int max_files,
                                                  LogFs& fs) {
  std::string problems;
  auto note = [&](const std::string& what) {
    if (!problems.empty()) problems += "; ";
    problems += what;
  };
  // Opening for append creates the file when it is missing, which is harmless: the writer
  // would create it with the next line anyway.
  if (auto fd = fs.openAppend(path)) {
    auto info = fs.stat(fd->get());
    if (!info || !info->regular) return {};  // /dev/null and the like: nothing to empty
    if (auto ec = fs.truncate(fd->get(), 0))
      note(fmt::format("cannot empty {}: {}", path, ec.message()));
  } else if (!isMissing(fd.error())) {  // a missing folder: nothing to empty
    note(fmt::format("cannot open {}: {}", path, fd.error().message()));
  }
  // Up to max_files, and beyond while files remain (left by a larger max_files before).
  constexpr int kMaxLeftovers = 10000;
  for (int i = 1; i <= max_files + kMaxLeftovers; ++i) {
    std::error_code ec = fs.remove(rotatedLogPath(path, i));
    if (ec && !isMissing(ec))
      note(fmt::format("cannot remove {}: {}", rotatedLogPath(path, i), ec.message()));
    if (ec && i >= max_files) break;
  }
  if (!problems.empty()) return std::unexpected(problems);
  return {};
}

LogWriter::LogWriter(std::string path, bool timestamps, uint64_t max_size, int max_files, LogFs& fs)
    : path_(std::move(path)),
      timestamps_(timestamps),
      max_size_(max_size),
      max_files_(max_files < 0 ? 0 : max_files),
      fs_(fs) {}

LogWriter::~LogWriter() {
  if (fd_) flush(0);
}

bool LogWriter::ensureOpen(int64_t wall_ms) {
  if (fd_) return true;
  auto fd = fs_.openAppend(path_);
  if (!fd) {
    writeFailed(fmt::format("cannot open {}: {}", path_, fd.error().message()), wall_ms);
    return false;
  }
  auto info = fs_.stat(fd->get());
  fd_ = std::move(*fd);
  size_ = info ? info->size : 0;
  regular_ = !info || info->regular;
  return true;
}

std::error_code LogWriter::rotate() {
  if (max_files_ == 0) {  // keep nothing: start the same file again
    if (auto ec = fs_.truncate(fd_.get(), 0)) return ec;
    size_ = 0;
    torn_ = false;
    return {};
  }
  for (int i = max_files_ - 1; i >= 1; --i) {
    std::error_code ec = fs_.rename(rotatedLogPath(path_, i), rotatedLogPath(path_, i + 1));
    if (ec && !isMissing(ec)) return ec;
  }
  std::error_code ec = fs_.rename(path_, rotatedLogPath(path_, 1));
  if (ec && !isMissing(ec)) return ec;  // missing: removed by someone; just start anew
  fd_.reset();
  size_ = 0;
  torn_ = false;  // whatever was torn is in the rotated file now
  ++rotations_;
  return {};
}

void LogWriter::writeFailed(std::string message, int64_t wall_ms) {
  fd_.reset();  // reopen next time: the file may have been removed or the disk freed
  failed_at_ = wall_ms;
  if (trouble_ != Trouble::Write) {
    dropped_at_failure_ = dropped_lines_;
    notify(fmt::format("{}; dropping lines until it can be written", message));
  }
  trouble_ = Trouble::Write;
  last_error_ = std::move(message);
}

void LogWriter::write(std::string_view line, int64_t wall_ms) {
  append(line, wall_ms);
  flush(wall_ms);
}

void LogWriter::setJson(std::string_view app, int instance, std::string_view stream) {
  json_fields_ = jsonLineFields(app, instance, stream);
}

void LogWriter::append(std::string_view line, int64_t wall_ms) {
  if (json_fields_.empty()) return appendFormatted(line, wall_ms, timestamps_);
  if (wall_ms != stamp_ms_) {
    stamp_ = formatTimestamp(wall_ms);
    stamp_ += ' ';
    stamp_ms_ = wall_ms;
  }
  json_line_.clear();
  appendJsonLine(json_line_, std::string_view(stamp_).substr(0, stamp_.size() - 1), json_fields_,
                 line);
  appendFormatted(json_line_, wall_ms, false);
}

void LogWriter::appendFormatted(std::string_view line, int64_t wall_ms, bool stamp) {
  const bool waiting =
      failed_at_ && wall_ms >= *failed_at_ && wall_ms < *failed_at_ + kRetryIntervalMs;
  if (trouble_ == Trouble::Write && waiting) {
    ++dropped_lines_;
    return;
  }
  if (!ensureOpen(wall_ms)) {
    ++dropped_lines_;
    return;
  }
  const size_t line_bytes = (stamp ? kStampBytes : 0) + line.size() + 1;
  if (regular_ && max_size_ > 0 && size_ + pending_.size() > 0 &&
      size_ + pending_.size() + line_bytes > max_size_ &&
      !(trouble_ == Trouble::Rotate && waiting)) {
    // Rotation happens between lines: write out what the current file gets first.
    flush(wall_ms);
    if (trouble_ == Trouble::Write) {
      ++dropped_lines_;
      return;
    }
    if (size_ > 0) {
      if (std::error_code ec = rotate()) {
        failed_at_ = wall_ms;
        std::string message = fmt::format("cannot rotate {}: {}", path_, ec.message());
        if (trouble_ != Trouble::Rotate)
          notify(fmt::format("{}; writing on past its size limit", message));
        trouble_ = Trouble::Rotate;
        last_error_ = std::move(message);
      } else {
        if (trouble_ == Trouble::Rotate) {
          notify(fmt::format("rotating {} works again", path_));
          trouble_ = Trouble::None;
          failed_at_.reset();
          last_error_.clear();
        }
        if (!ensureOpen(wall_ms)) {
          ++dropped_lines_;
          return;
        }
      }
    }
  }
  if (pending_.empty() && torn_) pending_ += '\n';  // end the piece a failed write left
  if (stamp) {
    if (wall_ms != stamp_ms_) {
      stamp_ = formatTimestamp(wall_ms);
      stamp_ += ' ';
      stamp_ms_ = wall_ms;
    }
    pending_ += stamp_;
  }
  pending_.append(line);
  pending_ += '\n';
  ++pending_lines_;
  if (pending_.size() >= kBatchBytes) flush(wall_ms);
}

void LogWriter::flush(int64_t wall_ms) {
  if (pending_.empty()) return;
  const uint64_t lines = std::exchange(pending_lines_, 0);
  size_t done = 0;
  while (done < pending_.size()) {
    auto n = fs_.write(fd_.get(), std::string_view(pending_).substr(done));
    if (!n) {
      // Cut off what got written, so the file never holds part of a line; when even that
      // fails, the next line starts with '\n' instead.
      if (done > 0 && fs_.truncate(fd_.get(), size_)) torn_ = true;
      pending_.clear();
      writeFailed(fmt::format("cannot write {}: {}", path_, n.error().message()), wall_ms);
      dropped_lines_ += lines;
      return;
    }
    done += *n;
  }
  pending_.clear();
  size_ += done;
  torn_ = false;
  if (trouble_ == Trouble::Write) {
    const uint64_t lost = dropped_lines_ - dropped_at_failure_;
    notify(fmt::format("writing {} again; {} line{} could not be written", path_, lost,
                       lost == 1 ? "" : "s"));
    trouble_ = Trouble::None;
    failed_at_.reset();
    last_error_.clear();
  }
}

std::expected<void, std::string> LogWriter::truncate() {
  auto result = truncateLogFiles(path_, max_files_, fs_);
  size_ = 0;
  torn_ = false;
  failed_at_.reset();  // space may have been freed: try the next line at once
  return result;
}

}  // namespace tend
