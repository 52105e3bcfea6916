#include "supervisor/spawner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/text.hpp"

// How a process is started (see spawner.hpp for the contract).
//
// clone(CLONE_VM | CLONE_VFORK) on a stack of its own: the child shares the daemon's
// memory instead of copying its page tables, and the daemon is suspended only until the
// child calls execve (or _exit), not until a pipe tells it so. Everything the child needs
// is prepared beforehand; the child makes raw system calls only: no allocation, no lock,
// no glibc or sanitizer state touched. It reports a failure through `ChildArgs`, which it
// shares with the suspended parent.

namespace tend {
namespace {

enum class Stage : int { None, Session, Stdio, Priority, Groups, Group, User, Directory, Exec };

// What the parent prepares for the child, and what the child reports back.
struct ChildArgs {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: stay
  int stdout_fd;
  int stderr_fd;
  int listen_fd;          // -1: none
  char* listen_pid_slot;  // where the child writes its pid in decimal (LISTEN_PID=...)
  bool set_nice;
  int nice;
  bool set_identity;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  size_t group_count;
  // Written by the child before it gives up.
  Stage failed_stage;
  int failed_errno;
};

// The kernel's struct sigaction: all zeroes is SIG_DFL with no flags and an empty mask,
// whatever the architecture's field order.
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

// The child's code runs on a stack the sanitizers know nothing of, and must not call into
// their runtime: none of it is instrumented.
#define TEND_CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

constexpr size_t kKernelSigsetSize = sizeof(uint64_t);
constexpr int kMaxSignal = 64;

TEND_CHILD_CODE long rawSigmask(int how, const uint64_t* set, uint64_t* old) {
  return ::syscall(SYS_rt_sigprocmask, how, set, old, kKernelSigsetSize);
}

// Writes `value` in decimal, NUL-terminated, without allocating (async-signal-safe).
TEND_CHILD_CODE void writeDecimal(char* out, long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 20);
  for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

// syscall() returns -1 and sets errno (the parent's errno: the child shares its memory).
[[noreturn]] TEND_CHILD_CODE void childFail(ChildArgs* a, Stage stage) {
  a->failed_errno = errno;
  a->failed_stage = stage;
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

// Moves `fd` to a number >= 4 (close-on-exec: it is only a source for dup2) when it sits
// where one of the child's own fds goes.
TEND_CHILD_CODE int moveAbove3(ChildArgs* a, int fd) {
  if (fd < 0 || fd > 3) return fd;
  long moved = ::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 4);
  if (moved < 0) childFail(a, Stage::Stdio);
  return static_cast<int>(moved);
}

// The child, between clone and execve. Signals are all blocked (the parent blocked them
// before cloning), so no handler of the daemon can run here on the shared memory.
TEND_CHILD_CODE int childMain(void* arg) {
  auto* a = static_cast<ChildArgs*>(arg);
  long r = ::syscall(SYS_setsid);
  if (r < 0) childFail(a, Stage::Session);

  // The sources first out of 0..3, so that the dup2s below cannot overwrite one another.
  int out = moveAbove3(a, a->stdout_fd);
  int err = moveAbove3(a, a->stderr_fd);
  int listen = moveAbove3(a, a->listen_fd);
  r = ::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY, 0);
  if (r < 0) childFail(a, Stage::Stdio);
  int devnull = static_cast<int>(r);
  // dup2 onto a different number clears close-on-exec on the copy.
  if (devnull != 0 && (r = ::syscall(SYS_dup3, devnull, 0, 0)) < 0) childFail(a, Stage::Stdio);
  if ((r = ::syscall(SYS_dup3, out, 1, 0)) < 0) childFail(a, Stage::Stdio);
  if ((r = ::syscall(SYS_dup3, err, 2, 0)) < 0) childFail(a, Stage::Stdio);
  unsigned first_closed = 3;
  if (listen >= 0) {
    if ((r = ::syscall(SYS_dup3, listen, 3, 0)) < 0) childFail(a, Stage::Stdio);
    writeDecimal(a->listen_pid_slot, ::syscall(SYS_getpid));
    first_closed = 4;
  }
  // Every other fd goes: the daemon's are close-on-exec anyway, but a library's might not be.
  if (::syscall(SYS_close_range, first_closed, ~0u, 0) < 0) {
    ::syscall(SYS_close_range, first_closed, ~0u, CLOSE_RANGE_CLOEXEC);
  }

