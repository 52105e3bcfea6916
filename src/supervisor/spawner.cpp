#include "supervisor/spawner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/text.hpp"
#include "common/unique_fd.hpp"

namespace tend {
namespace {

// What the child reports through the exec-error pipe when it cannot run the program.
struct ChildFailure {
  int stage;  // 0 = chdir, 1 = exec, 2 = stdio
  int error;
};

[[noreturn]] void childFail(int fd, int stage) {
  ChildFailure f{stage, errno};
  ssize_t ignored = ::write(fd, &f, sizeof f);
  (void)ignored;
  ::_exit(127);
}

// Writes `value` in decimal, NUL-terminated, without allocating (async-signal-safe).
void writeDecimal(char* out, long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 20);
  for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

}  // namespace

std::string resolveInPath(const std::string& program, const std::string& path_list) {
  if (program.find('/') != std::string::npos) return program;
  for (const std::string& dir : split(path_list.empty() ? "/usr/bin:/bin" : path_list, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return program;
}

std::expected<pid_t, std::string> RealProcessOps::spawn(const SpawnRequest& req) {
  if (req.argv.empty()) return std::unexpected("nothing to run");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls are made.
  std::string path_list;
  for (const std::string& kv : req.env)
    if (kv.starts_with("PATH=")) path_list = kv.substr(5);
  const std::string program = resolveInPath(req.argv[0], path_list);
  std::vector<char*> argv;
  for (const std::string& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> activation;
  if (req.listen_fd >= 0) {
    // The child's pid is known only after fork: it writes it into this placeholder itself.
    activation = {"LISTEN_FDS=1", "LISTEN_PID=" + std::string(20, '\0')};
  }
  std::vector<char*> envp;
  for (const std::string& e : req.env)
    if (req.listen_fd < 0 || !(e.starts_with("LISTEN_FDS=") || e.starts_with("LISTEN_PID=")))
      envp.push_back(const_cast<char*>(e.c_str()));
  for (std::string& e : activation) envp.push_back(e.data());
  envp.push_back(nullptr);
  char* listen_pid_digits = activation.empty() ? nullptr : activation[1].data() + 11;

  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd err_read, err_write;
  if (!devnull || !makePipe(err_read, err_write))
    return std::unexpected(fmt::format("cannot prepare to start: {}", std::strerror(errno)));

  pid_t pid = ::fork();
  if (pid < 0) return std::unexpected(fmt::format("fork failed: {}", std::strerror(errno)));
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
      childFail(err_write.get(), 2);
    if (!req.cwd.empty() && ::chdir(req.cwd.c_str()) != 0) childFail(err_write.get(), 0);
    unsigned first_closed = 3;
    int errfd = err_write.get();
    if (req.listen_fd >= 0) {
      // fd 3 is the socket's place: move whatever sits there (our error pipe) out of the way.
      if (errfd == 3) errfd = ::fcntl(3, F_DUPFD_CLOEXEC, 4);
      // dup2 clears close-on-exec on fd 3; dup2 onto itself would not, so move it first.
      int fd = req.listen_fd == 3 ? ::fcntl(3, F_DUPFD_CLOEXEC, 4) : req.listen_fd;
      if (fd < 0 || ::dup2(fd, 3) < 0) childFail(errfd, 2);
      writeDecimal(listen_pid_digits, ::getpid());
      first_closed = 4;
    }
    // Belt and braces: every daemon fd is O_CLOEXEC already; mark any stray one too.
    ::syscall(SYS_close_range, first_closed, ~0u, CLOSE_RANGE_CLOEXEC);
    ::execve(program.c_str(), argv.data(), envp.data());
    childFail(errfd, 1);
  }
  err_write.reset();
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(err_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    const char* what = std::strerror(failure.error);
    switch (failure.stage) {
      case 0:
        return std::unexpected(fmt::format("cannot enter directory {}: {}", req.cwd, what));
      case 1:
        return std::unexpected(fmt::format("cannot execute {}: {}", req.argv[0], what));
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
