#pragma once
// Gateway: the HTTP front door. Routes requests by Host header (or by a dedicated listen
// port) to on-demand apps, starts a stopped app on its first request through the
// GatewayBackend, holds every request until the app accepts connections, relays HTTP/1.1
// (keep-alive both sides, bodies streamed with backpressure), Server-Sent Events and
// Upgrade/WebSocket tunnels, and asks for an app to be stopped once it has been idle for
// its idle_timeout with no open connection.
//
// What clients see (the choices where SPEC.md is silent):
// - Routing: router.hpp. "*.example.com" matches subdomains at any depth, not
//   "example.com" itself. An absolute-form target ("GET http://host/path") routes by its
//   host. No Host on HTTP/1.1, or a malformed one: 400. Unknown host: 404 "tend: no app for
//   host 'x'", and nothing starts.
// - Refused before anything is routed: request_head.hpp (400, 414, 431, 501, 505), as soon
//   as the bytes that give it away arrive (a bare LF, a TLS ClientHello), not at the head
//   timeout. Other Expect than 100-continue: 417 (100-continue is answered by the gateway
//   itself once the app is there, and not forwarded). CONNECT: 501. A malformed chunked
//   upload, or a chunk line or trailer longer than the head limit: 400. Each with
//   "Connection: close"; none is written to the daemon's log (it is no failure of the app).
// - Over max_connections, a new client gets a 503 at once and its connection is read from
//   for a moment before it closes (ConnectionRefuser), so it reads the 503 and not a reset.
// - Errors name the app and why: start failed 502, exited before it was ready 502 (at
//   once, with its exit status: see startFailed()), not accepting within start_timeout
//   504, refused while running 502 (and GatewayBackend::restartRefused), no answer within
//   upstream_response_timeout 504, an invalid answer (a malformed head, a status outside
//   100-599) 502, hold queue full 503. Bodies are "tend: ...\n".
// - The loading page (route.loading_page, a GET whose Accept names text/html, app not
//   ready) is a 503 with Retry-After: 1 and a page that reloads itself every second.
// - Forwarded requests keep Host, carry their framing in one form (one Content-Length, or
//   "Transfer-Encoding: chunked"), and lose hop-by-hop headers. From a trusted proxy
//   (GatewayConfig::trusted_proxies) X-Forwarded-For gets the peer appended and Forwarded,
//   X-Real-IP, X-Forwarded-Proto and -Host are kept; from anyone else Forwarded is dropped
//   and X-Forwarded-For and X-Real-IP are the peer's address, X-Forwarded-Proto "http" and
//   X-Forwarded-Host the Host. Responses lose hop-by-hop headers; a close-delimited body is
//   chunked for HTTP/1.1 clients (keeping their connection), and a chunked one is sent up to
//   the close to HTTP/1.0 clients.
// - Pooled keep-alive connections to an app are closed as soon as the app closes them, and
//   after upstream_idle_timeout unused.
// - Idle: an app may be stopped once it has had no request, event stream (a response of
//   type text/event-stream) or tunnel open for idle_timeout, counted from when the last
//   one ended. An idle keep-alive connection of a client does not keep its app running.
// - Several instances (a balanced route): each request goes to one of the app's ready
//   instances (round-robin, or least requests in flight); a refused connection is tried on
//   another ready instance; only when all refuse is it the 502 and restart above.
// - A request arriving while the app is Stopping waits (the backend's state is polled
//   every ready_probe_interval) and then starts the app again.
//
// Lives on the daemon's io_context thread; not thread-safe. Boost.Asio/Beast stay in the
// .cpp files of this folder (pimpl), so including this header is cheap.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/logger.hpp"
#include "gateway/backend.hpp"

namespace boost::asio {
class io_context;
}

namespace tend {

// Every bound the gateway puts on a connection. The defaults suit a daemon; tests shorten
// the timeouts.
struct GatewayLimits {
  // A client's request head (request line + headers) must arrive within this, counted from
  // its first byte (from the accept for a new connection). Then the connection is closed.
  Duration head_timeout = std::chrono::seconds(10);
  // An idle keep-alive client connection is closed after this.
  Duration keep_alive_timeout = std::chrono::seconds(60);
  // Each read of a request body from the client, and each write to the client, must make
  // progress within this.
  Duration client_io_timeout = std::chrono::seconds(60);
  // Connecting to an app that runs (not a start: that is the route's start_timeout).
  Duration upstream_connect_timeout = std::chrono::seconds(5);
  // From the request sent to the response head: then 504.
  Duration upstream_response_timeout = std::chrono::seconds(60);
  // A response body, event stream or tunnel with no byte either way for this long is closed.
  Duration stream_idle_timeout = std::chrono::hours(1);
  // How often a starting app's target is tried until it accepts a connection.
  Duration ready_probe_interval = std::chrono::milliseconds(2);
  // A pooled keep-alive connection to an app unused for this long is closed.
  Duration upstream_idle_timeout = std::chrono::seconds(30);

