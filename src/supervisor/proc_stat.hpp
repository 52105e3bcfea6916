#pragma once
// Reading /proc: a process's start time (to tell a reused pid apart from the process tend
// started), CPU and memory of whole process trees, and which processes make up a tree.
// `proc_root` is "/proc" but for tests, which give a directory laid out the same way.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tend {

// Field 22 of /proc/<pid>/stat (clock ticks after boot); nullopt when no such process.
std::optional<uint64_t> processStartTicks(pid_t pid);

// The processes whose environment holds the entry `name=value` exactly (read from
// /proc/<pid>/environ; processes that cannot be read are passed over).
std::vector<pid_t> processesWithEnvironment(const std::string& name, const std::string& value);

// One snapshot of every process on the machine: parent links, process groups, CPU ticks
// and RSS.
class ProcessTable {
 public:
  static ProcessTable read(const std::string& proc_root = "/proc");
  struct Usage {
    uint64_t cpu_ticks = 0;  // utime + stime of the whole tree
    uint64_t rss_bytes = 0;  // resident memory of the whole tree
  };
  // The root and all its descendants (by parent pid).
  Usage treeUsage(pid_t root) const;
  // The processes of an instance whose leader is `root` (also its process group): the root,
  // its descendants, and the members of process group `root` whose parent died (those the
  // daemon, as subreaper, inherited). Each once, in no particular order.
  std::vector<pid_t> tree(pid_t root) const;

 private:
  struct Proc {
    pid_t ppid = 0;
    pid_t pgid = 0;
    uint64_t cpu_ticks = 0;
    uint64_t rss_bytes = 0;
  };
  std::map<pid_t, Proc> procs_;
  std::multimap<pid_t, pid_t> children_;
};

}  // namespace tend
