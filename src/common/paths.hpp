#pragma once
// Where tend keeps its state: $TEND_HOME, or ~/.tend when it is unset.

#include <string>

namespace tend {

struct Paths {
  std::string home;        // $TEND_HOME
  std::string socket;      // control socket, mode 0600
  std::string lock;        // held by the running daemon for its whole life
  std::string pid;         // the daemon's pid, for people and scripts (the lock decides)
  std::string database;    // SQLite state, WAL mode
  std::string logs;        // per-instance logs
  std::string daemon_log;  // the daemon's own log
  std::string dump;        // what `tend save` wrote
  std::string gateway;     // the gateway section of the last config that had one

  static Paths fromEnvironment();
  static Paths forHome(const std::string& home);
  // Creates home and logs with mode 0700 when missing. Returns an error text or "".
  std::string ensureDirectories() const;
};

// Makes `path` absolute against `base` (or the current directory when base is empty),
// and expands a leading "~/".
std::string absolutePath(const std::string& path, const std::string& base = "");

}  // namespace tend
