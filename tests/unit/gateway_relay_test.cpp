// The gateway end to end, in one process, over loopback sockets: a Gateway on its own
// io_context thread, a FakeBackend whose startApp() starts an in-process test app (a small
// thread-per-connection Beast server), and clients that speak raw HTTP through POSIX sockets
// with poll() deadlines, so a misbehaving gateway fails a test instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <cctype>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "gateway/gateway.hpp"
#include "gtest/gtest.h"

namespace tend {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Waits for a condition, polling, until a deadline. Returns whether it came true.
template <typename F>
bool eventually(F&& condition, Duration timeout = 5s) {
  auto deadline = SteadyClock::now() + timeout;
  while (!condition()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

uint64_t fnv1a(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string query(std::string_view target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return "";
}

// A bound, not yet listening, TCP socket on 127.0.0.1: connecting to it is refused, as to
// an app that has not started; listen() later "starts" it on the same port.
int reservePort(uint16_t port, uint16_t* bound) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound = ntohs(addr.sin_port);
  return fd;
}

uint16_t freePort() {
  uint16_t port = 0;
  int fd = reservePort(0, &port);
  ::close(fd);
  return port;
}

// ---- the app behind the gateway ------------------------------------------------------------

// A small HTTP app, one thread per connection, answering by path:
//   /upload           the request body's length and checksum
//   /sse?n=N&gap=MS   N server-sent events, MS apart
//   /chunked?n=N      a chunked body of N pieces
//   /download?size=N  N bytes, Content-Length framed
//   /close-delimited  a body ended by closing the connection
//   /status?code=C    status line "HTTP/1.1 C Odd", whatever C is
//   /long-chunk-line?size=N  a chunked body whose first chunk line is N bytes long
//   /last-chunk-late  an empty chunked body whose end comes in two pieces
//   /early            413 as soon as the head is in, without reading the body
//   /ws               a WebSocket echo
//   anything else     the request as text: method, target, headers
// In silent mode it reads requests and never answers.
class TestApp {
 public:
  TestApp() { reserve(0); }
  ~TestApp() { stop(); }

  uint16_t port() const { return port_; }
  std::atomic<bool> silent{false};
  std::atomic<bool> close_after_each{false};  // closes a kept-alive connection after answering
  std::atomic<bool> hang_up{false};  // reads a request's head, then closes without answering
  std::atomic<int> accepted{0};
  std::atomic<int> requests{0};

  // Starts listening after `boot` (on its own thread, as a slow app would).
  void start(Duration boot = 0ms) {
    std::lock_guard lock(mu_);
    if (running_) return;
    running_ = true;
    stopping_ = false;
    if (listen_fd_ < 0) reserve(port_);
    accept_thread_ = std::thread([this, boot] { acceptLoop(boot); });
  }

  // Closes the listener and every connection, like a process that exits; the port is
  // reserved again, so connecting is refused.
  void stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      if (!running_) return;
      running_ = false;
      stopping_ = true;
      if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
      for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    wake_.notify_all();
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      threads = std::move(workers_);
      workers_.clear();
    }
    for (auto& t : threads) t.join();
    std::lock_guard lock(mu_);
    ::close(listen_fd_);
    listen_fd_ = -1;
    reserve(port_);
  }

  bool running() {
    std::lock_guard lock(mu_);
    return running_;
  }

  size_t openConnections() {
    std::lock_guard lock(mu_);
    return connections_.size();
  }

 private:
  void reserve(uint16_t port) {
    for (int i = 0; i < 100 && listen_fd_ < 0; ++i) {
      listen_fd_ = reservePort(port, &port_);
      if (listen_fd_ < 0) std::this_thread::sleep_for(10ms);  // TIME_WAIT clearing
    }
    ASSERT_GE(listen_fd_, 0) << "cannot bind port " << port;
  }

  void acceptLoop(Duration boot) {
    {
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, boot, [this] { return stopping_; })) return;
      ::listen(listen_fd_, 1024);
    }
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard lock(mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      ++accepted;
      connections_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Sleeps like an app between events; stop() cuts it short.
  bool pause(Duration d) {
    std::unique_lock lock(mu_);
    return !wake_.wait_for(lock, d, [this] { return stopping_; });
  }

  // Raw reads and writes with Beast's parser only: quick to compile, and plain to read.
  void serve(int fd) {
    std::string in;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(boost::none);
      parser.eager(true);
      bool counted = false;
      while (!parser.is_done()) {
        if (!in.empty()) {
          beast::error_code ec;
          size_t used = parser.put(asio::buffer(in), ec);
          in.erase(0, used);
          if (ec && ec != http::error::need_more) break;
          if (parser.is_header_done() && !counted) {
            counted = true;
            ++requests;
            if (silent) {
              while (receiveSome(fd, in)) in.clear();
              return finish(fd);
            }
            if (hang_up) return finish(fd);
            if (parser.get().target() == "/early") {  // refuses an upload before reading it
              sendAll(fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
              return finish(fd);
            }
          }
          if (parser.is_done() || (!ec && !in.empty())) continue;
        }
        if (!receiveSome(fd, in)) return finish(fd);
      }
      if (!parser.is_done()) return finish(fd);
      auto request = parser.release();
      if (!answer(fd, request, in) || close_after_each) return finish(fd);
    }
  }

  void finish(int fd) {
    std::lock_guard lock(mu_);
    std::erase(connections_, fd);
    ::close(fd);
  }

  static bool receiveSome(int fd, std::string& in) {
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
    return true;
  }

  static bool sendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  static std::string chunk(std::string_view data) {
    char size[24];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + std::string(data) + "\r\n";
  }

  // Returns whether the connection stays open.
  bool answer(int fd, http::request<http::string_body>& request, std::string& in) {
    std::string target(request.target());
    std::string path = target.substr(0, target.find('?'));
    std::string connection = request.keep_alive() ? "" : "Connection: close\r\n";
    if (path == "/ws") return webSocketEcho(fd, request, in);
    if (path == "/sse" || path == "/chunked") {
      int n = std::stoi(query(target, "n"));
      auto gap = std::chrono::milliseconds(path == "/sse" ? std::stoi(query(target, "gap")) : 0);
      std::string type = path == "/sse" ? "text/event-stream" : "text/plain";
      if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: " + type +
                           "\r\nTransfer-Encoding: chunked\r\n" + connection + "\r\n")) {
        return false;
      }
      for (int i = 0; i < n; ++i) {
        if (i > 0 && !pause(gap)) return false;
        std::string piece = path == "/sse" ? "data: event " + std::to_string(i) + "\n\n"
                                           : "piece " + std::to_string(i) + ";";
        if (!sendAll(fd, chunk(piece))) return false;
      }
      return sendAll(fd, "0\r\n\r\n") && request.keep_alive();
    }
    if (path == "/download") {
      size_t size = std::stoull(query(target, "size"));
      if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n" +
                           connection + "\r\n")) {
        return false;
      }
      std::string piece(64 * 1024, 'd');
      for (size_t sent = 0; sent < size;) {
        size_t n = std::min(piece.size(), size - sent);
        if (!sendAll(fd, std::string_view(piece).substr(0, n))) return false;
        sent += n;
      }
      return request.keep_alive();
    }
    if (path == "/close-delimited") {
      sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
      return false;
    }
    if (path == "/long-chunk-line") {  // a chunk extension of `size` bytes, then the body
      std::string ext(std::stoull(query(target, "size")), 'x');
      return sendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + ext +
                             "\r\nhello\r\n0\r\n\r\n") &&
             request.keep_alive();
    }
    if (path == "/last-chunk-late") {  // the last chunk's line, then its CRLF a moment later
      return sendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n") &&
             pause(100ms) && sendAll(fd, "\r\n") && request.keep_alive();
    }
    if (path == "/status") {  // the status line as given: /status?code=099
      return sendAll(fd, "HTTP/1.1 " + query(target, "code") + " Odd\r\nContent-Length: 2\r\n" +
                             connection + "\r\nok") &&
             request.keep_alive();
    }
    std::string body;
    if (path == "/upload") {
      body = "length=" + std::to_string(request.body().size()) +
             " checksum=" + std::to_string(fnv1a(request.body()));
    } else {
      body = "method=" + std::string(request.method_string()) + "\ntarget=" + target +
             "\nversion=" + std::to_string(request.version()) + "\n";
      for (const auto& field : request) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        body += name + ": " + std::string(field.value()) + "\n";
      }
    }
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n" + connection + "\r\n";
    bool is_head = request.method() == http::verb::head;
    return sendAll(fd, head + (is_head ? "" : body)) && request.keep_alive();
  }

  // A WebSocket echo: the handshake, then every frame (client frames are masked) sent back
  // unmasked, until a close frame, which is echoed before closing.
  bool webSocketEcho(int fd, http::request<http::string_body>& request, std::string& in) {
    websocket::detail::sec_ws_accept_type accept;  // Beast's own helper for the accept key
    websocket::detail::make_sec_ws_accept(accept, request[http::field::sec_websocket_key]);
    if (!sendAll(fd,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                     std::string(accept.data(), accept.size()) + "\r\n\r\n")) {
      return false;
    }
    while (true) {
      while (in.size() < 6) {
        if (!receiveSome(fd, in)) return false;
      }
      auto byte = [&](size_t i) { return static_cast<uint8_t>(in[i]); };
      uint8_t opcode = byte(0) & 0x0f;
      size_t length = byte(1) & 0x7f;  // the tests send short frames only
      while (in.size() < 6 + length) {
        if (!receiveSome(fd, in)) return false;
      }
      std::string payload = in.substr(6, length);
      for (size_t i = 0; i < length; ++i) payload[i] ^= in[2 + i % 4];
      in.erase(0, 6 + length);
      std::string frame{static_cast<char>(0x80 | opcode), static_cast<char>(length)};
      if (!sendAll(fd, frame + payload) || opcode == 0x8) return false;
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  bool running_ = false;
  bool stopping_ = false;
  std::thread accept_thread_;
  std::vector<std::thread> workers_;
  std::vector<int> connections_;
};

// ---- the backend: what the supervisor would do ----------------------------------------------

// Called on the gateway's loop thread; read by the test thread, hence the atomics.
class FakeBackend final : public GatewayBackend {
 public:
  struct Sim {
    TestApp app;
    std::atomic<AppRunState> state{AppRunState::Stopped};
    std::atomic<int> starts{0};
    std::atomic<int> stops{0};
    std::atomic<int> refused{0};
    Duration boot = 0ms;
    std::string fail_with;       // startApp fails with this reason
    bool never_listens = false;  // the process runs but never accepts connections
  };

  Sim& add(const std::string& name) {
    auto& sim = apps_[name];
    if (!sim) sim = std::make_unique<Sim>();
    return *sim;
  }
  Sim& sim(const std::string& name) { return *apps_.at(name); }

  void startApp(const std::string& name, std::function<void(std::string)> done) override {
    Sim& s = sim(name);
    ++s.starts;
    if (!s.fail_with.empty()) {
      s.state = AppRunState::Failed;
      done(s.fail_with);
      return;
    }
    s.state = AppRunState::Running;
    if (!s.never_listens) s.app.start(s.boot);
    done("");
  }
  AppRunState state(const std::string& name) const override { return apps_.at(name)->state; }
  std::string failureReason(const std::string& name) const override {
    return apps_.at(name)->fail_with;
  }
  void stopIdle(const std::string& name) override {
    Sim& s = sim(name);
    ++s.stops;
    s.app.stop();
    s.state = AppRunState::Stopped;
  }
  std::vector<uint16_t> servingPorts(const std::string& name) const override {
    std::lock_guard lock(serving_mutex_);
    auto it = serving_.find(name);
    return it == serving_.end() ? std::vector<uint16_t>{} : it->second;
  }
  // Balanced routes: the ports that serve `name` (the test then calls targetsChanged()).
  void setServing(const std::string& name, std::vector<uint16_t> ports) {
    std::lock_guard lock(serving_mutex_);
    serving_[name] = std::move(ports);
  }
  void restartRefused(const std::string& name) override {
    Sim& s = sim(name);
    ++s.refused;
    s.app.stop();
    s.state = AppRunState::Stopped;  // as if it crashed; the next request starts it again
  }

 private:
  std::map<std::string, std::unique_ptr<Sim>> apps_;
  mutable std::mutex serving_mutex_;
  std::map<std::string, std::vector<uint16_t>> serving_;
};

// ---- a client ------------------------------------------------------------------------------

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool keep_alive = false;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Raw HTTP over a blocking POSIX socket; every wait has a deadline.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes with a reset, as a killed client's kernel may.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Some bytes (appended to `in`), or false on EOF, error or timeout.
  bool receive(Duration timeout = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
    return true;
  }

  // One whole response; nullopt on timeout or a malformed response.
  std::optional<Response> read(Duration timeout = 10s, bool head_request = false) {
    auto deadline = SteadyClock::now() + timeout;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    parser.eager(true);
    if (head_request) parser.skip(true);
    beast::error_code ec;
    while (true) {
      if (!in.empty()) {
        size_t used = parser.put(asio::buffer(in), ec);
        in.erase(0, used);
        if (parser.is_done()) break;
        if (ec && ec != http::error::need_more) return std::nullopt;
        if (!ec && !in.empty()) continue;
      }
      auto left = std::chrono::duration_cast<Duration>(deadline - SteadyClock::now());
      if (left <= 0ms) return std::nullopt;
      if (!receive(left)) {
        if (!parser.got_some()) return std::nullopt;
        parser.put_eof(ec);
        if (ec || !parser.is_done()) return std::nullopt;
        break;
      }
    }
    auto message = parser.release();
    Response r;
    r.status = message.result_int();
    for (const auto& field : message) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      r.headers[name] = std::string(field.value());
    }
    r.body = std::move(message.body());
    r.keep_alive = message.keep_alive();
    return r;
  }

  // Whether the peer closed the connection (EOF or reset) within `timeout`.
  bool closedWithin(Duration timeout) {
    auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
      in.append(buf, static_cast<size_t>(n));
    }
    return false;
  }

  std::string in;  // received, not yet consumed

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string get(const std::string& target, const std::string& host, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

std::string post(const std::string& target, const std::string& host, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: " + host +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A WebSocket frame from the client (masked, as clients must).
std::string clientFrame(uint8_t opcode, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  EXPECT_LT(payload.size(), 126u);
  f += static_cast<char>(0x80 | payload.size());
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

// ---- the fixture ---------------------------------------------------------------------------

class GatewayRelayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Hundreds of concurrent connections, each counted four times in this one process.
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, 16384);
    ::setrlimit(RLIMIT_NOFILE, &r);
  }

  GatewayRoute route(const std::string& app) {
    GatewayRoute r;
    r.app = app;
    r.hosts = {app + ".localhost"};
    r.target_port = backend.add(app).app.port();
    r.idle_timeout = 30s;
    r.start_timeout = 5s;
    return r;
  }

  GatewayLimits testLimits() {
    GatewayLimits l;
    l.head_timeout = 300ms;
    l.keep_alive_timeout = 2s;
    l.client_io_timeout = 2s;
    l.upstream_connect_timeout = 1s;
    l.upstream_response_timeout = 5s;
    return l;
  }

  // Runs a gateway with `routes` on its own thread.
  void run(std::vector<GatewayRoute> routes, GatewayLimits limits) {
    port = freePort();
    gateway = std::make_unique<Gateway>(io, backend, log, SystemClock::instance(), limits);
    GatewayConfig config = settings;
    config.listen = {"127.0.0.1:" + std::to_string(port)};
    config.routes = std::move(routes);
    ASSERT_EQ(gateway->configure(config), "");
    thread = std::thread([this] { io.run(); });
  }
  void run(std::vector<GatewayRoute> routes) { run(std::move(routes), testLimits()); }

  template <typename F>
  auto onLoop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }

  void TearDown() override {
    if (thread.joinable()) {
      onLoop([&] { gateway->close(); });
      work.reset();
      // Once closed, nothing may be left pending on the loop.
      auto done = std::async(std::launch::async, [&] { thread.join(); });
      if (done.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "the gateway left work on its io_context after close()";
        io.stop();
        done.wait();
      }
    }
    gateway.reset();
  }

  Gateway::AppStats stats(const std::string& app) {
    auto s = onLoop([&] { return gateway->stats(app); });
    EXPECT_TRUE(s.has_value());
    return s.value_or(Gateway::AppStats{});
  }

  bool countsReturnToZero(const std::string& app) {
    return eventually([&] {
      auto s = stats(app);
      return s.in_flight == 0 && s.open_streams == 0;
    });
  }

  std::optional<Response> fetch(const std::string& request, Duration timeout = 10s) {
    Client c(port);
    if (!c.send(request)) return std::nullopt;
    return c.read(timeout);
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  GatewayConfig settings;  // what run() configures besides the listener and the routes
  FakeBackend backend;
  Logger log;
  std::unique_ptr<Gateway> gateway;
  std::thread thread;
  uint16_t port = 0;
};

