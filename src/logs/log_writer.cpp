#include "logs/log_writer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tend {

LogWriter::LogWriter(std::string path, bool timestamps)
    : path_(std::move(path)), timestamps_(timestamps) {}

bool LogWriter::ensureOpen() {
  if (fd_) return true;
  fd_.reset(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!fd_) {
    last_error_ = fmt::format("cannot open {}: {}", path_, std::strerror(errno));
    return false;
  }
  return true;
}

void LogWriter::write(std::string_view line, int64_t wall_ms) {
  if (!ensureOpen()) return;
  buffer_.clear();
  if (timestamps_) {
    buffer_ += formatTimestamp(wall_ms);
    buffer_ += ' ';
  }
  buffer_.append(line);
  buffer_ += '\n';
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      last_error_ = fmt::format("cannot write {}: {}", path_, std::strerror(errno));
      fd_.reset();  // reopen next time (the file may have been removed or the disk freed)
      return;
    }
    done += static_cast<size_t>(n);
  }
  last_error_.clear();
}

}  // namespace tend
