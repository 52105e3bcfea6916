#pragma once
// HttpApi: the daemon's HTTP API (api.listen): the REST routes of http_routes.hpp, the
// event streams (Server-Sent Events and WebSocket), /metrics and the dashboard's files.
//
// Every command goes through the same Handlers as the Unix control socket, as the same
// request object, validated by the same parseRequest(): the two always agree.
//
// What clients see:
// - Every route but the dashboard's files and /login needs `Authorization: Bearer <token>`
//   or the dashboard's session cookie: else 401 and nothing happens.
// - A request whose Origin header is present and is not the API's own (originAllowed())
//   gets 403 when it would change something or open a WebSocket. No CORS header is ever
//   sent, so other sites' pages cannot read any answer either.
// - Errors are JSON {"error": "..."}: 400 malformed JSON, unknown fields or parameters,
//   404 unknown app or route, 405 (with Allow), 408 a request not read within
//   read_timeout, 413 a body over max_body, 415 a body that is not JSON, 431 a head over
//   max_head, 501 scale without a scale command, 503 too many connections, 500 an action
//   that failed.
// - A connection that has not sent a valid token (or cookie) yet has a short timeout and a
//   small cap of its own; when that cap is full, the unauthenticated connection that has
//   waited longest for a request is closed to make room (ConnectionSlots), so idle or slow
//   clients without a token cannot keep token holders out.
// - An event stream whose client reads too slowly for its bounded queue is closed.
//
// Lives on the daemon's io_context thread; not thread-safe. Beast stays in the .cpp.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/auth.hpp"
#include "api/events.hpp"
#include "api/handlers.hpp"
#include "common/clock.hpp"
#include "common/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace tend {

struct HttpApiLimits {
  // A request (head and body) must arrive within this from its first byte, and a
  // keep-alive connection may idle this long between requests. Then 408 and close.
  Duration read_timeout = std::chrono::seconds(10);
  Duration keep_alive_timeout = std::chrono::seconds(60);
  // A response (or an event) must be taken by the client within this.
  Duration write_timeout = std::chrono::seconds(10);
  // An event stream gets a comment line this often, so dead clients are noticed.
  Duration heartbeat = std::chrono::seconds(15);
  size_t max_head = 16 * 1024;
  size_t max_body = 64 * 1024;
  size_t max_connections = 128;
  // A connection that has not yet sent a request with a valid token or cookie: it must send
  // each request within this (and may idle no longer between requests), and such
  // connections share a cap of their own; see connection_slots.hpp.
  Duration unauthenticated_timeout = std::chrono::seconds(5);
  size_t max_unauthenticated = 32;
  size_t max_log_lines = 10000;
};

class HttpApi {
 public:
  struct Hooks {
    // The Prometheus text of /metrics.
    std::function<std::string()> metrics;
  };
  // `handlers`, `hub`, `auth` and `log` must outlive the io_context's last handler.
  HttpApi(boost::asio::io_context& io, Handlers& handlers, EventHub& hub, ApiAuth& auth,
          Logger& log, Hooks hooks, HttpApiLimits limits = {});
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Listens on `listen` ("host:port" each), replacing the previous listeners (an unchanged
  // address keeps its socket). "" or why not; on error nothing changes. Empty: off.
  std::string configure(const std::vector<std::string>& listen);
  // The addresses listened on now, canonical ("127.0.0.1:9615").
  std::vector<std::string> listening() const;
  // Stops listening and closes every connection.
  void close();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tend
