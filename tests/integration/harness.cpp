#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "common/unique_fd.hpp"

namespace tend::testing {

bool waitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

HttpReply curlGet(int port, const std::string& host, const std::string& path,
                  const std::vector<std::string>& more) {
  std::vector<std::string> argv{"curl",          "-s", "-m", "20", "-H", "Host: " + host, "-w",
                                "\n%{http_code}"};
  argv.insert(argv.end(), more.begin(), more.end());
  argv.push_back("http://127.0.0.1:" + std::to_string(port) + path);
  RunResult r = runProgram(argv, std::chrono::seconds(30));
  HttpReply h;
  size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) return h;
  h.body = r.out.substr(0, nl);
  h.code = std::atoi(r.out.c_str() + nl + 1);
  return h;
}

bool processAlive(pid_t pid) {
  if (pid <= 0) return false;
  // A zombie is not alive: it has exited.
  // readText, not an ifstream: libstdc++ throws when read(2) fails (ESRCH as it exits).
  std::string line = readText("/proc/" + std::to_string(pid) + "/stat");
  if (line.empty()) return false;
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  if (line[close + 2] != 'Z') return true;
  // The leader of a process with threads shows Z while its other threads still exit, and
  // they hold its file descriptors (a daemon's socket still takes connections): it is dead
  // once the leader is the only task left.
  size_t tasks = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') ++tasks;
    ::closedir(d);
  }
  return tasks > 1;
}

std::vector<pid_t> processesWith(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t pid = std::atoi(e->d_name);
    std::string cmd = readText(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos && processAlive(pid)) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

namespace {
bool portFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Reserves `port` for this process: a socket bound to an abstract name per port, held until
// the process ends (the kernel frees it then, even after a crash). False when this process or
// another test process that ctest runs beside it holds it already: a test takes several ports
// before it binds any, and two tests could pick the same free port in the same moment.
bool reserve(int port) {
  static std::vector<UniqueFd> held;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string name = "tend-test-port-" + std::to_string(port);
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] == 0: abstract
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) return false;
  held.push_back(std::move(fd));
  return true;
}
}  // namespace

int freePortRun(int count) {
  static std::mt19937 rng(static_cast<unsigned>(::getpid()) ^
                          static_cast<unsigned>(std::time(nullptr)));
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  for (int attempt = 0; attempt < 200; ++attempt) {
    // 10000-19999: below tend's auto ports (20000-29999) and the kernel's ephemeral range
    // (32768 and up), from which parallel tests' outgoing connections take local ports.
    int base = 10000 + static_cast<int>(rng() % (10000 - static_cast<unsigned>(count)));
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) ok = portFree(base + i);
    // A reservation that fails part-way keeps the ports it got (out of everyone's way).
    for (int i = 0; i < count && ok; ++i) ok = reserve(base + i);
    if (ok) return base;
  }
  return 0;
}

std::string readText(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  if (!fd) return out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;  // a read error (a process gone mid-read) ends the text, never throws
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

void TendTest::SetUp() {
  char pattern[] = "/tmp/tend-it-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  dir_ = pattern;
  home_ = dir_ + "/home";
  tag_ = "tag" + dir_.substr(dir_.rfind('-') + 1);
}

void TendTest::TearDown() {
  // Stop the daemon the polite way, then make sure of it and of every process seen.
  pid_t daemon = daemonPid();
  tend({"kill"}, {}, std::chrono::seconds(30));
  if (daemon > 0 && processAlive(daemon)) ::kill(daemon, SIGKILL);
  for (pid_t pid : seen_pids_) {
    if (pid > 1 && processAlive(pid)) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  }
  for (pid_t pid : processesWith(tag_)) ::kill(pid, SIGKILL);
  // The daemon's stderr goes to its log: a sanitizer finding there fails the test (in the
  // rotated files too).
  for (const std::string& file :
       {home_ + "/daemon.log", home_ + "/daemon.log.1", home_ + "/daemon.log.2"}) {
    std::string daemon_log = readText(file);
    for (const char* finding : {"Sanitizer", "runtime error:"})
      EXPECT_EQ(daemon_log.find(finding), std::string::npos) << file << ":\n" << daemon_log;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

namespace {

RunResult runWithEnv(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& env,
                     std::chrono::milliseconds timeout) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  RunResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open = 2;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

RunResult runProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  return runWithEnv(argv, {}, timeout);
}

RunResult TendTest::tend(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env,
                         std::chrono::seconds timeout) {
  std::map<std::string, std::string> all{{"TEND_HOME", home_}, {"NO_COLOR", "1"}};
  for (const auto& [k, v] : env) all[k] = v;
  std::vector<std::string> argv{TEND_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return runWithEnv(argv, all, timeout);
}

nlohmann::json TendTest::list() {
  RunResult r = tend({"list", "--json"});
  EXPECT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "list --json printed no JSON: " << r.out << r.err;
    return nlohmann::json::array();
  }
  for (const auto& i : j)
    if (i.value("pid", 0) > 0) remember(i.value("pid", 0));
  return j;
}

std::vector<nlohmann::json> TendTest::instancesOf(const std::string& name) {
  std::vector<nlohmann::json> out;
  for (const auto& i : list())
    if (i.value("name", "") == name) out.push_back(i);
  return out;
}

nlohmann::json TendTest::instance(const std::string& name, int index) {
  for (const auto& i : instancesOf(name))
    if (i.value("instance", -1) == index) return i;
  return nlohmann::json::object();
}

std::string TendTest::writeFile(const std::string& name, const std::string& text) {
  std::string path = dir_ + "/" + name;
  writeText(path, text);
  return path;
}

pid_t TendTest::daemonPid() {
  std::string text = readText(home_ + "/tend.pid");
  return text.empty() ? 0 : std::atoi(text.c_str());
}

}  // namespace tend::testing
