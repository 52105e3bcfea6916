#pragma once
// ProcessOps: the seam between the supervisor and the operating system for processes.
// The real implementation clones (sharing the daemon's memory until the child's execve)
// and execs; tests substitute one that fails on purpose.

#include <sys/types.h>

#include <expected>
#include <optional>
#include <string>
#include <vector>

namespace tend {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] without '/' is searched in the child's PATH
  std::string cwd;
  std::vector<std::string> env;  // "KEY=VALUE", the child's whole environment
  int stdout_fd = -1;            // write ends the child gets as fd 1 and 2
  int stderr_fd = -1;
  // A listening socket handed over systemd-style: the child gets it as fd 3, with
  // LISTEN_FDS=1 and LISTEN_PID=<its own pid> in its environment. -1: none.
  int listen_fd = -1;
  // Applied in the child before it enters `cwd` and execs, in this order: the nice value
  // (setpriority, while still privileged, so a negative one can be had), then the
  // supplementary groups, the group and the user (as initgroups, setgid, setuid would).
  std::optional<int> nice;
  struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
  };
  std::optional<Identity> identity;
};

class ProcessOps {
 public:
  virtual ~ProcessOps() = default;
  // Starts the program in a new session (so its pid is its process group id), with stdin
  // on /dev/null, no other fd inherited, default signal handling and an empty signal mask.
  // Returns once the child has exec'd: the pid then runs the program. Fails, with a reason
  // for people, when the program could not be executed (missing, not executable, bad cwd).
  // LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES in `env` are dropped; tend sets the first two
  // when it hands over a socket.
  virtual std::expected<pid_t, std::string> spawn(const SpawnRequest& request) = 0;
  // Sends `sig` to every process in the group. False when the group no longer exists.
  virtual bool signalGroup(pid_t pgid, int sig) = 0;
  // True while any process of the group exists.
  virtual bool groupAlive(pid_t pgid) = 0;
};

class RealProcessOps final : public ProcessOps {
 public:
  std::expected<pid_t, std::string> spawn(const SpawnRequest& request) override;
  bool signalGroup(pid_t pgid, int sig) override;
  bool groupAlive(pid_t pgid) override;
};

// Looks `program` up in `path_list` (a PATH value; empty: /usr/bin:/bin) as execvp would,
// relative entries of PATH being relative to `cwd` (the child's directory; empty: ours).
// Returns `program` unchanged when it contains a '/', "" when no entry has it as an
// executable regular file.
std::string resolveInPath(const std::string& program, const std::string& path_list,
                          const std::string& cwd = "");

}  // namespace tend