  // Raw system calls change this process only (glibc's setuid would try to tell threads
  // the child does not have).
  if (a->set_nice && ::syscall(SYS_setpriority, PRIO_PROCESS, 0, a->nice) < 0)
    childFail(a, Stage::Priority);
  if (a->set_identity) {
    if (::syscall(SYS_setgroups, a->group_count, a->groups) < 0) childFail(a, Stage::Groups);
    if (::syscall(SYS_setgid, a->gid) < 0) childFail(a, Stage::Group);
    if (::syscall(SYS_setuid, a->uid) < 0) childFail(a, Stage::User);
  }

  // After the identity changed: the user must be able to enter it.
  if (a->cwd && (r = ::syscall(SYS_chdir, a->cwd)) < 0) childFail(a, Stage::Directory);

  // Handlers are reset by execve itself; ignored signals (SIGPIPE in the daemon) are not.
  KernelSigaction dfl{};
  for (int sig = 1; sig <= kMaxSignal; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP)
      ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, kKernelSigsetSize);
  uint64_t none = 0;
  rawSigmask(SIG_SETMASK, &none, nullptr);

  ::syscall(SYS_execve, a->program, a->argv, a->envp);
  childFail(a, Stage::Exec);
}

// The child's stack: one per thread, mapped on first use and kept (untouched pages cost
// nothing), with a guard page below it.
class ChildStack {
 public:
  static constexpr size_t kSize = 256 * 1024;
  static constexpr size_t kGuard = 4096;
  ~ChildStack() {
    if (base_ != MAP_FAILED) ::munmap(base_, kSize + kGuard);
  }
  // The top of the stack (it grows down), or nullptr when it cannot be mapped.
  void* top() {
    if (base_ == MAP_FAILED) {
      base_ = ::mmap(nullptr, kSize + kGuard, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
      if (base_ == MAP_FAILED) return nullptr;
      ::mprotect(base_, kGuard, PROT_NONE);
    }
    return static_cast<char*>(base_) + kSize + kGuard;
  }

 private:
  void* base_ = MAP_FAILED;
};

// Starts the child; returns its pid (or -1, errno set). On return the child has exec'd or
// given up (a->failed_stage says which).
pid_t startChild(ChildArgs* a) {
  thread_local ChildStack stack;
  void* top = stack.top();
  if (!top) return -1;
  return ::clone(childMain, top, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
}

}  // namespace

std::string resolveInPath(const std::string& program, const std::string& path_list,
                          const std::string& cwd) {
  if (program.find('/') != std::string::npos) return program;
  for (const std::string& dir : split(path_list.empty() ? "/usr/bin:/bin" : path_list, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    // A relative PATH entry is relative to the directory the child runs in.
    std::string seen_from_here =
        candidate.starts_with('/') || cwd.empty() ? candidate : cwd + "/" + candidate;
    struct stat st {};
    if (::stat(seen_from_here.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(seen_from_here.c_str(), X_OK) == 0)
      return seen_from_here;
  }
  return "";
}

std::expected<pid_t, std::string> RealProcessOps::spawn(const SpawnRequest& req) {
  if (req.argv.empty()) return std::unexpected("nothing to run");
  // Everything the child needs is prepared here: it makes raw system calls only.
  std::string path_list;
  for (const std::string& kv : req.env)
    if (kv.starts_with("PATH=")) path_list = kv.substr(5);
  const std::string program = resolveInPath(req.argv[0], path_list, req.cwd);
  if (program.empty())
    return std::unexpected(fmt::format("cannot execute {}: not found in PATH ({})", req.argv[0],
                                       path_list.empty() ? "/usr/bin:/bin" : path_list));
  std::vector<char*> argv;
  argv.reserve(req.argv.size() + 1);
  for (const std::string& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The activation variables are tend's to set: any inherited ones go (a child without a
  // socket must not believe it has one).
  std::string listen_fds = "LISTEN_FDS=1";
  std::string listen_pid = "LISTEN_PID=" + std::string(20, '\0');  // the child fills it in
  std::vector<char*> envp;
  envp.reserve(req.env.size() + 3);
  for (const std::string& e : req.env)
    if (!e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID=") &&
        !e.starts_with("LISTEN_FDNAMES="))
      envp.push_back(const_cast<char*>(e.c_str()));
  if (req.listen_fd >= 0) {
    envp.push_back(listen_fds.data());
    envp.push_back(listen_pid.data());
  }
  envp.push_back(nullptr);

  ChildArgs args{};
  args.program = program.c_str();
  args.argv = argv.data();
  args.envp = envp.data();
  args.cwd = req.cwd.empty() ? nullptr : req.cwd.c_str();
  args.stdout_fd = req.stdout_fd;
  args.stderr_fd = req.stderr_fd;
  args.listen_fd = req.listen_fd;
  args.listen_pid_slot = listen_pid.data() + std::strlen("LISTEN_PID=");
  args.set_nice = req.nice.has_value();
  args.nice = req.nice.value_or(0);
  args.set_identity = req.identity.has_value();
  if (req.identity) {
    args.uid = req.identity->uid;
    args.gid = req.identity->gid;
    args.groups = req.identity->groups.data();
    args.group_count = req.identity->groups.size();
  }
  args.failed_stage = Stage::None;
  args.failed_errno = 0;

  // No signal handler of the daemon may run in the child (it would run on shared memory);
  // the child empties the mask itself just before execve.
  uint64_t all = ~uint64_t{0}, saved_mask = 0;
  rawSigmask(SIG_SETMASK, &all, &saved_mask);
  pid_t pid = startChild(&args);
  int clone_errno = errno;
  rawSigmask(SIG_SETMASK, &saved_mask, nullptr);
  if (pid < 0)
    return std::unexpected(fmt::format("cannot start a process: {}", std::strerror(clone_errno)));

  if (args.failed_stage != Stage::None) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const char* what = std::strerror(args.failed_errno);
    switch (args.failed_stage) {
      case Stage::Directory:
        return std::unexpected(fmt::format("cannot enter directory {}: {}", req.cwd, what));
      case Stage::Exec:
        return std::unexpected(fmt::format("cannot execute {}: {}", req.argv[0], what));
      case Stage::Priority:
        return std::unexpected(fmt::format("cannot set nice {}: {}", args.nice, what));
      case Stage::Groups:
        return std::unexpected(fmt::format("cannot set the groups of uid {}: {}", args.uid, what));
      case Stage::Group:
        return std::unexpected(fmt::format("cannot set gid {}: {}", args.gid, what));
      case Stage::User:
        return std::unexpected(fmt::format("cannot set uid {}: {}", args.uid, what));
      case Stage::Session:
        return std::unexpected(fmt::format("cannot start a new session: {}", what));
      default:
        return std::unexpected(fmt::format("cannot set up stdio: {}", what));
    }
  }
  return pid;
}

bool RealProcessOps::signalGroup(pid_t pgid, int sig) {
  if (pgid <= 1) return false;
  return ::kill(-pgid, sig) == 0;
}

bool RealProcessOps::groupAlive(pid_t pgid) {
  if (pgid <= 1) return false;
  return ::kill(-pgid, 0) == 0 || errno == EPERM;
}

}  // namespace tend
