// A program for the integration tests to supervise. Usage: tend_testapp MODE [ARGS...]
//   sleep [TAG]                  print a line, then run until killed
//   crash MS CODE                exit with CODE after MS milliseconds
//   grandchild FILE              fork a child that ignores SIGTERM, write its pid to FILE, run
//   fds FILE                     write the numbers of this process's open fds to FILE, run
//   env FILE                     write the environment to FILE, run
//   inspect FILE                 write what it was started with to FILE, run: lines
//                                "fds 0 1 2", "pid N", "pgid N", "sid N", "SigBlk: ...",
//                                "SigIgn: ..." (from /proc/self/status), "env K=V" each
//   listen                       listen on 127.0.0.1:$PORT, answer each connection "ok\n"
//   detached-listen FILE         fork a child that leaves the process group, listens on
//                                127.0.0.1:$PORT (trying again every 10 ms while the port is
//                                taken), then writes its pid to FILE and answers each
//                                connection "ok\n"; the leader runs until killed
//   print N                      print N numbered lines to stdout and stderr, then run
//   ignore-term                  ignore SIGTERM, run until SIGKILL
//   alloc MB                     allocate and touch MB mebibytes, then run
//   flood N                      as fast as it can: N numbered 100-byte lines, one 200 kB
//                                line of 'L', one line of every byte but '\n', "done"; run
//   http GATE FAIL MS STATS      once file GATE exists ("-": at once), serve HTTP on
//                                127.0.0.1:$PORT: each request is answered after MS ms, 500
//                                while file FAIL exists, else 200; writes "MAX TOTAL" (most
//                                requests at once, requests so far) to file STATS
//   notify GATE STATUS           sd_notify STATUS=STATUS at once; READY=1 (STATUS=serving)
//                                once file GATE exists
//   watchdog N MS                sd_notify READY=1, then WATCHDOG=1 N times MS ms apart,
//                                then no more; exits 5 when WATCHDOG_USEC is not set
// Every mode that runs also takes an unused trailing argument (a tag) so that tests can
// find their own processes in /proc.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

[[noreturn]] void runForever() {
  while (true) ::pause();
}

void writeFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
  }
  std::rename(tmp.c_str(), path.c_str());
}

bool exists(const std::string& path) {
  return path != "-" && ::access(path.c_str(), F_OK) == 0;
}

void waitForFile(const std::string& path) {
  while (path != "-" && !exists(path)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Sends one sd_notify datagram to $NOTIFY_SOCKET ("@name": abstract namespace).
void sdNotify(const std::string& text) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || !*where) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = where;
  if (path.size() >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), len);
  ::close(fd);
}

int listenOnPort() {
  const char* port = std::getenv("PORT");
  if (!port) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    std::fprintf(stderr, "cannot listen on %s: %s\n", port, std::strerror(errno));
    ::close(fd);
    return -1;
  }
  std::printf("listening on %s\n", port);
  return fd;
}

int httpServer(const std::string& gate, const std::string& fail, int delay_ms,
               const std::string& stats) {
  waitForFile(gate);
  int fd = listenOnPort();
  if (fd < 0) return 4;
  static std::atomic<int> in_flight{0}, most{0}, total{0};
  static std::mutex stats_mutex;
  while (true) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    std::thread([c, fail, delay_ms, stats] {
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      if (request.find("\r\n\r\n") == std::string::npos) {  // a TCP probe: no request
        ::close(c);
        return;
      }
      int now = ++in_flight;
      ++total;
      {
        std::lock_guard lock(stats_mutex);
        if (now > most) most = now;
        writeFileAtomically(
            stats, std::to_string(most.load()) + " " + std::to_string(total.load()) + "\n");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      --in_flight;
      const char* reply = exists(fail) ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
                                         "5\r\nConnection: close\r\n\r\nfail\n"
                                       : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: "
                                         "close\r\n\r\nok\n";
      ssize_t n = ::write(c, reply, std::strlen(reply));
      (void)n;
      ::close(c);
    }).detach();
  }
}

}  // namespace

