// Spawn latency: how long the daemon's thread is held by one spawn, from the call to the
// moment it has a pid of a process that runs the program (the child has exec'd).
//
//   spawn_bench [N] [HEAP_MB] [PROGRAM]     (defaults: 200, 8, /bin/true)
//
// Runs N spawns each way, interleaved (fork, clone, fork, clone, ...): "fork" is tend's
// spawner before this change (fork, then a read on a close-on-exec pipe until the exec),
// kept here as the reference; "clone" is RealProcessOps::spawn (clone(CLONE_VM |
// CLONE_VFORK)). HEAP_MB of memory is allocated and touched first, as a daemon's heap would
// be (the tend daemon's RSS is about 8 MB), since fork's cost grows with the memory mapped.
// Every child is reaped outside the timed part. Prints min, median, p90, max in µs.
// Built by bench/spawn.sh.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "supervisor/spawner.hpp"

namespace {

// tend's spawner as it was: fork, child sets up and execs, parent reads the error pipe.
pid_t forkSpawn(const tend::SpawnRequest& req) {
  std::vector<char*> argv;
  for (const std::string& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : req.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  tend::UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  tend::UniqueFd err_read, err_write;
  if (!devnull || !tend::makePipe(err_read, err_write)) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    if (::dup2(devnull.get(), 0) < 0 || ::dup2(req.stdout_fd, 1) < 0 ||
        ::dup2(req.stderr_fd, 2) < 0)
      ::_exit(127);
    if (!req.cwd.empty() && ::chdir(req.cwd.c_str()) != 0) ::_exit(127);
    ::execve(req.argv[0].c_str(), argv.data(), envp.data());
    int e = errno;
    ssize_t ignored = ::write(err_write.get(), &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  err_write.reset();
  int e;
  ssize_t n;
  do {
    n = ::read(err_read.get(), &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof e) {
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

struct Stats {
  std::vector<double> us;
  void print(const char* name) {
    std::sort(us.begin(), us.end());
    auto at = [&](double q) { return us[static_cast<size_t>(q * (us.size() - 1))]; };
    std::printf("%-6s n=%zu  min %.0f  median %.0f  p90 %.0f  max %.0f  (us)\n", name, us.size(),
                us.front(), at(0.5), at(0.9), us.back());
  }
};

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  size_t heap_mb = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 8;
  std::string program = argc > 3 ? argv[3] : "/bin/true";
  std::vector<char> heap(heap_mb << 20);
  for (size_t i = 0; i < heap.size(); i += 4096) heap[i] = 1;  // touched: mapped and resident

  int out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  tend::SpawnRequest req;
  req.argv = {program};
  req.env = {"PATH=/usr/bin:/bin"};
  req.stdout_fd = out;
  req.stderr_fd = out;
  tend::RealProcessOps ops;
  Stats fork_stats, clone_stats;
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < n; ++i) {
    for (int which = 0; which < 2; ++which) {
      auto t0 = Clock::now();
      pid_t pid;
      if (which == 0) {
        pid = forkSpawn(req);
      } else {
        auto r = ops.spawn(req);
        pid = r ? *r : -1;
      }
      auto t1 = Clock::now();
      if (pid < 0) {
        std::fprintf(stderr, "spawn failed\n");
        return 1;
      }
      ::waitpid(pid, nullptr, 0);
      (which == 0 ? fork_stats : clone_stats)
          .us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
  }
  std::printf("%d spawns of %s each way, interleaved, with %zu MB of touched heap\n", n,
              program.c_str(), heap_mb);
  fork_stats.print("fork");
  clone_stats.print("clone");
  return heap[4096] == 1 ? 0 : 2;
}