// ---- activation ----------------------------------------------------------------------------

TEST_F(GatewayRelayTest, StartsAStoppedAppOnItsFirstRequestThenServesItHot) {
  auto r = route("web");
  backend.sim("web").boot = 50ms;
  run({r});
  Client c(port);
  ASSERT_TRUE(c.send(get("/first", "web.localhost")));
  auto first = c.read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_NE(first->body.find("target=/first\n"), std::string::npos);
  EXPECT_EQ(backend.sim("web").starts, 1);

  ASSERT_TRUE(c.send(get("/second", "web.localhost")));  // same connection: keep-alive
  auto second = c.read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  auto third = fetch(get("/third", "web.localhost"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 200);
  EXPECT_EQ(backend.sim("web").starts, 1);
  auto s = stats("web");
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.activations, 1u);
  EXPECT_GT(s.last_request_ms, 0);
}

TEST_F(GatewayRelayTest, AnUnknownHostIs404AndStartsNothing) {
  run({route("web")});
  auto r = fetch(get("/", "nobody.localhost"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "tend: no app for host 'nobody.localhost'\n");
  EXPECT_EQ(backend.sim("web").starts, 0);
}

TEST_F(GatewayRelayTest, HundredsOfConcurrentRequestsToAStoppedAppStartItOnceAndAllAreAnswered) {
  auto r = route("web");
  backend.sim("web").boot = 200ms;
  run({r});
  constexpr int kClients = 300;
  std::vector<int> statuses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto res = fetch(get("/n/" + std::to_string(i), "web.localhost"), 20s);
      bool right =
          res && res->body.find("target=/n/" + std::to_string(i) + "\n") != std::string::npos;
      statuses[i] = res && right ? res->status : -1;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), kClients);
  EXPECT_EQ(backend.sim("web").starts, 1);
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayRelayTest, AnAppThatNeverAcceptsGets504AfterStartTimeout) {
  auto r = route("slow");
  r.start_timeout = 300ms;
  backend.sim("slow").never_listens = true;
  run({r});
  auto started = SteadyClock::now();
  auto res = fetch(get("/", "slow.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_GE(SteadyClock::now() - started, 300ms);
  EXPECT_NE(res->body.find("app 'slow' did not accept connections"), std::string::npos)
      << res->body;
  EXPECT_TRUE(countsReturnToZero("slow"));
}

TEST_F(GatewayRelayTest, AFailedStartIs502WithTheReason) {
  auto r = route("broken");
  backend.sim("broken").fail_with = "cannot execute ./server: No such file or directory";
  run({r});
  auto res = fetch(get("/", "broken.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(res->body,
            "tend: app 'broken' failed to start: cannot execute ./server: No such file or "
            "directory\n");
}

TEST_F(GatewayRelayTest, AnAppThatExitsBeforeItIsReadyIs502AtOnceWithItsExitStatus) {
  auto r = route("dying");
  r.start_timeout = 60s;
  backend.sim("dying").never_listens = true;
  run({r});
  Client c(port);
  ASSERT_TRUE(c.send(get("/", "dying.localhost")));
  // Held: the start was asked for, and nothing listens.
  ASSERT_TRUE(eventually([&] { return backend.sim("dying").starts == 1; }));
  backend.sim("dying").state = AppRunState::Starting;  // it crashed; a restart is under way
  onLoop([&] {
    gateway->startFailed("dying", "exited before it was ready: exited with code 3; restarting");
  });
  auto res = c.read(20s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(res->body,
            "tend: app 'dying' exited before it was ready: exited with code 3; restarting\n");
  EXPECT_TRUE(countsReturnToZero("dying"));
}

TEST_F(GatewayRelayTest, AFailedStartWhileAnInstanceIsOnlineLeavesHeldRequestsWaiting) {
  auto r = route("web");
  r.start_timeout = 300ms;
  backend.sim("web").never_listens = true;  // the backend says Running: an instance is online
  run({r});
  Client c(port);
  ASSERT_TRUE(c.send(get("/", "web.localhost")));
  ASSERT_TRUE(eventually([&] { return backend.sim("web").starts == 1; }));
  onLoop([&] { gateway->startFailed("web", "exited before it was ready: exited with code 3"); });
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504) << res->body;  // held until start_timeout, as before
}

TEST_F(GatewayRelayTest, ARequestWhileTheAppStopsWaitsAndGetsItStartedAgain) {
  run({route("web")});
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  auto& sim = backend.sim("web");
  sim.state = AppRunState::Stopping;
  sim.app.stop();
  std::optional<Response> res;
  std::thread client([&] { res = fetch(get("/again", "web.localhost")); });
  std::this_thread::sleep_for(100ms);  // the app takes a while to stop
  EXPECT_EQ(sim.starts, 1);
  sim.state = AppRunState::Stopped;
  client.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(sim.starts, 2);
}

TEST_F(GatewayRelayTest, AnAppThatRefusesWhileRunningIsRestartedAndTheRequestHeld) {
  run({route("web")});
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  auto& sim = backend.sim("web");
  sim.app.stop();  // it died; the supervisor has not noticed yet
  // Nothing was sent, so the request waits for the restart as in a cold start.
  auto res = fetch(get("/", "web.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(sim.refused, 1);
  EXPECT_EQ(sim.starts, 2);
}

TEST_F(GatewayRelayTest, ABrowserGetsALoadingPageWhileOtherClientsAreHeld) {
  auto r = route("web");
  r.loading_page = true;
  backend.sim("web").boot = 200ms;
  run({r});
  auto page = fetch(get("/", "web.localhost", "Accept: text/html,*/*;q=0.8\r\n"));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 503);
  EXPECT_NE(page->body.find("Starting web"), std::string::npos);
  EXPECT_NE(page->body.find("http-equiv=\"refresh\""), std::string::npos);
  EXPECT_EQ(backend.sim("web").starts, 1);
  auto api = fetch(get("/api", "web.localhost", "Accept: application/json\r\n"));
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 200);
  EXPECT_EQ(backend.sim("web").starts, 1);
}

TEST_F(GatewayRelayTest, AFullHoldQueueIs503) {
  auto limits = testLimits();
  limits.max_held_requests = 2;
  auto r = route("web");
  backend.sim("web").boot = 300ms;
  run({r}, limits);
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<Client>(port));
    ASSERT_TRUE(held.back()->send(get("/", "web.localhost")));
  }
  ASSERT_TRUE(eventually([&] { return stats("web").in_flight == 2; }));
  auto third = fetch(get("/", "web.localhost"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 503);
  for (auto& c : held) EXPECT_EQ(c->read()->status, 200);
}

// ---- relaying ------------------------------------------------------------------------------

TEST_F(GatewayRelayTest, ForwardsPathQueryAndHeadersAndAddsForwardingHeaders) {
  run({route("web")});
  auto res = fetch(get("/a/b%20c?x=1&y=two", "Web.Localhost:8080",
                       "X-Forwarded-For: 203.0.113.9\r\nX-Custom: kept\r\n"
                       "Connection: keep-alive, X-Secret\r\nX-Secret: dropped\r\n"
                       "Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: x\r\n"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const std::string& b = res->body;
  EXPECT_NE(b.find("method=GET\n"), std::string::npos);
  EXPECT_NE(b.find("target=/a/b%20c?x=1&y=two\n"), std::string::npos);
  EXPECT_NE(b.find("host: Web.Localhost:8080\n"), std::string::npos);
  // The client is no trusted proxy: what it says about earlier hops is replaced.
  EXPECT_NE(b.find("x-forwarded-for: 127.0.0.1\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("203.0.113.9"), std::string::npos) << b;
  EXPECT_NE(b.find("x-forwarded-proto: http\n"), std::string::npos);
  EXPECT_NE(b.find("x-forwarded-host: Web.Localhost:8080\n"), std::string::npos);
  EXPECT_NE(b.find("x-custom: kept\n"), std::string::npos);
  for (auto gone : {"x-secret", "keep-alive", "te:", "connection", "proxy-connection"}) {
    EXPECT_EQ(b.find(std::string("\n") + gone), std::string::npos) << gone << " in\n" << b;
  }
}

const char* const kForwardingClaims =
    "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.2\r\n"
    "Forwarded: for=203.0.113.9;proto=https\r\nX-Real-IP: 203.0.113.9\r\n"
    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n";

TEST_F(GatewayRelayTest, ForwardingHeadersFromAClientThatIsNoTrustedProxyAreReplaced) {
  settings.trusted_proxies = {"10.0.0.0/8"};  // not this client
  run({route("web")});
  auto res = fetch(get("/", "web.localhost", kForwardingClaims));
  ASSERT_TRUE(res);
  const std::string& b = res->body;
  EXPECT_NE(b.find("x-forwarded-for: 127.0.0.1\n"), std::string::npos) << b;
  EXPECT_NE(b.find("x-real-ip: 127.0.0.1\n"), std::string::npos) << b;
  EXPECT_NE(b.find("x-forwarded-proto: http\n"), std::string::npos) << b;
  EXPECT_NE(b.find("x-forwarded-host: web.localhost\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("\nforwarded:"), std::string::npos) << b;
  for (auto claim : {"203.0.113.9", "198.51.100.2", "https", "shop.example"}) {
    EXPECT_EQ(b.find(claim), std::string::npos) << claim << " in\n" << b;
  }
}

TEST_F(GatewayRelayTest, ForwardingHeadersFromATrustedProxyAreKeptAndTheChainAppendedTo) {
  settings.trusted_proxies = {"192.168.0.0/16", "127.0.0.0/8"};
  run({route("web")});
  auto res = fetch(get("/", "web.localhost", kForwardingClaims));
  ASSERT_TRUE(res);
  const std::string& b = res->body;
  EXPECT_NE(b.find("x-forwarded-for: 203.0.113.9, 198.51.100.2, 127.0.0.1\n"), std::string::npos)
      << b;
  EXPECT_NE(b.find("forwarded: for=203.0.113.9;proto=https\n"), std::string::npos) << b;
  EXPECT_NE(b.find("x-real-ip: 203.0.113.9\n"), std::string::npos) << b;
  EXPECT_NE(b.find("x-forwarded-proto: https\n"), std::string::npos) << b;
  EXPECT_NE(b.find("x-forwarded-host: shop.example\n"), std::string::npos) << b;
  // What the proxy did not say, the gateway does.
  auto bare = fetch(get("/", "web.localhost"));
  ASSERT_TRUE(bare);
  EXPECT_NE(bare->body.find("x-forwarded-for: 127.0.0.1\n"), std::string::npos) << bare->body;
  EXPECT_NE(bare->body.find("x-real-ip: 127.0.0.1\n"), std::string::npos) << bare->body;
  EXPECT_NE(bare->body.find("x-forwarded-proto: http\n"), std::string::npos) << bare->body;
}

TEST_F(GatewayRelayTest, ABadTrustedProxyIsAConfigurationErrorAndChangesNothing) {
  run({route("web")});
  GatewayConfig config;
  config.listen = {"127.0.0.1:" + std::to_string(port)};
  config.trusted_proxies = {"127.0.0.1", "proxy.local"};
  EXPECT_EQ(onLoop([&] { return gateway->configure(config); }),
            "gateway.trusted_proxies: 'proxy.local' is not an IP address or CIDR block (such as "
            "10.0.0.0/8 or ::1)");
  EXPECT_EQ(fetch(get("/", "web.localhost"))->status, 200);  // the routes are still there
}

TEST_F(GatewayRelayTest, RelaysPostBodiesEmptyLargeAndBinary) {
  run({route("web")});
  Client c(port);
  std::mt19937 random(42);
  std::string binary(1 << 20, '\0');
  for (auto& ch : binary) ch = static_cast<char>(random());
  for (const std::string& body : {std::string(), std::string("hello"), binary}) {
    ASSERT_TRUE(c.send(post("/upload", "web.localhost", body)));
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body,
              "length=" + std::to_string(body.size()) + " checksum=" + std::to_string(fnv1a(body)));
  }
}

// Bodies of a few MiB go through a pipe with splice(2): the bytes arrive intact both ways,
// and the connection goes on with the next request.
TEST_F(GatewayRelayTest, RelaysLargeBodiesBothWaysAndKeepsTheConnection) {
  std::mt19937 random(7);
  std::string binary(6 << 20, '\0');
  for (auto& ch : binary) ch = static_cast<char>(random());
  run({route("web")});
  Client c(port);  // after the slow part: an idle connection is closed after head_timeout
  ASSERT_TRUE(c.send(post("/upload", "web.localhost", binary)));
  auto up = c.read();
  ASSERT_TRUE(up);
  EXPECT_EQ(up->body, "length=" + std::to_string(binary.size()) +
                          " checksum=" + std::to_string(fnv1a(binary)));
  ASSERT_TRUE(c.send(get("/download?size=5000001", "web.localhost")));
  auto down = c.read();
  ASSERT_TRUE(down);
  EXPECT_EQ(down->body.size(), 5000001u);
  EXPECT_EQ(down->body.find_first_not_of('d'), std::string::npos);
  ASSERT_TRUE(c.send(get("/after", "web.localhost")));
  auto after = c.read();
  ASSERT_TRUE(after);
  EXPECT_NE(after->body.find("target=/after"), std::string::npos) << after->body;
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayRelayTest, RelaysAChunkedUpload) {
  run({route("web")});
  std::string body;
  std::string request =
      "POST /upload HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 50; ++i) {
    std::string piece(1000 + i, static_cast<char>('a' + i % 26));
    body += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    request += size + piece + "\r\n";
  }
  request += "0\r\n\r\n";
  auto res = fetch(request);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body,
            "length=" + std::to_string(body.size()) + " checksum=" + std::to_string(fnv1a(body)));
}

TEST_F(GatewayRelayTest, RelaysAnAnswerThatComesBeforeTheUploadEnds) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(
      c.send("POST /early HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 10000000\r\n\r\n" +
             std::string(1 << 20, 'x')));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_FALSE(res->keep_alive);
  EXPECT_TRUE(c.closedWithin(5s));
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayRelayTest, AnswersExpectContinueItself) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n"));
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("12345"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "length=5 checksum=" + std::to_string(fnv1a("12345")));
}

TEST_F(GatewayRelayTest, RelaysChunkedAndCloseDelimitedResponsesAndKeepsTheConnection) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(c.send(get("/chunked?n=5", "web.localhost")));
  auto chunked = c.read();
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->body, "piece 0;piece 1;piece 2;piece 3;piece 4;");
  ASSERT_TRUE(c.send(get("/close-delimited", "web.localhost")));
  auto delimited = c.read();
  ASSERT_TRUE(delimited);
  EXPECT_EQ(delimited->body, "until the end");
  EXPECT_EQ(delimited->header("transfer-encoding"), "chunked");  // re-framed for keep-alive
  ASSERT_TRUE(c.send(get("/after", "web.localhost")));
  auto after = c.read();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(GatewayRelayTest, AnswersPipelinedRequestsInOrderAndHead) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(c.send(get("/one", "web.localhost") + get("/two", "web.localhost") +
                     "HEAD /three HTTP/1.1\r\nHost: web.localhost\r\n\r\n"));
  auto one = c.read();
  auto two = c.read();
  auto three = c.read(10s, true);
  ASSERT_TRUE(one && two && three);
  EXPECT_NE(one->body.find("target=/one"), std::string::npos);
  EXPECT_NE(two->body.find("target=/two"), std::string::npos);
  EXPECT_EQ(three->status, 200);
  EXPECT_TRUE(three->body.empty());
  EXPECT_NE(three->header("content-length"), "");
}

TEST_F(GatewayRelayTest, StreamsServerSentEventsOneByOne) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(c.send(get("/sse?n=3&gap=200", "web.localhost", "Accept: text/event-stream\r\n")));
  std::vector<SteadyClock::time_point> arrivals;
  size_t seen = 0;
  auto deadline = SteadyClock::now() + 5s;
  while (arrivals.size() < 3 && SteadyClock::now() < deadline) {
    ASSERT_TRUE(c.receive(5s));
    size_t at;
    while ((at = c.in.find("data: event", seen)) != std::string::npos) {
      arrivals.push_back(SteadyClock::now());
      seen = at + 1;
    }
    if (arrivals.size() == 1) {
      EXPECT_EQ(stats("web").open_streams, 1);
    }
  }
  ASSERT_EQ(arrivals.size(), 3u);
  EXPECT_NE(c.in.find("text/event-stream"), std::string::npos);
  // Each event arrives when it is sent, not all at the end.
  EXPECT_GE(arrivals[1] - arrivals[0], 120ms);
  EXPECT_GE(arrivals[2] - arrivals[1], 120ms);
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayRelayTest, TunnelsAWebSocket) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(c.send(get("/ws", "web.localhost",
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n")));
  while (c.in.find("\r\n\r\n") == std::string::npos) ASSERT_TRUE(c.receive());
  ASSERT_EQ(c.in.substr(0, 12), "HTTP/1.1 101");
  EXPECT_NE(c.in.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos);
  c.in.erase(0, c.in.find("\r\n\r\n") + 4);
  EXPECT_TRUE(eventually([&] { return stats("web").open_streams == 1; }));
  EXPECT_EQ(stats("web").in_flight, 0);
  for (std::string text : {"hello", "through the tunnel"}) {
    ASSERT_TRUE(c.send(clientFrame(0x1, text)));
    while (c.in.size() < 2 + text.size()) ASSERT_TRUE(c.receive());
    EXPECT_EQ(static_cast<uint8_t>(c.in[0]), 0x81);
    EXPECT_EQ(c.in.substr(2, text.size()), text);
    c.in.erase(0, 2 + text.size());
  }
  ASSERT_TRUE(c.send(clientFrame(0x8, "")));
  EXPECT_TRUE(c.closedWithin(5s));
  EXPECT_TRUE(countsReturnToZero("web"));
}

// ---- bad input -----------------------------------------------------------------------------

TEST_F(GatewayRelayTest, RefusesAmbiguousFramingAndClosesTheConnection) {
  run({route("web")});
  for (std::string smuggle :
       {"POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n"
        "abcd",
        "POST / HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: web.localhost\r\nX-Folded: a\r\n b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: -1\r\n\r\n"}) {
    Client c(port);
    ASSERT_TRUE(c.send(smuggle));
    auto res = c.read();
    ASSERT_TRUE(res) << smuggle;
    EXPECT_EQ(res->status, 400) << smuggle;
    EXPECT_FALSE(res->keep_alive);
    EXPECT_TRUE(c.closedWithin(5s));
  }
  EXPECT_EQ(backend.sim("web").starts, 0);
  EXPECT_EQ(backend.sim("web").app.requests, 0);
}

TEST_F(GatewayRelayTest, RefusesMalformedFramingWith400BeforeTheAppSeesIt) {
  run({route("web")});
  for (std::string framing :
       {"Transfer-Encoding: chunked;x=1", "Transfer-Encoding: , chunked",
        "Transfer-Encoding: chunked,", "Transfer-Encoding: gzip", "Content-Length: 3, 4",
        "Content-Length: 3,", "Content-Length: 3\r\nTransfer-Encoding: chunked"}) {
    Client c(port);
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: web.localhost\r\n" + framing +
                       "\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
    auto res = c.read();
    ASSERT_TRUE(res) << framing;
    EXPECT_EQ(res->status, 400) << framing;
    EXPECT_EQ(res->header("connection"), "close") << framing;
    EXPECT_TRUE(res->body.starts_with("tend: ")) << res->body;
    EXPECT_TRUE(c.closedWithin(5s)) << framing;
  }
  EXPECT_EQ(backend.sim("web").app.requests, 0);
}

// RFC 9110 section 8.6: identical Content-Length values are one length; the app gets it
// once, as a plain "Content-Length: 3", and a chunked body as a plain "chunked".
TEST_F(GatewayRelayTest, ForwardsFramingInOneCanonicalForm) {
  run({route("web")});
  auto count = [](const std::string& body, const std::string& line) {
    size_t n = 0;
    for (size_t at = 0; (at = body.find(line, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  for (std::string framing :
       {"Content-Length: 3\r\nContent-Length: 3", "Content-Length: 3, 3", "content-length:3 , 3"}) {
    auto res = fetch("POST /x HTTP/1.1\r\nHost: web.localhost\r\n" + framing + "\r\n\r\nabc");
    ASSERT_TRUE(res) << framing;
    EXPECT_EQ(res->status, 200) << framing;
    EXPECT_EQ(count(res->body, "content-length:"), 1u) << res->body;
    EXPECT_NE(res->body.find("\ncontent-length: 3\n"), std::string::npos) << res->body;
  }
  auto chunked = fetch(
      "POST /x HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding:  Chunked \r\n\r\n"
      "3;name=value\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 200);
  EXPECT_EQ(count(chunked->body, "transfer-encoding:"), 1u) << chunked->body;
  EXPECT_NE(chunked->body.find("\ntransfer-encoding: chunked\n"), std::string::npos)
      << chunked->body;
}

// Found by fuzz/gateway_session_fuzz: Beast reads any three digits as a status, and an
// app's "HTTP/1.1 099 ..." went to the client as "HTTP/1.1 99 ...", which no client can
// parse. Valid status codes are 100-599 (RFC 9110 section 15); others are a bad response.
TEST_F(GatewayRelayTest, AnswersAStatusOutside100To599With502) {
  run({route("web")});
  for (std::string code : {"099", "000", "600", "999"}) {
    auto res = fetch(get("/status?code=" + code, "web.localhost"));
    ASSERT_TRUE(res) << code;
    EXPECT_EQ(res->status, 502) << code;
    EXPECT_NE(res->body.find("sent an invalid status code " + std::to_string(std::stoi(code))),
              std::string::npos)
        << res->body;
  }
  auto res = fetch(get("/status?code=599", "web.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 599);
  EXPECT_EQ(res->body, "ok");
}

// Found by fuzz/gateway_session_fuzz: a chunk line (or trailer) longer than the read buffer
// left Beast's parser waiting for its end with no room to read it: the session read into
// an empty buffer, got 0 bytes at once, and went round again, its deadline moved on each
// time, at 100% of the gateway's thread, forever. Such a message now ends its connection.
TEST_F(GatewayRelayTest, AChunkLineLongerThanTheBufferEndsTheConnection) {
  auto limits = testLimits();
  limits.max_request_head = 1024;
  limits.max_response_head = 1024;
  run({route("web")}, limits);
  Client c(port);
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;" +
             std::string(4000, 'x')));
  EXPECT_TRUE(c.closedWithin(5s));

  Client d(port);
  ASSERT_TRUE(d.send(get("/long-chunk-line?size=4000", "web.localhost")));
  EXPECT_TRUE(d.closedWithin(5s));
  EXPECT_TRUE(countsReturnToZero("web"));
  // The gateway is free for the next request.
  auto res = fetch(get("/", "web.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// Found by fuzz/gateway_session_fuzz: when an answer's body had not begun when Beast said
// need_more, the head went out and Beast was handed the same bytes again, which its
// contract forbids (an assertion, on in the sanitizer build: this test aborted there).
TEST_F(GatewayRelayTest, AnAnswerWhoseLastChunkComesInPiecesIsRelayed) {
  run({route("web")});
  for (const char* version : {"1.1", "1.0"}) {
    auto res = fetch(std::string("GET /last-chunk-late HTTP/") + version +
                     "\r\nHost: web.localhost\r\n\r\n");
    ASSERT_TRUE(res) << version;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "");
  }
}

TEST_F(GatewayRelayTest, RefusesABadChunkSizeMidBodyWith400) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
             "zz\r\nhello\r\n0\r\n\r\n"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->header("connection"), "close");
  EXPECT_TRUE(c.closedWithin(5s));
  EXPECT_TRUE(countsReturnToZero("web"));
}

std::string chunkedUpload(size_t extension) {
  return "POST /upload HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=" +
         std::string(extension, 'e') + "\r\nhello\r\n0\r\n\r\n";
}

// A chunk line that cannot fit the read buffer (the head limit, 32 KiB) is refused with a
// 400 as soon as the buffer is full, not left to the app's response timeout (a 504 that
// blamed the app); one that fits goes through.
TEST_F(GatewayRelayTest, AChunkExtensionLongerThanTheBufferIs400AndAShorterOneIsRelayed) {
  auto limits = testLimits();
  limits.upstream_response_timeout = 60s;
  run({route("web")}, limits);
  auto fits = fetch(chunkedUpload(20 * 1024));
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 200);
  EXPECT_EQ(fits->body, "length=5 checksum=" + std::to_string(fnv1a("hello")));

  Client c(port);
  ASSERT_TRUE(c.send(chunkedUpload(40 * 1024)));
  auto res = c.read(30s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("chunk header"), std::string::npos) << res->body;
  EXPECT_EQ(res->header("connection"), "close");
  EXPECT_TRUE(c.closedWithin(5s));
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayRelayTest, OversizedHeadsAre431AndLongTargets414) {
  auto limits = testLimits();
  limits.max_request_head = 4096;
  limits.max_request_line = 1024;
  run({route("web")}, limits);
  auto big = fetch(get("/", "web.localhost", "X-Big: " + std::string(5000, 'x') + "\r\n"));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 431);
  auto many = std::string();
  for (int i = 0; i < 120; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  auto fields = fetch(get("/", "web.localhost", many));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->status, 431);
  auto target = fetch(get("/" + std::string(2000, 'a'), "web.localhost"));
  ASSERT_TRUE(target);
  EXPECT_EQ(target->status, 414);
  EXPECT_EQ(backend.sim("web").starts, 0);
}

TEST_F(GatewayRelayTest, HalfARequestThenSilenceIsClosedAfterTheHeadTimeoutAndTheGatewayServesOn) {
  run({route("web")});
  Client stalled(port);
  ASSERT_TRUE(stalled.send("GET / HTTP/1.1\r\nHost: web.loc"));
  auto started = SteadyClock::now();
  EXPECT_TRUE(stalled.closedWithin(3s));
  EXPECT_GE(SteadyClock::now() - started, 250ms);
  Client silent(port);  // connects and sends nothing
  EXPECT_TRUE(silent.closedWithin(3s));
  auto res = fetch(get("/", "web.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(GatewayRelayTest, AnAppThatNeverAnswersGets504) {
  auto limits = testLimits();
  limits.upstream_response_timeout = 300ms;
  run({route("mute")}, limits);
  backend.sim("mute").app.silent = true;
  auto res = fetch(get("/", "mute.localhost"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_EQ(res->body, "tend: app 'mute' did not answer within 300ms\n");
  EXPECT_TRUE(countsReturnToZero("mute"));
}

TEST_F(GatewayRelayTest, CapsOpenConnections) {
  auto limits = testLimits();
  limits.max_connections = 2;
  limits.head_timeout = 5s;
  run({route("web")}, limits);
  Client a(port), b(port);
  ASSERT_TRUE(a.send("G"));
  ASSERT_TRUE(b.send("G"));
  Client c(port);
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
}

// A client over the cap gets its 503 at once, and the connection is read from (not reset)
// for a while, so a client still sending its request (a large upload, as curl may) does not
// fail with "Broken pipe" before it reads the answer.
TEST_F(GatewayRelayTest, AClientOverTheConnectionCapReadsA503AndMayFinishSendingItsRequest) {
  auto limits = testLimits();
  limits.head_timeout = 5s;
  settings.max_connections = 2;  // the configuration's cap wins over the limits' default
  run({route("web")}, limits);
  Client a(port), b(port);
  ASSERT_TRUE(a.send("G"));
  ASSERT_TRUE(b.send("G"));
  Client c(port);
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->header("connection"), "close");
  EXPECT_EQ(res->body, "tend: too many connections; try again\n");
  EXPECT_TRUE(c.send(post("/upload", "web.localhost", std::string(1 << 20, 'x'))));
  EXPECT_TRUE(c.closedWithin(5s));
  // Below the cap again, clients are served.
  a.close();
  b.close();
  EXPECT_TRUE(eventually([&] {
    auto r = fetch(get("/", "web.localhost"));
    return r && r->status == 200;
  }));
}

// A flood over the cap cannot grow memory: at most max_refusing connections linger after
// their 503; the others are closed right after it.
TEST_F(GatewayRelayTest, AtMostMaxRefusingConnectionsLingerAfterTheir503) {
  auto limits = testLimits();
  limits.head_timeout = 30s;
  limits.max_connections = 1;
  limits.max_refusing = 1;
  limits.refusal_linger = 30s;
  run({route("web")}, limits);
  Client held(port);
  ASSERT_TRUE(held.send("G"));
  const std::string upload = post("/upload", "web.localhost", std::string(1 << 20, 'x'));
  Client first(port);
  ASSERT_EQ(first.read()->status, 503);
  EXPECT_TRUE(first.send(upload));  // it lingers: what it sends is read
  Client second(port);
  auto res = second.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);  // still answered, but closed at once: a large upload fails
  // (more than any socket send buffer holds, so it cannot all be taken without a reader)
  const std::string large = post("/upload", "web.localhost", std::string(32 << 20, 'x'));
  EXPECT_FALSE(second.send(large));
  // Once the first has gone, its place is free for the next.
  first.close();
  EXPECT_TRUE(eventually([&] {
    Client next(port);
    auto r = next.read();
    return r && r->status == 503 && next.send(large);
  }));
}

// ---- idle accounting -----------------------------------------------------------------------

TEST_F(GatewayRelayTest, StopsAnIdleAppAndStartsItAgainOnTheNextRequest) {
  auto r = route("web");
  r.idle_timeout = 200ms;
  run({r});
  auto started = SteadyClock::now();
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  auto& sim = backend.sim("web");
  ASSERT_TRUE(eventually([&] { return sim.stops == 1; }));
  EXPECT_GE(SteadyClock::now() - started, 200ms);
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  EXPECT_EQ(sim.starts, 2);
}

TEST_F(GatewayRelayTest, AnOpenWebSocketKeepsTheAppPastItsIdleTimeoutUntilItCloses) {
  auto r = route("web");
  r.idle_timeout = 200ms;
  run({r});
  Client c(port);
  ASSERT_TRUE(c.send(get("/ws", "web.localhost",
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n")));
  while (c.in.find("\r\n\r\n") == std::string::npos) ASSERT_TRUE(c.receive());
  std::this_thread::sleep_for(600ms);  // three idle timeouts with the socket open
  EXPECT_EQ(backend.sim("web").stops, 0);
  EXPECT_EQ(stats("web").open_streams, 1);
  c.close();  // vanishes without a close frame
  EXPECT_TRUE(countsReturnToZero("web"));
  EXPECT_TRUE(eventually([&] { return backend.sim("web").stops == 1; }));
}

TEST_F(GatewayRelayTest, AClientVanishingMidUploadLeavesTheCountsRight) {
  auto r = route("web");
  r.idle_timeout = 300ms;
  run({r});
  {
    Client c(port);
    ASSERT_TRUE(
        c.send("POST /upload HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 10000000"
               "\r\n\r\n" +
               std::string(100000, 'u')));
    ASSERT_TRUE(eventually([&] { return backend.sim("web").app.requests == 1; }));
    EXPECT_EQ(stats("web").in_flight, 1);
    c.reset();
  }
  EXPECT_TRUE(countsReturnToZero("web"));
  EXPECT_TRUE(eventually([&] { return backend.sim("web").stops == 1; }));
}

TEST_F(GatewayRelayTest, AClientVanishingMidDownloadLeavesTheCountsRight) {
  auto r = route("web");
  r.idle_timeout = 300ms;
  run({r});
  {
    Client c(port);
    ASSERT_TRUE(c.send(get("/download?size=100000000", "web.localhost")));
    while (c.in.size() < 200000) ASSERT_TRUE(c.receive());
    EXPECT_EQ(stats("web").in_flight, 1);
  }
  EXPECT_TRUE(countsReturnToZero("web"));
  EXPECT_TRUE(eventually([&] { return backend.sim("web").stops == 1; }));
}

TEST_F(GatewayRelayTest, AClientVanishingMidEventStreamIsNoticedBeforeTheNextEvent) {
  auto r = route("web");
  run({r});
  {
    Client c(port);
    ASSERT_TRUE(c.send(get("/sse?n=2&gap=20000", "web.localhost")));
    while (c.in.find("data: event 0") == std::string::npos) ASSERT_TRUE(c.receive());
    EXPECT_EQ(stats("web").open_streams, 1);
  }
  EXPECT_TRUE(eventually([&] { return stats("web").open_streams == 0; }, 2s));
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayRelayTest, AClientVanishingWhileHeldLeavesTheCountsRight) {
  auto r = route("web");
  backend.sim("web").boot = 300ms;
  run({r});
  {
    Client c(port);
    ASSERT_TRUE(c.send(get("/", "web.localhost")));
    ASSERT_TRUE(eventually([&] { return stats("web").in_flight == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return stats("web").in_flight == 0; }, 250ms));
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  EXPECT_EQ(backend.sim("web").starts, 1);
}

// ---- configuration and routing -------------------------------------------------------------

TEST_F(GatewayRelayTest, ReusesKeepAliveConnectionsToTheApp) {
  run({route("web")});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  EXPECT_EQ(backend.sim("web").app.accepted, 1);
}

TEST_F(GatewayRelayTest, RetriesOnAFreshConnectionWhenTheAppClosedAPooledOne) {
  run({route("web")});
  backend.sim("web").app.close_after_each = true;
  for (int i = 0; i < 20; ++i) {
    auto res = fetch(get("/" + std::to_string(i), "web.localhost"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << i;
  }
  EXPECT_EQ(backend.sim("web").refused, 0);
}

// Connections of this process in TCP state CLOSE-WAIT whose peer is 127.0.0.1:`port`: the
// gateway's end of a connection the app at `port` closed.
int closeWaitTo(uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  int n = 0;
  char remote_port[8];
  std::snprintf(remote_port, sizeof remote_port, ":%04X", port);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "08" && remote == std::string("0100007F") + remote_port) ++n;
  }
  return n;
}

TEST_F(GatewayRelayTest, APooledConnectionTheAppClosesIsClosedAtOnce) {
  run({route("web")});
  auto& app = backend.sim("web").app;
  app.close_after_each = true;  // answers keep-alive, then closes
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  ASSERT_TRUE(eventually([&] { return app.openConnections() == 0; }));
  EXPECT_TRUE(eventually([&] { return closeWaitTo(app.port()) == 0; }))
      << closeWaitTo(app.port()) << " pooled connection(s) left in CLOSE-WAIT";
}

TEST_F(GatewayRelayTest, APooledConnectionUnusedForTheIdleTimeoutIsClosed) {
  auto limits = testLimits();
  limits.upstream_idle_timeout = 200ms;
  run({route("web")}, limits);
  auto& app = backend.sim("web").app;
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  EXPECT_TRUE(eventually([&] { return app.openConnections() == 0; }));
  // The next request gets a fresh connection.
  ASSERT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  EXPECT_EQ(app.accepted, 2);
}

TEST_F(GatewayRelayTest, RoutesADedicatedListenerToItsAppWhateverTheHost) {
  auto r = route("admin");
  uint16_t dedicated = freePort();
  r.listen = {"127.0.0.1:" + std::to_string(dedicated)};
  run({r});
  Client c(dedicated);
  ASSERT_TRUE(c.send(get("/x", "anything.example")));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("target=/x\n"), std::string::npos);
}

TEST_F(GatewayRelayTest, StartsThreeColdAppsInParallel) {
  run({route("a"), route("b"), route("c")});
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 30; ++i) {
    clients.emplace_back([&, i] {
      std::string app = std::string(1, static_cast<char>('a' + i % 3));
      auto res = fetch(get("/", app + ".localhost"));
      if (res && res->status == 200) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 30);
  for (auto app : {"a", "b", "c"}) EXPECT_EQ(backend.sim(app).starts, 1) << app;
}

TEST_F(GatewayRelayTest, ReconfiguringKeepsTheListenerAndChangesTheRoutes) {
  run({route("old")});
  ASSERT_EQ(fetch(get("/", "old.localhost"))->status, 200);
  GatewayConfig config;
  config.listen = {"127.0.0.1:" + std::to_string(port)};
  config.routes = {route("new")};
  EXPECT_EQ(onLoop([&] { return gateway->configure(config); }), "");
  EXPECT_EQ(fetch(get("/", "old.localhost"))->status, 404);
  EXPECT_EQ(fetch(get("/", "new.localhost"))->status, 200);
  EXPECT_FALSE(onLoop([&] { return gateway->stats("old"); }).has_value());
}

TEST_F(GatewayRelayTest, AnAddressInUseIsAnErrorAndChangesNothing) {
  run({route("web")});
  uint16_t taken = 0;
  int fd = reservePort(0, &taken);
  ASSERT_EQ(::listen(fd, 1), 0);
  GatewayConfig config;
  config.listen = {"127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(taken)};
  config.routes = {route("other")};
  EXPECT_EQ(onLoop([&] { return gateway->configure(config); }),
            "cannot listen on 127.0.0.1:" + std::to_string(taken) + ": Address already in use");
  ::close(fd);
  EXPECT_EQ(fetch(get("/", "web.localhost"))->status, 200);
  EXPECT_EQ(fetch(get("/", "other.localhost"))->status, 404);
}

TEST_F(GatewayRelayTest, RoutesAnAbsoluteFormTargetByItsHost) {
  run({route("web")});
  auto res = fetch("GET http://web.localhost/abs?q=1 HTTP/1.1\r\nHost: other.localhost\r\n\r\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("target=/abs?q=1\n"), std::string::npos);
  EXPECT_NE(res->body.find("host: web.localhost\n"), std::string::npos);
}

TEST_F(GatewayRelayTest, GivesAnHttp10ClientAChunkedBodyUpToTheClose) {
  run({route("web")});
  Client c(port);
  ASSERT_TRUE(c.send("GET /chunked?n=3 HTTP/1.0\r\nHost: web.localhost\r\n\r\n"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "piece 0;piece 1;piece 2;");
  EXPECT_EQ(res->header("transfer-encoding"), "");
  EXPECT_TRUE(c.closedWithin(3s));
}

TEST_F(GatewayRelayTest, ClosesAnIdleKeepAliveConnection) {
  auto limits = testLimits();
  limits.keep_alive_timeout = 300ms;
  run({route("web")}, limits);
  Client c(port);
  ASSERT_TRUE(c.send(get("/", "web.localhost")));
  ASSERT_EQ(c.read()->status, 200);
  auto answered = SteadyClock::now();
  EXPECT_TRUE(c.closedWithin(3s));
  EXPECT_GE(SteadyClock::now() - answered, 250ms);
}

TEST_F(GatewayRelayTest, StopsAnAppStartedBySomeoneElseOnceIdle) {
  auto r = route("web");
  r.idle_timeout = 200ms;
  run({r});
  auto& sim = backend.sim("web");
  sim.app.start();
  sim.state = AppRunState::Running;  // `tend start web`
  onLoop([&] { gateway->appStarted("web"); });
  EXPECT_TRUE(eventually([&] { return sim.stops == 1; }));
  EXPECT_EQ(sim.starts, 0);
}

// ---- balancing over several instances ------------------------------------------------------

// A route balanced over `instances` (each its own TestApp, listening), all serving.
struct Cluster {
  std::vector<std::unique_ptr<TestApp>> apps;
  std::vector<uint16_t> ports() const {
    std::vector<uint16_t> out;
    for (const auto& a : apps) out.push_back(a->port());
    return out;
  }
  std::vector<int> requests() const {
    std::vector<int> out;
    for (const auto& a : apps) out.push_back(a->requests);
    return out;
  }
};

class GatewayBalanceTest : public GatewayRelayTest {
 protected:
  GatewayRoute balanced(const std::string& app, int instances, Balance mode,
                        bool listening = true) {
    auto r = route(app);
    r.balanced = true;
    r.balance = mode;
    for (int i = 0; i < instances; ++i) {
      cluster.apps.push_back(std::make_unique<TestApp>());
      if (listening) cluster.apps.back()->start();
    }
    r.target_port = cluster.apps.front()->port();
    backend.setServing(app, cluster.ports());
    if (listening) {
      for (const auto& a : cluster.apps)
        EXPECT_TRUE(eventually([&] { return listens(a->port()); }));
    }
    return r;
  }

  // Whether something accepts connections on `port` now (the TestApp listens on its own
  // thread, a moment after start()).
  static bool listens(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  void serving(const std::string& app, std::vector<uint16_t> ports) {
    backend.setServing(app, std::move(ports));
    onLoop([&] { gateway->targetsChanged(app); });
  }

  int ok(int n) {
    int good = 0;
    for (int i = 0; i < n; ++i) {
      auto r = fetch(get("/", "web.localhost"));
      if (r && r->status == 200) ++good;
    }
    return good;
  }

  Cluster cluster;
};

TEST_F(GatewayBalanceTest, RoundRobinSpreadsEvenlyAndFollowsTheReadySet) {
  run({balanced("web", 3, Balance::RoundRobin)});
  backend.sim("web").state = AppRunState::Running;
  ASSERT_EQ(ok(30), 30);
  EXPECT_EQ(cluster.requests(), (std::vector<int>{10, 10, 10}));
  auto s = stats("web");
  ASSERT_EQ(s.targets.size(), 3u);
  for (const auto& t : s.targets) EXPECT_EQ(t.requests, 10u);

  // The second instance leaves (crashed, drained, scaled away): no more requests for it,
  // and its pooled connections are closed at once.
  auto& second = *cluster.apps[1];
  serving("web", {cluster.apps[0]->port(), cluster.apps[2]->port()});
  EXPECT_TRUE(eventually([&] { return second.openConnections() == 0; }));
  int accepted = second.accepted;
  ASSERT_EQ(ok(20), 20);
  EXPECT_EQ(cluster.requests(), (std::vector<int>{20, 10, 20}));
  EXPECT_EQ(second.accepted, accepted);
  EXPECT_EQ(stats("web").targets.size(), 2u);

  // A new one (scaled up, or a reload's replacement on another port) gets its share.
  cluster.apps.push_back(std::make_unique<TestApp>());
  cluster.apps.back()->start();
  ASSERT_TRUE(eventually([&] { return listens(cluster.apps.back()->port()); }));
  serving("web", {cluster.apps[0]->port(), cluster.apps[2]->port(), cluster.apps[3]->port()});
  ASSERT_EQ(ok(30), 30);
  EXPECT_EQ(cluster.requests(), (std::vector<int>{30, 10, 30, 10}));
  EXPECT_EQ(backend.sim("web").starts, 0);
}

TEST_F(GatewayBalanceTest, LeastConnSendsNewRequestsPastABusyInstance) {
  run({balanced("web", 2, Balance::LeastConn)});
  backend.sim("web").state = AppRunState::Running;
  ASSERT_EQ(ok(2), 2);  // one each
  EXPECT_EQ(cluster.requests(), (std::vector<int>{1, 1}));
  Client slow(port);
  ASSERT_TRUE(slow.send(get("/sse?n=2&gap=1500", "web.localhost")));
  ASSERT_TRUE(
      eventually([&] { return cluster.apps[0]->requests + cluster.apps[1]->requests == 3; }));
  size_t busy = cluster.apps[0]->requests == 2 ? 0 : 1;
  ASSERT_EQ(ok(6), 6);
  EXPECT_EQ(cluster.apps[busy]->requests, 2);
  EXPECT_EQ(cluster.apps[1 - busy]->requests, 7);
  auto events = slow.read();
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  EXPECT_TRUE(countsReturnToZero("web"));
  auto s = stats("web");
  for (const auto& t : s.targets) EXPECT_EQ(t.in_flight, 0u);
}

TEST_F(GatewayBalanceTest, AnInstanceThatRefusesIsPassedOverWithoutFailingRequests) {
  run({balanced("web", 3, Balance::RoundRobin)});
  auto& sim = backend.sim("web");
  sim.state = AppRunState::Running;
  ASSERT_EQ(ok(3), 3);
  cluster.apps[1]->stop();  // killed; the supervisor has not noticed yet
  ASSERT_EQ(ok(30), 30);
  EXPECT_EQ(cluster.apps[1]->requests, 1);
  EXPECT_EQ(cluster.apps[0]->requests + cluster.apps[2]->requests, 32);
  EXPECT_EQ(sim.refused, 0);  // the app as a whole is not restarted
  EXPECT_TRUE(countsReturnToZero("web"));
}

// An instance that is going away (killed, its listener not yet closed) takes connections and
// closes them unanswered: its GETs go to the others, and it is passed over.
TEST_F(GatewayBalanceTest, AnInstanceThatHangsUpUnansweredIsPassedOverWithoutFailingRequests) {
  run({balanced("web", 3, Balance::RoundRobin)});
  auto& sim = backend.sim("web");
  sim.state = AppRunState::Running;
  ASSERT_EQ(ok(3), 3);  // a pooled connection to each
  cluster.apps[1]->hang_up = true;
  ASSERT_EQ(ok(30), 30);
  // Its pooled connection, perhaps one fresh connection, then no more.
  EXPECT_LE(cluster.apps[1]->requests, 1 + 2);
  EXPECT_EQ(sim.refused, 0);
  EXPECT_TRUE(countsReturnToZero("web"));
}

TEST_F(GatewayBalanceTest, WhenEveryInstanceRefusesItIsRestartedAndTheRequestHeld) {
  run({balanced("web", 2, Balance::RoundRobin)});
  auto& sim = backend.sim("web");
  sim.state = AppRunState::Running;
  ASSERT_EQ(ok(2), 2);
  cluster.apps[0]->stop();
  cluster.apps[1]->stop();
  // The supervisor's restart brings the instances back; the request waits for them.
  std::thread restarter([&] {
    while (sim.refused == 0) std::this_thread::sleep_for(1ms);
    cluster.apps[0]->start(0ms);
    cluster.apps[1]->start(0ms);
  });
  auto res = fetch(get("/", "web.localhost"));
  restarter.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(sim.refused, 1);
}

TEST_F(GatewayBalanceTest, AColdStartForwardsAsSoonAsTheFirstInstanceIsReady) {
  // Two instances; only the second ever listens.
  auto r = balanced("web", 2, Balance::RoundRobin, false);
  backend.setServing("web", {});  // stopped: nothing serves
  run({r});
  auto& sim = backend.sim("web");
  std::thread supervisor([&] {
    // What the supervisor does once the start is under way: the instances come online.
    ASSERT_TRUE(eventually([&] { return sim.starts == 1; }));
    cluster.apps[1]->start(50ms);
    serving("web", cluster.ports());
  });
  auto res = fetch(get("/", "web.localhost"));
  supervisor.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(cluster.apps[1]->requests, 1);
  EXPECT_EQ(ok(4), 4);  // the silent one is passed over
  EXPECT_EQ(cluster.apps[1]->requests, 5);
}

// The supervisor tells the gateway when an instance gets ready: the held request goes on
// then, not at the gateway's next connect try (made an hour apart here, so that waiting
// for it would end in the 504 of start_timeout).
TEST_F(GatewayBalanceTest, AColdStartGoesOnWhenTheSupervisorSaysAnInstanceIsReady) {
  auto r = balanced("web", 1, Balance::RoundRobin);
  backend.setServing("web", {});  // stopped: nothing serves yet
  auto limits = testLimits();
  limits.ready_probe_interval = 1h;
  run({r}, limits);
  auto& sim = backend.sim("web");
  std::thread supervisor([&] {
    ASSERT_TRUE(eventually([&] { return sim.starts == 1; }));
    std::this_thread::sleep_for(50ms);  // the gateway has tried once and found no instance
    serving("web", cluster.ports());
  });
  auto res = fetch(get("/", "web.localhost"));
  supervisor.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(cluster.apps[0]->requests, 1);
}

TEST_F(GatewayBalanceTest, ARequestInFlightOnAnInstanceThatLeavesCompletes) {
  run({balanced("web", 2, Balance::RoundRobin)});
  backend.sim("web").state = AppRunState::Running;
  Client slow(port);
  ASSERT_TRUE(slow.send(get("/sse?n=3&gap=300", "web.localhost")));
  ASSERT_TRUE(eventually([&] { return cluster.apps[0]->requests == 1; }));
  serving("web", {cluster.apps[1]->port()});  // being drained
  auto events = slow.read();
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  EXPECT_NE(events->body.find("event 2"), std::string::npos);
  // Its connection was closed, not pooled: what follows goes to the other instance only.
  ASSERT_TRUE(slow.send(get("/", "web.localhost")));
  ASSERT_EQ(slow.read()->status, 200);
  ASSERT_EQ(ok(4), 4);
  EXPECT_EQ(cluster.apps[0]->requests, 1);
  EXPECT_EQ(cluster.apps[1]->requests, 5);
  EXPECT_TRUE(eventually([&] { return cluster.apps[0]->openConnections() == 0; }));
}

}  // namespace
}  // namespace tend
