// The gateway's parse path up to the relay, in a real HttpSession (src/gateway/
// http_session.cpp): the head scan (request_head.hpp), Beast's parser, the checks before
// routing, routing, the forwarded head and the body relay (Content-Length bodies by count,
// chunked ones decoded by Beast and chunked again), and the response coming back the same
// way. Whatever a client sends and whatever the app answers:
//   - every request the app receives is well framed: it parses with Beast as one HTTP/1.1
//     message, and the gateway sends nothing more on that connection before the app has
//     answered (no request smuggled behind another);
//   - what the client receives, if anything, begins with an HTTP/1.1 response head that
//     parses;
//   - the session ends without a timer (no exchange waits for a timeout once both sides
//     have said all they had to say), and ASan and UBSan see nothing wrong.
//
// The session runs on an io_context of its own with its client connection on one end of a
// socketpair (the harness holds the other), and its app connections going to a listener of
// the harness on 127.0.0.1 (the fake app: it reads each request, answers it with the
// input's answer, then closes its side). Both harness sides close with RST, so the
// gateway's connections end without TIME_WAIT (only those the fake app half-closed first
// linger, a few hundred at a time), and millions of runs do not run out of ports.
//
// The input: one byte of parameters (bit 0: routed by Host rather than by a dedicated
// listener; bit 1: tiny limits and relay buffers, so that small inputs reach 414/431 and
// bodies go through the relay in many pieces), then the bytes the client sends, then,
// after a line "--upstream--", what the app answers to every request (a plain 200 when the
// input has no such line). Once nothing moves any more, the client closes its sending side,
// then the harness waits for both connections to end.

#include <signal.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <optional>
#include <string>

#include "common/logger.hpp"
#include "fuzz_check.hpp"
#include "gateway/app.hpp"
#include "gateway/core.hpp"
#include "socket_client.hpp"

using namespace tend;
using namespace tend::gateway;
namespace http = boost::beast::http;
using ErrorCode = boost::system::error_code;

namespace {

constexpr std::string_view kSeparator = "\n--upstream--\n";
constexpr std::string_view kDefaultAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class NullBackend final : public GatewayBackend {
 public:
  void startApp(const std::string&, std::function<void(std::string)> done) override { done(""); }
  AppRunState state(const std::string&) const override { return AppRunState::Running; }
  std::string failureReason(const std::string&) const override { return ""; }
  void stopIdle(const std::string&) override {}
  void restartRefused(const std::string&) override {}
  std::vector<uint16_t> servingPorts(const std::string&) const override { return {}; }
};

// One connection from the gateway to the fake app.
class AppConnection : public std::enable_shared_from_this<AppConnection> {
 public:
  AppConnection(Socket socket, std::string_view answer, int& open)
      : socket_(std::move(socket)), answer_(answer), open_(open) {
    ++open_;
  }
  ~AppConnection() { --open_; }

  void start() { read(); }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](ErrorCode ec, size_t n) {
                              if (ec) {
                                fuzz::resetClose(self->socket_);
                                return;
                              }
                              self->received(std::string_view(self->buf_.data(), n));
                              self->read();
                            });
  }

  void received(std::string_view bytes) {
    if (raw_) return;  // tunnelled after an Upgrade: not HTTP any more
    pending_.append(bytes);
    while (!pending_.empty() && !raw_) {
      if (!parser_) {
        parser_.emplace();
        parser_->header_limit(1 << 20);
        parser_->body_limit(boost::none);
        parser_->eager(true);
      }
      ErrorCode ec;
      size_t used = parser_->put(asio::buffer(pending_), ec);
      pending_.erase(0, used);
      if (ec == http::error::need_more) return;
      if (ec) std::fprintf(stderr, "the app received: %s\n", ec.message().c_str());
      FUZZ_CHECK(!ec, "every request the app receives parses");
      if (!parser_->is_done()) {
        if (used == 0) return;
        continue;
      }
      const bool upgrade = parser_->upgrade();
      parser_.reset();
      if (!answered_) {
        FUZZ_CHECK(pending_.empty(), "nothing follows a request before the app has answered it");
        answered_ = true;
        raw_ = upgrade;
        asio::async_write(socket_, asio::buffer(answer_),
                          [self = shared_from_this()](ErrorCode ec, size_t) {
                            if (ec) return;
                            ErrorCode ignored;
                            self->socket_.shutdown(Socket::shutdown_send, ignored);
                          });
      }
    }
  }

  Socket socket_;
  std::string answer_;
  int& open_;
  std::array<char, 16 * 1024> buf_;
  std::string pending_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool answered_ = false;
  bool raw_ = false;
};