  size_t max_request_line = 8 * 1024;    // 414 beyond
  size_t max_request_head = 32 * 1024;   // 431 beyond
  size_t max_header_fields = 100;        // 431 beyond
  size_t max_response_head = 64 * 1024;  // an app's response head; 502 beyond
  // Open client connections (tunnels included); GatewayConfig::max_connections overrides it.
  // Beyond, a new connection gets a 503 and is closed.
  size_t max_connections = 10000;
  // Connections refused over the cap are read from (and what they send dropped) for up to
  // refusal_linger after their 503, so the client reads it rather than a reset; at most
  // max_refusing at once (beyond, closed right after the 503).
  size_t max_refusing = 64;
  Duration refusal_linger = std::chrono::seconds(2);
  size_t max_held_requests = 4096;  // per app, while it starts; 503 beyond
  size_t max_idle_upstream = 64;    // pooled keep-alive connections per target
  size_t relay_buffer = 32 * 1024;  // per direction of a chunked or close-delimited body
  // A body with a Content-Length is relayed in pieces of up to this many bytes (per
  // direction, allocated only while such a body is relayed).
  size_t counted_body_piece = 256 * 1024;
};

class Gateway {
 public:
  // `backend`, `log` and `clock` must outlive the io_context's last handler (a connection
  // torn down late still stamps its app's idle clock).
  Gateway(boost::asio::io_context& io, GatewayBackend& backend, Logger& log, Clock& clock,
          GatewayLimits limits = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Applies listeners and routes, replacing the previous ones (listeners whose address is
  // unchanged are kept open). Returns "" or a reason for people ("cannot listen on
  // 127.0.0.1:8080: Address already in use"); on error nothing changes.
  std::string configure(const GatewayConfig& config);
  // Where access log lines go (GatewayConfig::access_log); nullptr: nowhere. `sink` must
  // outlive the gateway's connections (set it before configure(), keep it until close()).
  void setAccessLog(AccessLogSink* sink);

  struct AppStats {
    int in_flight = 0;            // requests being relayed or held
    int open_streams = 0;         // tunnels (WebSocket, other upgrades) and streaming responses
    int64_t last_request_ms = 0;  // wall clock of the last request, 0 when none
    uint64_t requests = 0;
    uint64_t activations = 0;  // cold starts caused by a request
    // For /metrics: responses sent by status class (1xx..5xx), idle stops, and cold start
    // durations (request to accepting connections) per bucket of kColdStartBounds (seconds;
    // not cumulative, the last one is beyond every bound).
    static constexpr std::array<double, 10> kColdStartBounds{0.05, 0.1, 0.25, 0.5, 1,
                                                             2.5,  5,   10,   30,  60};
    std::array<uint64_t, 5> responses{};
    uint64_t idle_stops = 0;
    std::array<uint64_t, kColdStartBounds.size() + 1> cold_starts{};
    double cold_start_seconds = 0;  // their sum
    // Per ready target (instance): requests sent there through the gateway since it became
    // ready on that port, and those in flight now.
    struct Target {
      uint16_t port = 0;
      uint64_t requests = 0;
      uint32_t in_flight = 0;
    };
    std::vector<Target> targets;
  };
  std::optional<AppStats> stats(const std::string& app) const;

  // Tells the gateway that `app` was started by someone else (`tend start`): its idle time
  // counts from now, and it is stopped after idle_timeout without requests. Without this
  // call such an app is still stopped, within two idle_timeouts.
  void appStarted(const std::string& app);

  // The instances that serve `app` may have changed (one came online or went offline, was
  // added or removed, taken out of service): the gateway asks GatewayBackend::servingPorts()
  // again soon after, not from inside this call (so the supervisor may call it from its
  // hooks). Idle pooled connections to a target that left are closed then; requests in
  // flight on it end normally and their connections are not pooled.
  void targetsChanged(const std::string& app);
  // An instance of `app` failed before it got online (its process exited, or it did not get
  // ready in time): `why` is for people ("exited before it was ready: exited with code 3;
  // restarting in 100ms"). Requests held for the app's start get 502 "app 'x' <why>" at
  // once, unless an instance of it is online; may be called from the supervisor's hooks.
  void startFailed(const std::string& app, const std::string& why);
  // Requests in flight to instance `port` of `app`, whether it is still a target or was
  // taken out of service (a reload drains it until this is 0).
  size_t inFlightTo(const std::string& app, uint16_t port) const;

  // Stops listening and closes every connection.
  void close();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tend
