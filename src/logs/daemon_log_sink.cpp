#include "logs/daemon_log_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "common/unique_fd.hpp"

namespace tend {

DaemonLogSink::DaemonLogSink(std::string path, bool follow_stdio, const Clock& clock,
                             uint64_t max_size, int max_files, LogFs& fs)
    : writer_(std::move(path), false, max_size, max_files, fs),
      follow_stdio_(follow_stdio),
      clock_(clock) {}

void DaemonLogSink::writeLine(std::string_view line) {
  writer_.write(line, clock_.wallMillis());
  if (writer_.rotations() != rotations_seen_) {
    rotations_seen_ = writer_.rotations();
    if (follow_stdio_) pointStdioAtFile();
  }
}

void DaemonLogSink::pointStdioAtFile() {
  UniqueFd fd(::open(writer_.path().c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return;  // stdio keeps the rotated file: better than losing what it says
  ::dup2(fd.get(), 1);
  ::dup2(fd.get(), 2);
}

}  // namespace tend