// A gateway core with one app, and the fake app behind it.
struct World {
  asio::io_context io;
  NullBackend backend;
  Logger log{"/dev/null", false};
  std::shared_ptr<GatewayCore> core;
  std::shared_ptr<App> app;
  tcp::acceptor acceptor{io};
  std::string answer;
  int app_connections = 0;

  explicit World(bool tiny) {
    GatewayLimits limits;
    if (tiny) {
      limits.max_request_line = 64;
      limits.max_request_head = 512;
      limits.max_header_fields = 8;
      limits.max_response_head = 512;
      limits.relay_buffer = 7;
      limits.counted_body_piece = 5;
    }
    core = std::make_shared<GatewayCore>(io, backend, log, SystemClock::instance(), limits);
    acceptor.open(tcp::v4());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen();
    accept();

    GatewayRoute route;
    route.app = "app";
    route.hosts = {"app.test", "*.wild.test"};
    route.target_host = "127.0.0.1";
    route.target_port = acceptor.local_endpoint().port();
    GatewayConfig config;
    config.routes.push_back(route);
    FUZZ_CHECK(core->router.configure(config).empty(), "the routes are valid");
    app = App::create(*core, route);
    core->apps["app"] = app;
  }

  void accept() {
    acceptor.async_accept(io.get_executor(), [this](ErrorCode ec, Socket socket) {
      if (!ec) std::make_shared<AppConnection>(std::move(socket), answer, app_connections)->start();
      accept();
    });
  }

  // One client connection, from the first byte to the end of both connections.
  // `warm_up`: the client's end waits for an answer (the first request waits for timers).
  std::string run(std::string_view request, std::string_view answer_bytes, bool by_host,
                  bool warm_up = false) {
    answer = answer_bytes;
    int fds[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "a socketpair");
    Socket server(io.get_executor()), client_end(io.get_executor());
    server.assign(tcp::v4(), fds[0]);
    client_end.assign(tcp::v4(), fds[1]);
    startHttpSession(core, std::move(server), by_host ? "" : "app");
    auto client = std::make_shared<fuzz::SocketClient>(std::move(client_end));
    client->start(request);

    // Until nothing moves (two idle turns in a row), then the client's end of sending;
    // then until both connections are gone. A session still open by then waits for a
    // timer: io.run_one() blocks, and libFuzzer's -timeout reports the hang.
    bool sending = true;
    int idle = 0;
    while (true) {
      idle = io.poll() == 0 ? idle + 1 : 0;
      io.restart();
      if (idle < 2) continue;
      if (warm_up && client->received().empty()) {
        io.run_one();
        io.restart();
        continue;
      }
      if (sending) {
        client->finishSending();
        sending = false;
        idle = 0;
        continue;
      }
      if (client->done() && core->connections.empty()) {
        app->dropPool(0);  // kept-alive app connections: closed, so the fake app ends too
        io.poll();
        io.restart();
        if (app_connections == 0) break;
      }
      io.run_one();
      io.restart();
    }
    return client->received();
  }
};

void checkAnswer(const std::string& received) {
  if (received.empty()) return;  // closed without a word (the client's end came first)
  FUZZ_CHECK(received.starts_with("HTTP/1.1 "), "the client gets an HTTP/1.1 response");
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  ErrorCode ec;
  parser.put(asio::buffer(received), ec);
  if (ec && ec != http::error::need_more) {
    std::fprintf(stderr, "the client received: %s\n", ec.message().c_str());
  }
  FUZZ_CHECK(!ec || ec == http::error::need_more, "the first response head parses");
}

World* worlds[2];

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < 2; ++i) {
    worlds[i] = new World(i == 1);
    // The app is not verified yet: the first request goes through an activation (a
    // readiness probe on a timer). Done here, so that every run starts alike.
    std::string got =
        worlds[i]->run("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n", kDefaultAnswer, true, true);
    FUZZ_CHECK(got.starts_with("HTTP/1.1 200"), "the warm-up request is relayed");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);
  const uint8_t params = fuzz::takeByte(in);
  std::string_view request = in;
  std::string_view answer = kDefaultAnswer;
  if (auto sep = in.find(kSeparator); sep != std::string_view::npos) {
    request = in.substr(0, sep);
    answer = in.substr(sep + kSeparator.size());
  }
  checkAnswer(worlds[(params >> 1) & 1]->run(request, answer, params & 1));
  return 0;
}
