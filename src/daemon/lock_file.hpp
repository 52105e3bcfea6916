#pragma once
// LockFile: an exclusive flock on $TEND_HOME/tend.lock, held for the daemon's whole life.
// The kernel drops it when the daemon dies however it dies, so a stale lock is impossible
// and a stale socket or pid file is recognised by the lock being free.

#include <expected>
#include <string>

#include "common/unique_fd.hpp"

namespace tend {

class LockFile {
 public:
  // Fails when another process holds the lock (the message names it when known).
  static std::expected<LockFile, std::string> acquire(const std::string& path,
                                                      const std::string& pid_path);
  // True when some process holds the lock at this moment.
  static bool isHeld(const std::string& path);

 private:
  explicit LockFile(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace tend
