#include "daemon/lock_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

#include "common/files.hpp"
#include "common/text.hpp"

namespace tend {

std::expected<LockFile, std::string> LockFile::acquire(const std::string& path,
                                                       const std::string& pid_path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return std::unexpected(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK)
      return std::unexpected(fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
    auto pid = readFile(pid_path);
    std::string who = pid ? fmt::format(" (pid {})", trim(*pid)) : "";
    return std::unexpected(fmt::format("a daemon is already running here{}", who));
  }
  return LockFile(std::move(fd));
}

bool LockFile::isHeld(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return false;  // closing releases it
  return errno == EWOULDBLOCK;
}

}  // namespace tend
