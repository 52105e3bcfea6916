// An HTTP backend for the gateway's integration tests. Listens on 127.0.0.1:$PORT (after
// $BACKEND_DELAY_MS milliseconds, to look like a slow start) and answers:
//   GET  /anything?x=y   200 "app=<TEND_APP_NAME> method=GET target=/anything?x=y host=<Host>"
//   POST /echo           200 "bytes=<n> fnv=<FNV-1a of the body>"
//   GET  /sse?n=N&ms=M   text/event-stream: N events "data: event i", M ms apart
//   GET  /headers        200 with every request header, one "name: value" per line
//   GET  /ws (Upgrade)   a WebSocket that echoes every message
//   GET  /whoami         200 "instance=<TEND_INSTANCE> port=<PORT>" (which instance answered)
//   GET  /slow?ms=M      the same, after M milliseconds
//   GET  /bye            200 "bye", kept alive, then the connection closed at once (an app
//                        whose keep-alive timeout is shorter than the gateway's)
// Per instance (N = TEND_INSTANCE), for the balancing tests: BACKEND_ALLOC_MB_N=M allocates
// and touches M MiB at start; BACKEND_SPIN_N=1 keeps a thread busy on the CPU;
// BACKEND_WHOAMI_MS_N=M answers /whoami after M milliseconds.
// One thread per connection, keep-alive. `backend never` never listens at all. Every
// response carries X-Backend-Pid and X-Backend-Instance (TEND_INSTANCE).
// With TEND_REUSE_PORT=1 it binds $PORT with SO_REUSEPORT. With BACKEND_GRACEFUL=1, SIGTERM
// drains: it stops accepting, answers the requests it has with "Connection: close", and
// exits once no connection is left (at most 10 s later).

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::atomic<bool> g_draining{false};
std::atomic<int> g_connections{0};
bool g_graceful = false;

// $NAME_<TEND_INSTANCE>, or nullptr.
const char* instanceEnv(const std::string& name) {
  const char* instance = std::getenv("TEND_INSTANCE");
  return std::getenv((name + "_" + (instance ? instance : "")).c_str());
}

// BACKEND_ALLOC_MB_N and BACKEND_SPIN_N (see the top of the file).
void loadUp() {
  if (const char* mb = instanceEnv("BACKEND_ALLOC_MB")) {
    size_t bytes = static_cast<size_t>(std::atoi(mb)) << 20;
    static std::vector<char> held;
    held.assign(bytes, 0);
    for (size_t i = 0; i < bytes; i += 4096) held[i] = static_cast<char>(i);
  }
  if (const char* spin = instanceEnv("BACKEND_SPIN"); spin && std::string(spin) == "1") {
    std::thread([] {
      volatile uint64_t x = 0;
      while (true) x = x + 1;
    }).detach();
  }
}

