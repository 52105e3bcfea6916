#include "cli/client.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "api/protocol.hpp"
#include "daemon/lock_file.hpp"
#include "logs/log_reader.hpp"

namespace tend {

bool daemonRunning(const Paths& paths) {
  return LockFile::isHeld(paths.lock);
}

bool waitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  if (pid <= 0) return true;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return errno == ESRCH;  // already gone
  pollfd p{pidfd.get(), POLLIN, 0};
  int n;
  do n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (n < 0 && errno == EINTR);
  return n > 0;
}

bool Client::tryConnect() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (paths_.socket.size() >= sizeof addr.sun_path) return false;
  std::strncpy(addr.sun_path, paths_.socket.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  fd_ = std::move(fd);
  return true;
}

std::expected<void, std::string> Client::connect(bool autostart) {
  if (paths_.socket.size() >= sizeof(sockaddr_un::sun_path))
    return std::unexpected(
        fmt::format("TEND_HOME path is too long for a Unix socket: {}", paths_.socket));
  if (tryConnect()) return {};
  if (!autostart) return std::unexpected("no daemon is running");
  return startDaemon();
}

std::expected<void, std::string> Client::startDaemon() {
  if (auto err = paths_.ensureDirectories(); !err.empty()) return std::unexpected(err);
  char self[4096];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return std::unexpected("cannot find the tend binary (/proc/self/exe)");
  self[len] = '\0';

  // Double fork: the daemon is nobody's child but init's, in a session of its own.
  pid_t child = ::fork();
  if (child < 0) return std::unexpected(fmt::format("fork failed: {}", std::strerror(errno)));
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null_fd = ::open("/dev/null", O_RDWR);
    int log_fd = ::open(paths_.daemon_log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
    ::dup2(null_fd, 0);
    ::dup2(log_fd >= 0 ? log_fd : null_fd, 1);
    ::dup2(log_fd >= 0 ? log_fd : null_fd, 2);
    ::syscall(SYS_close_range, 3u, ~0u, 0);  // nothing of the CLI's leaks into the daemon
    if (::chdir("/") != 0) ::_exit(126);
    const char* argv[] = {self, "daemon", "--background", nullptr};
    ::execv(self, const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);

  // Wait for it to listen. Another CLI may have started one at the same moment: whichever
  // daemon holds the lock is the one both connect to.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (tryConnect()) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string why;
  for (const auto& line : tailLines(paths_.daemon_log, 3)) why += "\n  " + line;
  return std::unexpected(fmt::format("the daemon did not start; {}:{}", paths_.daemon_log, why));
}

void Client::interrupt() {
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
}

std::expected<nlohmann::json, std::string> Client::request(const nlohmann::json& req) {
  if (auto sent = send(req); !sent) return std::unexpected(sent.error());
  return reply();
}

std::expected<void, std::string> Client::send(const nlohmann::json& req) {
  if (!fd_) return std::unexpected("not connected to the daemon");
  // Text that is not UTF-8 is refused where it comes in (arguments, files, the
  // environment); should some still reach here, it is an error to report, not an abort.
  std::string line;
  try {
    line = req.dump() + "\n";
  } catch (const nlohmann::json::type_error& e) {
    return std::unexpected(
        fmt::format("cannot send the request: it holds text that is not UTF-8 ({})", e.what()));
  }
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::send(fd_.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::unexpected(fmt::format("lost the daemon: {}", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  return {};
}

std::expected<nlohmann::json, std::string> Client::reply() {
  if (!fd_) return std::unexpected("not connected to the daemon");
  std::string& buf = pending_;
  size_t nl;
  while ((nl = buf.find('\n')) == std::string::npos) {
    char chunk[64 * 1024];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::unexpected("the daemon closed the connection without replying");
    buf.append(chunk, static_cast<size_t>(n));
  }
  std::string reply = buf.substr(0, nl);
  buf.erase(0, nl + 1);
  nlohmann::json j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected("malformed reply from the daemon");
  if (!j.value("ok", false)) return std::unexpected(j.value("error", std::string("unknown error")));
  return j.contains("data") ? j["data"] : nlohmann::json();
}

}  // namespace tend
