// The HTTP API's WebSocket frame reader (src/api/ws_events.hpp), as a client reaches it:
// after the handshake, whatever frames (or garbage) the client sends, while events are
// being written to it, the stream ends cleanly once the client stops: the socket is closed
// and leaves the API's set of open sockets, nothing throws, no timer has to fire, and ASan
// and UBSan see nothing wrong. The client always gets the 101 first.
//
// The stream runs on an io_context of its own, its socket one end of a socketpair (the
// harness holds the other, as the client: frames from a browser are masked, those from
// this input may be anything).
//
// The input: one byte of parameters (how many events are queued before and during the
// run, 0-7; whether the subscriber's queue is tiny, so that it overflows), then the bytes
// the client sends after the handshake. Once nothing moves any more, the client closes its
// sending side, then the harness waits for the connection to end.

#include <signal.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/events.hpp"
#include "api/ws_events.hpp"
#include "common/logger.hpp"
#include "fuzz_check.hpp"
#include "socket_client.hpp"

using namespace tend;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using ErrorCode = boost::system::error_code;
using Socket = gateway::Socket;
using tcp = asio::ip::tcp;

namespace {

http::request<http::string_body> handshake() {
  http::request<http::string_body> req{http::verb::get, "/api/events/ws", 11};
  req.set(http::field::host, "127.0.0.1:9615");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  return req;
}

struct World {
  asio::io_context io;
  Logger log{"/dev/null", false};
  EventHub hub{SystemClock::instance()};
  std::shared_ptr<OpenSockets> open = std::make_shared<OpenSockets>();
};

World* world;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);
  world = new World;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);
  const uint8_t params = fuzz::takeByte(in);
  const int events = params & 7;
  const bool tiny_queue = params & 8;
  auto& io = world->io;

  auto sub = tiny_queue ? world->hub.subscribe({}, 2, 256) : world->hub.subscribe({});
  FUZZ_CHECK(sub != nullptr, "a subscriber (the last one has gone)");
  for (int i = 0; i < events; ++i) world->hub.publish({{"type", "log"}, {"line", i}});

  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "a socketpair");
  Socket server(io.get_executor()), client_end(io.get_executor());
  server.assign(tcp::v4(), fds[0]);
  client_end.assign(tcp::v4(), fds[1]);
  startWsEvents(std::move(server), handshake(), sub, WsEventLimits{}, world->log, world->open);
  sub.reset();  // the stream holds it now
  auto client = std::make_shared<fuzz::SocketClient>(std::move(client_end));
  client->start(in);

  // Until nothing moves (two idle turns in a row; events are published during the run
  // too), then the client's end of sending, then until the connection has ended. A
  // stream still open then waits for a timer: io.run_one() blocks, and libFuzzer's
  // -timeout reports the hang.
  bool sending = true;
  int idle = 0;
  int published = 0;
  while (true) {
    idle = io.poll() == 0 ? idle + 1 : 0;
    io.restart();
    if (idle < 2) continue;
    if (published < events) {
      world->hub.publish({{"type", "status"}, {"app", "api"}, {"n", published++}});
      idle = 0;
      continue;
    }
    if (sending) {
      client->finishSending();
      sending = false;
      idle = 0;
      continue;
    }
    if (client->done() && world->open->empty()) break;
    io.run_one();
    io.restart();
  }
  FUZZ_CHECK(client->received().starts_with("HTTP/1.1 101 "), "the client gets the 101 first");
  FUZZ_CHECK(world->hub.subscribers() == 0, "the stream let go of its subscriber");
  return 0;
}