std::string queryValue(const std::string& target, const std::string& key) {
  size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string query = target.substr(q + 1);
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    std::string pair = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (pair.rfind(key + "=", 0) == 0) return pair.substr(key.size() + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

void serveWebSocket(tcp::socket socket, http::request<http::string_body> req) {
  beast::websocket::stream<tcp::socket> ws(std::move(socket));
  ws.accept(req);
  beast::flat_buffer buffer;
  while (true) {
    beast::error_code ec;
    ws.read(buffer, ec);
    if (ec) return;
    ws.text(ws.got_text());
    ws.write(buffer.data(), ec);
    if (ec) return;
    buffer.consume(buffer.size());
  }
}

void serve(tcp::socket socket) {
  const char* app = std::getenv("TEND_APP_NAME");
  const char* instance = std::getenv("TEND_INSTANCE");
  const std::string pid = std::to_string(::getpid());
  if (g_graceful) {  // reads wake up now and then to see whether the backend drains
    timeval tv{0, 100'000};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64ull << 20);
    beast::error_code ec;
    while (true) {
      http::read(socket, buffer, parser, ec);
      if (ec != asio::error::would_block && ec != asio::error::try_again) break;
      if (g_draining && buffer.size() == 0 && !parser.got_some()) return;  // idle: close
      ec = {};
    }
    if (ec) return;
    auto req = parser.release();
    std::string target(req.target());
    if (beast::websocket::is_upgrade(req)) {
      serveWebSocket(std::move(socket), std::move(req));
      return;
    }
    if (target.rfind("/sse", 0) == 0) {
      int n = std::atoi(queryValue(target, "n").c_str());
      int ms = std::atoi(queryValue(target, "ms").c_str());
      http::response<http::empty_body> head{http::status::ok, req.version()};
      head.set("X-Backend-Pid", pid);
      head.set("X-Backend-Instance", instance ? instance : "");
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      head.chunked(true);
      http::response_serializer<http::empty_body> sr{head};
      http::write_header(socket, sr, ec);
      for (int i = 1; i <= n && !ec; ++i) {
        std::string event = "data: event " + std::to_string(i) + "\n\n";
        asio::write(socket, http::make_chunk(asio::buffer(event)), ec);
        if (i < n) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      }
      if (!ec) asio::write(socket, http::make_chunk_last(), ec);
      if (ec || !req.keep_alive()) return;
      continue;
    }
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set("X-Backend-Pid", pid);
    res.set("X-Backend-Instance", instance ? instance : "");
    res.set(http::field::content_type, "text/plain");
    if (target == "/echo") {
      uint64_t fnv = 14695981039346656037ull;
      for (unsigned char c : req.body()) fnv = (fnv ^ c) * 1099511628211ull;
      res.body() = "bytes=" + std::to_string(req.body().size()) + " fnv=" + std::to_string(fnv);
    } else if (target == "/whoami" || target.rfind("/slow", 0) == 0) {
      if (target.rfind("/slow", 0) == 0) {
        int ms = std::atoi(queryValue(target, "ms").c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      } else if (const char* ms = instanceEnv("BACKEND_WHOAMI_MS")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
      }
      const char* instance = std::getenv("TEND_INSTANCE");
      const char* port = std::getenv("PORT");
      res.body() =
          std::string("instance=") + (instance ? instance : "?") + " port=" + (port ? port : "?");
    } else if (target == "/bye") {
      res.body() = "bye";
    } else if (target == "/headers") {
      for (const auto& field : req) {
        res.body() += std::string(field.name_string()) + ": " + std::string(field.value()) + "\n";
      }
    } else {
      res.body() = std::string("app=") + (app ? app : "?") +
                   " method=" + std::string(req.method_string()) + " target=" + target +
                   " host=" + std::string(req[http::field::host]);
    }
    const bool keep = req.keep_alive() && !g_draining;
    res.keep_alive(keep);
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !keep || target == "/bye") return;
  }
}

// Accepts on `fd` (non-blocking; shared with other processes when socket-activated) until
// the backend drains, one thread per connection.
void acceptLoop(int fd) {
  asio::io_context io;
  while (!g_draining) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;  // another process took it, or it went away
    ++g_connections;
    std::thread([&io, conn] {
      tcp::socket socket(io);
      beast::error_code ec;
      socket.assign(tcp::v4(), conn, ec);
      socket.non_blocking(false, ec);
      serve(std::move(socket));
      --g_connections;
    }).detach();
  }
  ::close(fd);
  for (int i = 0; i < 1000 && g_connections > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::printf("backend drained, exiting\n");
  std::exit(0);
}

// BACKEND_GRACEFUL=1: SIGTERM starts draining instead of killing.
void handleTermGracefully() {
  const char* graceful = std::getenv("BACKEND_GRACEFUL");
  g_graceful = graceful && std::string(graceful) == "1";
  if (!g_graceful) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread: they all inherit it
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    std::printf("backend draining\n");
    g_draining = true;
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc > 1 && std::string(argv[1]) == "never") {
    std::printf("never listening\n");
    while (true) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  handleTermGracefully();
  loadUp();
  asio::io_context io;
  tcp::acceptor acceptor(io);
  beast::error_code ec;
  const char* listen_fds = std::getenv("LISTEN_FDS");
  const char* listen_pid = std::getenv("LISTEN_PID");
  if (listen_fds && listen_pid && std::atoi(listen_fds) == 1 &&
      std::atoi(listen_pid) == ::getpid()) {
    // Socket activation: the listening socket is fd 3 already.
    if (const char* delay = std::getenv("BACKEND_DELAY_MS"))
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
    acceptor.assign(tcp::v4(), 3, ec);
    if (ec) {
      std::fprintf(stderr, "backend: fd 3 is not a socket: %s\n", ec.message().c_str());
      return 4;
    }
    std::printf("backend using the socket-activated fd 3\n");
    acceptor.non_blocking(true, ec);
    acceptLoop(acceptor.release());
  }
  const char* port = std::getenv("PORT");
  if (!port) {
    std::fprintf(stderr, "backend: PORT is not set\n");
    return 2;
  }
  if (const char* delay = std::getenv("BACKEND_DELAY_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                         static_cast<unsigned short>(std::atoi(port)));
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  if (const char* reuse = std::getenv("TEND_REUSE_PORT"); reuse && std::string(reuse) == "1") {
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    std::printf("backend binding with SO_REUSEPORT\n");
  }
  acceptor.bind(endpoint, ec);
  if (ec) {
    std::fprintf(stderr, "backend: cannot listen on %s: %s\n", port, ec.message().c_str());
    return 3;
  }
  acceptor.listen();
  std::printf("backend listening on %s\n", port);
  acceptor.non_blocking(true, ec);
  acceptLoop(acceptor.release());
}