// Answers each connection on the listening socket `fd` with "ok\n", forever.
[[noreturn]] static void answerOkForever(int fd) {
  while (true) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    ssize_t n = ::write(c, "ok\n", 3);
    (void)n;
    ::close(c);
  }
}

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "sleep";
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (mode == "sleep") {
    std::printf("testapp started pid=%d\n", ::getpid());
    runForever();
  }
  if (mode == "crash" && argc > 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[2])));
    std::fprintf(stderr, "testapp crashing with code %s\n", argv[3]);
    return std::atoi(argv[3]);
  }
  if (mode == "grandchild" && argc > 2) {
    pid_t child = ::fork();
    if (child == 0) {
      ::signal(SIGTERM, SIG_IGN);
      runForever();
    }
    writeFileAtomically(argv[2], std::to_string(child) + "\n");
    runForever();
  }
  if (mode == "fds" && argc > 2) {
    std::string list;
    if (DIR* d = ::opendir("/proc/self/fd")) {
      int own = ::dirfd(d);
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.' || std::atoi(e->d_name) == own) continue;
        list += e->d_name;
        list += "\n";
      }
      ::closedir(d);
    }
    writeFileAtomically(argv[2], list);
    runForever();
  }
  if (mode == "env" && argc > 2) {
    std::string text;
    for (char** e = environ; *e; ++e) text += std::string(*e) + "\n";
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) text += std::string("CWD=") + cwd + "\n";
    writeFileAtomically(argv[2], text);
    runForever();
  }
  if (mode == "inspect" && argc > 2) {
    std::string text = "fds";
    if (DIR* d = ::opendir("/proc/self/fd")) {
      int own = ::dirfd(d);
      std::vector<int> fds;
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.' && std::atoi(e->d_name) != own) fds.push_back(std::atoi(e->d_name));
      ::closedir(d);
      std::sort(fds.begin(), fds.end());
      for (int fd : fds) text += " " + std::to_string(fd);
    }
    text += "\npid " + std::to_string(::getpid()) + "\npgid " + std::to_string(::getpgrp()) +
            "\nsid " + std::to_string(::getsid(0)) + "\n";
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("SigBlk:") || line.starts_with("SigIgn:")) text += line + "\n";
    for (char** e = environ; *e; ++e) text += std::string("env ") + *e + "\n";
    writeFileAtomically(argv[2], text);
    runForever();
  }
  if (mode == "listen") {
    if (!std::getenv("PORT")) return 3;
    int fd = listenOnPort();
    if (fd < 0) return 4;
    answerOkForever(fd);
  }
  if (mode == "detached-listen" && argc > 2) {
    if (!std::getenv("PORT")) return 3;
    pid_t child = ::fork();
    if (child < 0) return 5;
    if (child == 0) {
      ::setpgid(0, 0);  // out of the instance's group: its leader's death does not end it
      int fd = -1;
      while ((fd = listenOnPort()) < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::fflush(stdout);
      writeFileAtomically(argv[2], std::to_string(::getpid()) + "\n");
      answerOkForever(fd);
    }
    runForever();
  }
  if (mode == "print" && argc > 2) {
    int n = std::atoi(argv[2]);
    for (int i = 1; i <= n; ++i) {
      std::printf("out line %d\n", i);
      std::fprintf(stderr, "err line %d\n", i);
    }
    std::fflush(stdout);
    runForever();
  }
  if (mode == "ignore-term") {
    ::signal(SIGTERM, SIG_IGN);
    std::printf("ignoring SIGTERM\n");
    runForever();
  }
  if (mode == "flood" && argc > 2) {
    int n = std::atoi(argv[2]);
    std::string chunk;
    for (int i = 0; i < n; ++i) {
      char line[101];
      std::snprintf(line, sizeof line, "line %08d %s\n", i, std::string(85, 'x').c_str());
      chunk += line;
      if (chunk.size() > 60000) {
        std::fwrite(chunk.data(), 1, chunk.size(), stdout);
        chunk.clear();
      }
    }
    chunk += std::string(200000, 'L') + "\n";
    for (int b = 0; b < 256; ++b)
      if (b != '\n') chunk += static_cast<char>(b);
    chunk += "\ndone\n";
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
    std::fflush(stdout);
    runForever();
  }
  if (mode == "alloc" && argc > 2) {
    size_t bytes = static_cast<size_t>(std::atoi(argv[2])) << 20;
    auto* block = static_cast<volatile char*>(std::malloc(bytes));
    for (size_t i = 0; block && i < bytes; i += 4096) block[i] = 1;
    std::printf("allocated %s MiB\n", argv[2]);
    runForever();
  }
  if (mode == "http" && argc > 5) return httpServer(argv[2], argv[3], std::atoi(argv[4]), argv[5]);
  if (mode == "notify" && argc > 3) {
    sdNotify(std::string("STATUS=") + argv[3]);
    waitForFile(argv[2]);
    sdNotify("READY=1\nSTATUS=serving");
    runForever();
  }
  if (mode == "watchdog" && argc > 3) {
    if (!std::getenv("WATCHDOG_USEC")) return 5;
    sdNotify("READY=1");
    for (int i = 0; i < std::atoi(argv[2]); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[3])));
      sdNotify("WATCHDOG=1");
    }
    std::printf("no more watchdog pings\n");
    runForever();
  }
  std::fprintf(stderr, "testapp: unknown mode '%s'\n", mode.c_str());
  return 2;
}
