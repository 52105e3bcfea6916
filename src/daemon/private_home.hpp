#pragma once
// $TEND_HOME holds the apps' environments (state.db and its WAL), their logs, the API token
// and the dump: only its user may read any of it, whatever the umask and whoever made the
// folder first. makeHomePrivate() is what the daemon runs at start, before it opens
// anything there; from then on every file tend creates is created 0600 and every folder
// 0700, so nothing widens again.
//
// Rules: $TEND_HOME and its logs/ folder become 0700. Everything else under $TEND_HOME
// loses every group and other permission and keeps its owner's: so tend's own files, made
// 0644 by an older tend or by a umask, become 0600, and a script someone keeps there stays
// executable by its owner (0755 -> 0700). Symbolic links are neither followed nor changed.
// At most kMaxEntries entries are looked at (a bounded start).

#include <cstddef>
#include <expected>
#include <string>
#include <vector>

namespace tend {

struct PrivateHome {
  static constexpr size_t kMaxEntries = 100'000;
  // The folder's mode before, when it was wider than 0700 (e.g. 0755); 0 when it was not.
  unsigned home_was = 0;
  // What was readable (or writable, or enterable) by others and no longer is: paths
  // relative to $TEND_HOME, at most kListed of them kept, and how many in all.
  static constexpr size_t kListed = 5;
  std::vector<std::string> tightened;
  size_t tightened_count = 0;
  // Entries whose mode could not be changed ("logs/x.log: Operation not permitted"), kept
  // like `tightened`.
  std::vector<std::string> failed;
  size_t failed_count = 0;
  bool truncated = false;  // more than kMaxEntries entries: the rest was not looked at

  bool changedAnything() const { return home_was != 0 || tightened_count > 0; }
  // One line for the daemon's log saying what was tightened; "" when nothing was.
  std::string summary(const std::string& home) const;
};

// Makes `home` (and its `logs` folder) 0700 and takes group and other permissions from
// everything under it. The error when `home` itself cannot be made private (then the
// daemon must not start); problems with entries inside are reported in `failed`.
std::expected<PrivateHome, std::string> makeHomePrivate(const std::string& home,
                                                        const std::string& logs);

}  // namespace tend
