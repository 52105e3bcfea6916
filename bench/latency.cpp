// Latency at a fixed rate, the sides interleaved request by request: what a proxy adds
// over the app reached directly, without the noise of a busy machine landing on one side.
//
//   latency RATE SECONDS NAME=PORT[@HOST] ...
//
// Opens one keep-alive connection per side to 127.0.0.1:PORT (TCP_NODELAY) and sends
// `GET / HTTP/1.1` (with `Host: HOST` when given) at RATE requests per second in all, to
// the sides in turn, the order rotated every cycle so no side always goes first. One
// request is in flight at a time. Each is sent at its scheduled time, and its latency runs
// from that time to the last byte of the response (wrk2's way: a request sent late counts
// its wait). A moment when the machine is busy elsewhere therefore lands on every side
// alike, which back-to-back runs of one side after the other cannot promise. The first
// second is a warm-up and is not recorded.
//
// Prints one line per side: NAME COUNT P50 P90 P99 P99.9 MAX (milliseconds), and a line
// "late N" (requests sent more than 1 ms after their time: the client could not keep the
// rate). Exits 1 on any error (connection, status other than 200, framing).
// Built by bench/gateway.sh with g++.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Nanos = int64_t;

Nanos now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleepUntil(Nanos t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "latency: %s\n", what.c_str());
  std::exit(1);
}

struct Side {
  std::string name;
  int port = 0;
  std::string request;
  int fd = -1;
  std::vector<Nanos> samples;

  void connect() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      die(name + ": connect to port " + std::to_string(port) + ": " + std::strerror(errno));
    }
  }

  // One request and its whole response; false with a reason in `why` on any failure.
  // `closing` is set when the response says `Connection: close` (nginx does so after its
  // keepalive_requests): the caller connects again before the next request.
  bool exchange(std::string& why, bool& closing) {
    for (size_t sent = 0; sent < request.size();) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        why = "send: " + std::string(std::strerror(errno));
        return false;
      }
      sent += static_cast<size_t>(n);
    }
    char buf[16 * 1024];
    size_t have = 0;
    size_t head_end = 0;
    while (head_end == 0) {
      if (have == sizeof buf) {
        why = "response head larger than 16 KiB";
        return false;
      }
      ssize_t n = ::recv(fd, buf + have, sizeof buf - have, 0);
      if (n <= 0) {
        why = n == 0 ? "the connection closed" : "recv: " + std::string(std::strerror(errno));
        return false;
      }
      have += static_cast<size_t>(n);
      for (size_t i = 3; i < have; ++i) {
        if (std::memcmp(buf + i - 3, "\r\n\r\n", 4) == 0) {
          head_end = i + 1;
          break;
        }
      }
    }
    if (have < 12 || std::memcmp(buf + 9, "200", 3) != 0) {
      why = "status " + std::string(buf + 9, std::min<size_t>(have - 9, 3));
      return false;
    }
    long length = -1;
    closing = false;
    for (size_t i = 1; i + 17 < head_end; ++i) {
      if (buf[i - 1] != '\n') continue;
      if (::strncasecmp(buf + i, "content-length:", 15) == 0) {
        length = std::strtol(buf + i + 15, nullptr, 10);
      } else if (::strncasecmp(buf + i, "connection: close", 17) == 0) {
        closing = true;
      }
    }
    if (length < 0) {
      why = "no Content-Length in the response";
      return false;
    }
    size_t left = static_cast<size_t>(length);
    size_t body_here = have - head_end;
    if (body_here > left) {
      why = "more bytes than the response's Content-Length";
      return false;
    }
    left -= body_here;
    while (left > 0) {
      ssize_t n = ::recv(fd, buf, std::min(left, sizeof buf), 0);
      if (n <= 0) {
        why = "the connection ended mid-body";
        return false;
      }
      left -= static_cast<size_t>(n);
    }
    return true;
  }
};

double percentile(const std::vector<Nanos>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(i, sorted.size() - 1)]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: latency RATE SECONDS NAME=PORT[@HOST] ...\n");
    return 2;
  }
  double rate = std::atof(argv[1]);
  double seconds = std::atof(argv[2]);
  if (rate <= 0 || seconds <= 0) die("RATE and SECONDS must be positive");
  std::vector<Side> sides;
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    if (eq == std::string::npos) die("bad side '" + arg + "' (NAME=PORT[@HOST])");
    Side s;
    s.name = arg.substr(0, eq);
    std::string rest = arg.substr(eq + 1);
    std::string host = "127.0.0.1";
    if (size_t at = rest.find('@'); at != std::string::npos) {
      host = rest.substr(at + 1);
      rest.resize(at);
    }
    s.port = std::atoi(rest.c_str());
    if (s.port <= 0 || s.port > 65535) die("bad port in '" + arg + "'");
    s.request = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: tend-bench-latency\r\n\r\n";
    sides.push_back(std::move(s));
  }
  for (Side& s : sides) s.connect();

  const Nanos interval = static_cast<Nanos>(1e9 / rate);
  const Nanos start = now();
  const Nanos warm_end = start + 1'000'000'000;
  const Nanos end = warm_end + static_cast<Nanos>(seconds * 1e9);
  size_t late = 0;
  Nanos max_late = 0;
  std::string why;
  for (uint64_t k = 0;; ++k) {
    const Nanos due = start + static_cast<Nanos>(k) * interval;
    if (due >= end) break;
    Side& side = sides[(k + k / sides.size()) % sides.size()];
    sleepUntil(due);
    Nanos sent = now();
    bool closing = false;
    if (!side.exchange(why, closing)) die(side.name + ": " + why);
    Nanos done = now();
    if (closing) {
      ::close(side.fd);
      side.connect();
    }
    if (due < warm_end) continue;
    if (sent - due > 1'000'000) ++late;
    max_late = std::max(max_late, sent - due);
    side.samples.push_back(done - sent);
  }
  for (Side& s : sides) {
    std::sort(s.samples.begin(), s.samples.end());
    std::printf("%s %zu %.4f %.4f %.4f %.4f %.4f\n", s.name.c_str(), s.samples.size(),
                percentile(s.samples, 50), percentile(s.samples, 90), percentile(s.samples, 99),
                percentile(s.samples, 99.9), percentile(s.samples, 100));
    ::close(s.fd);
  }
  std::printf("late %zu %.4f\n", late, static_cast<double>(max_late) / 1e6);
  return 0;
}
