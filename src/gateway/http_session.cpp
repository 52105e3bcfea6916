// HttpSession: one client connection to the gateway. The only file of the gateway that
// includes Beast.
//
// Per request (an "exchange"), in stages as in Beast's relay example:
//   read the head (own checks first: request_head.hpp) -> route by Host or listener ->
//   App::acquire() (may hold while the app starts) -> rewrite the headers ->
//   request body client->app and response app->client, both at once, each in pieces of
//   relay_buffer through a buffer_body parser and serializer: a piece is written before the
//   next is read, which is the backpressure, and every piece is flushed as it comes, which
//   is what Server-Sent Events need -> keep both connections for the next request when both
//   messages completed cleanly.
// The parsers are not "eager": an eager parser that has emptied its input into the body in
// the middle of a chunked body asks for more input before completing the read, so an event
// would wait for the next one. Not eager, each read completes after one step (a chunk
// header, or some body bytes).
// A 101 answer to an Upgrade hands both sockets to a Tunnel.
//
// Every handler of an operation on the app's connection carries the connection's
// generation: after a retry on a fresh connection, or once the exchange ended, late
// handlers of the old one do nothing. Handlers hold shared_ptrs to what their operation
// uses (the session, the stream, the serializer), so nothing is freed under a pending
// operation.

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>

#include "common/duration.hpp"
#include "common/text.hpp"
#include "gateway/app.hpp"
#include "gateway/core.hpp"
#include "gateway/header_rules.hpp"
#include "gateway/request_head.hpp"
#include "gateway/tunnel.hpp"

namespace tend::gateway {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using ErrorCode = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;
using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;
using RequestSerializer = http::request_serializer<http::buffer_body>;
using ResponseSerializer = http::response_serializer<http::buffer_body>;

constexpr size_t kLeadingSlack = 64;  // room for empty lines before a request head
constexpr auto kLingerTime = std::chrono::seconds(2);

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && toLower(s.substr(0, prefix.size())) == prefix;
}

// Removes the hop-by-hop headers of `fields`, including those named in Connection (but
// never the ones that frame or route the message: see mayDropConnectionOption).
void stripHopByHop(http::fields& fields) {
  for (const auto& option : connectionOptions(fields[http::field::connection])) {
    if (mayDropConnectionOption(option)) fields.erase(option);
  }
  for (auto name :
       {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Trailers", "Upgrade"}) {
    fields.erase(name);
  }
}

std::string htmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A Host header for a message: printable, and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<GatewayCore> core, tcp::socket socket, std::string app)
      : Connection(std::move(core)),
        client_(std::move(socket)),
        client_buf_(core_->limits.max_request_head + kLeadingSlack),
        upstream_buf_(core_->limits.max_response_head),
        listener_app_(std::move(app)),
        head_limits_{core_->limits.max_request_line, core_->limits.max_request_head,
                     core_->limits.max_header_fields} {}

  void start() {
    ErrorCode ec;
    auto peer = client_.socket().remote_endpoint(ec);
    client_ip_ = ec ? "unknown" : peer.address().to_string();
    client_.socket().set_option(tcp::no_delay(true), ec);
    head_deadline_ = SteadyClock::now() + core_->limits.head_timeout;
    readHead();
  }

  void abort() override { fail(); }

 private:
  // --- the request head ------------------------------------------------------------------

  void readHead() {
    if (aborted_) return;
    if (client_buf_.size() > 0 && scanHead()) return;
    if (!head_deadline_ && client_buf_.size() > 0) {
      head_deadline_ = SteadyClock::now() + core_->limits.head_timeout;
    }
    if (head_deadline_) {
      client_.expires_at(*head_deadline_);
    } else {
      client_.expires_after(core_->limits.keep_alive_timeout);
    }
    size_t room = client_buf_.max_size() - client_buf_.size();
    client_.async_read_some(
        client_buf_.prepare(std::min<size_t>(room, 16 * 1024)),
        [self = shared_from_this()](ErrorCode ec, size_t n) { self->onHeadRead(ec, n); });
  }

  void onHeadRead(ErrorCode ec, size_t n) {
    if (aborted_) return;
    if (ec) {
      // The client closed, or the head (or the next request) did not come in time.
      fail();
      return;
    }
    client_buf_.commit(n);
    readHead();
  }

  // True when it took the connection over (a complete head, or a refusal).
  bool scanHead() {
    auto data = client_buf_.data();
    std::string_view received(static_cast<const char*>(data.data()), data.size());
    auto scan = scanRequestHead(received, head_limits_, head_searched_);
    switch (scan.result) {
      case HeadScan::Result::NeedMore:
        head_searched_ = scan.searched;
        return false;
      case HeadScan::Result::Reject:
        respond(scan.status, scan.reason, true);
        return true;
      case HeadScan::Result::Complete:
        client_buf_.consume(scan.skip);
        head_searched_ = 0;
        head_deadline_.reset();
        onHead(scan.length);
        return true;
    }
    return true;
  }

  void onHead(size_t length) {
    req_.emplace();
    req_->header_limit(static_cast<uint32_t>(client_buf_.max_size()));
    req_->body_limit(boost::none);
    ErrorCode ec;
    size_t used = req_->put(asio::buffer(client_buf_.data().data(), length), ec);
    if (ec || !req_->is_header_done()) {
      req_.reset();
      respond(400, "malformed request: " + (ec ? ec.message() : "incomplete head"), true);
      return;
    }
    client_buf_.consume(used);

    auto& m = req_->get();
    is_head_ = m.method() == http::verb::head;
    client_http10_ = m.version() < 11;
    client_keep_alive_ = req_->keep_alive();
    has_body_ = !req_->is_done();
    want_upgrade_ = req_->upgrade() && !has_body_;
    auto expect = m[http::field::expect];
    expect_continue_ = !expect.empty() && toLower(expect) == "100-continue";
    if (!expect.empty() && !expect_continue_) {
      respond(417, "unsupported Expect: " + printable(expect), true);
      return;
    }
    if (m.method() == http::verb::connect) {
      respond(501, "CONNECT is not supported", true);
      return;
    }
    // An absolute-form target (RFC 9112 section 3.2.2) names the host; it wins over Host.
    std::string_view target = m.target();
    for (std::string_view scheme : {"http://", "https://"}) {
      if (!startsWithNoCase(target, scheme)) continue;
      std::string_view rest = target.substr(scheme.size());
      auto slash = rest.find_first_of("/?");
      std::string authority(rest.substr(0, slash));
      std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
      if (!path.empty() && path.front() == '?') path.insert(0, "/");
      m.target(path);
      m.set(http::field::host, authority);
      break;
    }
    host_ = std::string(m[http::field::host]);
    route();
  }

  // --- routing and waiting for the app ---------------------------------------------------

  void route() {
    std::shared_ptr<App> app;
    if (!listener_app_.empty()) {
      app = core_->appNamed(listener_app_);
    } else if (const std::string* name = core_->router.appForHost(host_)) {
      app = core_->appNamed(*name);
    } else if (Router::normalizeHost(host_).empty()) {
      respond(400, "invalid Host header '" + printable(host_) + "'", false);
      return;
    } else {
      respond(404, "no app for host '" + printable(host_) + "'", false);
      return;
    }
    if (!app) {
      respond(404, "no app for this listener", false);
      return;
    }
    app_ = std::move(app);
    request_guard_ = app_->tracker().beginRequest();

    auto& m = req_->get();
    if (app_->route().loading_page && m.method() == http::verb::get &&
        acceptsHtml(m[http::field::accept]) && app_->needsStart()) {
      app_->triggerStart();
      respondLoadingPage();
      return;
    }
    waiting_ = true;
    app_->acquire([self = shared_from_this()](Upstream u) { self->onUpstream(std::move(u)); });
    if (waiting_) watchClient();
  }

  // While a request without body waits or its response streams, notice a client that goes
  // away (so the app's counters drop at once, not at the next write).
  void watchClient() {
    if (has_body_ || watching_ || aborted_) return;
    watching_ = true;
    client_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this()](ErrorCode ec) { self->onWatch(ec); });
  }

  void onWatch(ErrorCode ec) {
    watching_ = false;
    if (aborted_ || handed_off_) return;
    if (resume_pending_) {
      resume_pending_ = false;
      afterExchange();
      return;
    }
    if (ec) return;
    char byte;
    ssize_t n = ::recv(client_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      fail();  // the client closed or reset its connection
    } else if (n < 0) {
      watchClient();
    }
    // n > 0: the client sent more (a pipelined request): it is still there; stop watching.
  }

  void onUpstream(Upstream u) {
    waiting_ = false;
    if (aborted_) return;
    if (!u.socket) {
      respond(u.status, u.error, has_body_);
      return;
    }
    ++up_gen_;
    upstream_ = std::make_shared<beast::tcp_stream>(std::move(*u.socket));
    upstream_reused_ = u.reused;
    upstream_buf_.clear();
    if (!headers_rewritten_) rewriteRequestHeaders();
    req_sr_ = std::make_shared<RequestSerializer>(req_->get());
    if (expect_continue_ && !client_http10_) {
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      client_.expires_after(core_->limits.client_io_timeout);
      asio::async_write(client_, asio::buffer(kContinue),
                        [self = shared_from_this(), gen = up_gen_](ErrorCode ec, size_t) {
                          if (self->aborted_ || gen != self->up_gen_) return;
                          if (ec) return self->fail();
                          self->pumpRequest();
                          self->readResponseHead();
                        });
      return;
    }
    pumpRequest();
    readResponseHead();
  }

  void rewriteRequestHeaders() {
    headers_rewritten_ = true;
    auto& m = req_->get();
    std::string upgrade(m[http::field::upgrade]);
    stripHopByHop(m);
    m.erase(http::field::expect);  // 100-continue is answered here
    if (want_upgrade_) {
      m.set(http::field::upgrade, upgrade);
      m.set(http::field::connection, "upgrade");
    }
    m.version(11);
    m.set("X-Forwarded-For", appendForwardedFor(m["X-Forwarded-For"], client_ip_));
    m.set("X-Forwarded-Proto", "http");
    if (!host_.empty()) m.set("X-Forwarded-Host", host_);
  }

  // --- request: client -> app ------------------------------------------------------------

  void pumpRequest() {
    if (aborted_) return;
    auto& body = req_->get().body();
    if (!has_body_) {
      // Head only: a message without body is complete with its header.
      upstream_->expires_after(core_->limits.client_io_timeout);
      http::async_write_header(
          *upstream_, *req_sr_,
          [self = shared_from_this(), up = upstream_, sr = req_sr_, gen = up_gen_](
              ErrorCode ec, size_t) { self->onRequestWritten(gen, ec, true); });
      return;
    }
    if (req_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      writeRequestPiece();
      return;
    }
    if (!req_body_) req_body_ = std::make_unique<char[]>(core_->limits.relay_buffer);
    body.data = req_body_.get();
    body.size = core_->limits.relay_buffer;
    client_.expires_after(core_->limits.client_io_timeout);
    client_reading_ = true;
    http::async_read_some(client_, client_buf_, *req_,
                          [self = shared_from_this(), gen = up_gen_](ErrorCode ec, size_t) {
                            self->onRequestBody(gen, ec);
                          });
  }

  void onRequestBody(uint64_t gen, ErrorCode ec) {
    client_reading_ = false;
    if (aborted_) return;
    if (resume_pending_) {
      resume_pending_ = false;
      afterExchange();
      return;
    }
    if (gen != up_gen_) return;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // The client went away mid-upload, stalled, or sent a bad chunk: nothing sensible can
      // reach the app any more.
      fail();
      return;
    }
    auto& body = req_->get().body();
    size_t n = core_->limits.relay_buffer - body.size;
    if (n == 0 && !req_->is_done()) {
      pumpRequest();
      return;
    }
    body.data = n > 0 ? req_body_.get() : nullptr;
    body.size = n;
    body.more = !req_->is_done();
    writeRequestPiece();
  }

  void writeRequestPiece() {
    upstream_->expires_after(core_->limits.client_io_timeout);
    http::async_write(*upstream_, *req_sr_,
                      [self = shared_from_this(), up = upstream_, sr = req_sr_, gen = up_gen_](
                          ErrorCode ec, size_t) { self->onRequestWritten(gen, ec, false); });
  }

  void onRequestWritten(uint64_t gen, ErrorCode ec, bool head_only) {
    if (aborted_ || gen != up_gen_) return;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // The app stopped reading or closed. Its answer (or the lack of one) decides what the
      // client gets; the read side is still waiting for it.
      request_failed_ = true;
      return;
    }
    if (head_only || req_sr_->is_done()) {
      request_done_ = true;
      maybeFinish();
      return;
    }
    pumpRequest();
  }

  // --- response: app -> client -----------------------------------------------------------

  void readResponseHead() {
    if (aborted_) return;
    res_.emplace();
    res_->header_limit(static_cast<uint32_t>(core_->limits.max_response_head));
    res_->body_limit(boost::none);
    if (is_head_) res_->skip(true);
    upstream_->expires_after(core_->limits.upstream_response_timeout);
    http::async_read_header(*upstream_, upstream_buf_, *res_,
                            [self = shared_from_this(), up = upstream_, gen = up_gen_](
                                ErrorCode ec, size_t) { self->onResponseHead(gen, ec); });
  }

  void onResponseHead(uint64_t gen, ErrorCode ec) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) {
      bool stale_connection = ec == http::error::end_of_stream ||
                              ec == asio::error::connection_reset || ec == asio::error::eof ||
                              ec == asio::error::broken_pipe;
      if (upstream_reused_ && !retried_ && !has_body_ && stale_connection) {
        // A pooled connection the app had closed meanwhile: once more on a fresh one.
        retried_ = true;
        closeUpstream();
        waiting_ = true;
        app_->acquire([self = shared_from_this()](Upstream u) { self->onUpstream(std::move(u)); },
                      false);
        return;
      }
      closeUpstream();
      if (ec == beast::error::timeout) {
        respond(504,
                "app '" + app_->name() + "' did not answer within " +
                    formatDuration(core_->limits.upstream_response_timeout),
                true);
      } else if (stale_connection) {
        respond(502, "app '" + app_->name() + "' closed the connection without answering", true);
      } else {
        respond(502, "app '" + app_->name() + "' sent an invalid response: " + ec.message(), true);
      }
      return;
    }
    auto& r = res_->get();
    unsigned status = r.result_int();
    if (status == 101) {
      if (want_upgrade_) {
        startTunnelling();
      } else {
        closeUpstream();
        respond(502, "app '" + app_->name() + "' switched protocols unasked", true);
      }
      return;
    }
    if (status / 100 == 1) {
      readResponseHead();  // 100 Continue, 103 Early Hints: the final answer follows
      return;
    }

    bool no_body = res_->is_done();
    bool close_delimited = !no_body && res_->need_eof();
    stripHopByHop(r);
    if (status == 204 || status == 304) r.erase(http::field::transfer_encoding);
    if (!no_body && r.chunked() && client_http10_) {
      r.chunked(false);  // HTTP/1.0 has no chunked: the end of the body is the close
      client_keep_alive_ = false;
    } else if (close_delimited) {
      if (client_http10_) {
        client_keep_alive_ = false;
      } else {
        r.chunked(true);  // keep the client's connection: frame the body ourselves
      }
    }
    if (!request_done_ && has_body_ && no_body) {
      // Answered before the upload finished: the rest of the upload cannot be skipped
      // reliably, so this connection ends with the response.
      client_keep_alive_ = false;
    }
    r.version(11);
    if (!client_keep_alive_) {
      r.set(http::field::connection, "close");
    } else if (client_http10_) {
      r.set(http::field::connection, "keep-alive");
    }
    bool event_stream = startsWithNoCase(r[http::field::content_type], "text/event-stream");
    if (event_stream) stream_guard_ = app_->tracker().beginStream();
    // A stream may go quiet for long: notice a client that leaves meanwhile.
    if (!no_body && (event_stream || !res_->content_length())) watchClient();
    res_sr_ = std::make_shared<ResponseSerializer>(r);
    if (no_body) {
      client_.expires_after(core_->limits.client_io_timeout);
      http::async_write_header(
          client_, *res_sr_,
          [self = shared_from_this(), sr = res_sr_, gen = up_gen_](ErrorCode ec, size_t) {
            if (self->aborted_ || gen != self->up_gen_) return;
            if (ec) return self->fail();
            self->responseDone();
          });
      return;
    }
    if (!res_body_) res_body_ = std::make_unique<char[]>(core_->limits.relay_buffer);
    if (upstream_buf_.size() > 0) {
      pumpResponse();  // the head goes out with the first piece of the body
      return;
    }
    // Nothing of the body yet (an event stream, a slow page): the head goes out now.
    client_.expires_after(core_->limits.client_io_timeout);
    http::async_write_header(
        client_, *res_sr_,
        [self = shared_from_this(), sr = res_sr_, gen = up_gen_](ErrorCode ec, size_t) {
          if (self->aborted_ || gen != self->up_gen_) return;
          if (ec) return self->fail();
          self->pumpResponse();
        });
  }

  void pumpResponse() {
    if (aborted_) return;
    auto& body = res_->get().body();
    if (res_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      writeResponsePiece();
      return;
    }
    body.data = res_body_.get();
    body.size = core_->limits.relay_buffer;
    upstream_->expires_after(core_->limits.stream_idle_timeout);
    http::async_read_some(*upstream_, upstream_buf_, *res_,
                          [self = shared_from_this(), up = upstream_, gen = up_gen_](
                              ErrorCode ec, size_t) { self->onResponseBody(gen, ec); });
  }

  void onResponseBody(uint64_t gen, ErrorCode ec) {
    if (aborted_ || gen != up_gen_) return;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // The app died or went silent mid-body; the head is out, so all the client can be
      // told is the close.
      fail();
      return;
    }
    auto& body = res_->get().body();
    size_t n = core_->limits.relay_buffer - body.size;
    if (n == 0 && !res_->is_done()) {
      pumpResponse();
      return;
    }
    body.data = n > 0 ? res_body_.get() : nullptr;
    body.size = n;
    body.more = !res_->is_done();
    writeResponsePiece();
  }

  void writeResponsePiece() {
    client_.expires_after(core_->limits.client_io_timeout);
    http::async_write(
        client_, *res_sr_,
        [self = shared_from_this(), sr = res_sr_, gen = up_gen_](ErrorCode ec, size_t) {
          if (self->aborted_ || gen != self->up_gen_) return;
          if (ec == http::error::need_buffer) ec = {};
          if (ec) return self->fail();  // the client went away mid-download
          if (self->res_sr_->is_done()) {
            self->responseDone();
          } else {
            self->pumpResponse();
          }
        });
  }

  void responseDone() {
    response_done_ = true;
    stream_guard_.release();
    maybeFinish();
  }

  // --- Upgrade ---------------------------------------------------------------------------

  void startTunnelling() {
    auto& r = res_->get();
    std::string upgrade(r[http::field::upgrade]);
    stripHopByHop(r);
    r.set(http::field::upgrade, upgrade);
    r.set(http::field::connection, "upgrade");
    res_sr_ = std::make_shared<ResponseSerializer>(r);
    client_.expires_after(core_->limits.client_io_timeout);
    http::async_write_header(
        client_, *res_sr_,
        [self = shared_from_this(), sr = res_sr_, gen = up_gen_](ErrorCode ec, size_t) {
          if (self->aborted_ || gen != self->up_gen_) return;
          if (ec) return self->fail();
          self->handOff();
        });
  }

  void handOff() {
    auto bytes = [](beast::flat_buffer& b) {
      auto d = b.data();
      return std::string(static_cast<const char*>(d.data()), d.size());
    };
    std::string client_early = bytes(client_buf_);
    std::string upstream_early = bytes(upstream_buf_);
    auto stream = app_->tracker().beginStream();
    request_guard_.release();
    handed_off_ = true;  // a pending watch completes (cancelled) after the sockets moved
    tcp::socket client = client_.release_socket();
    tcp::socket upstream = upstream_->release_socket();
    ErrorCode ignored;
    client.set_option(tcp::no_delay(true), ignored);
    startTunnel(core_, std::move(client), std::move(upstream), std::move(client_early),
                std::move(upstream_early), std::move(stream));
  }

  // --- the end of an exchange ------------------------------------------------------------

  void maybeFinish() {
    if (!response_done_) return;
    if (!request_done_) {
      // The app answered before taking the whole upload: neither connection is reusable.
      client_keep_alive_ = false;
      closeUpstream();
    } else if (upstream_ && res_->keep_alive() && !request_failed_ && upstream_buf_.size() == 0) {
      app_->release(upstream_->release_socket());
      upstream_.reset();
    }
    endExchange();
  }

  // A response of the gateway's own: an error, with a short text naming the app and why.
  void respond(int status, const std::string& text, bool close) {
    auto res =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), 11);
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->set(http::field::cache_control, "no-store");
    res->body() = "tend: " + text + "\n";
    sendOwn(std::move(res), close);
  }

  void respondLoadingPage() {
    std::string app = htmlEscape(app_->name());
    auto res =
        std::make_shared<http::response<http::string_body>>(http::status::service_unavailable, 11);
    res->set(http::field::content_type, "text/html; charset=utf-8");
    res->set(http::field::cache_control, "no-store");
    res->set(http::field::retry_after, "1");
    res->body() =
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"refresh\" content=\"1\"><title>Starting " +
        app + "</title></head>\n<body><p>Starting " + app +
        "&hellip;</p><p>This page reloads by itself.</p></body></html>\n";
    sendOwn(std::move(res), false);
  }

  void sendOwn(std::shared_ptr<http::response<http::string_body>> res, bool close) {
    closeUpstream();
    // A request body that was not read makes the connection unusable for the next request.
    bool unread_body = req_ && !req_->is_done();
    if (close || unread_body || !req_) client_keep_alive_ = false;
    res->keep_alive(client_keep_alive_);
    res->prepare_payload();
    if (is_head_) res->body().clear();  // Content-Length stays: a HEAD gets the GET's headers
    client_.expires_after(core_->limits.client_io_timeout);
    http::async_write(client_, *res, [self = shared_from_this(), res](ErrorCode ec, size_t) {
      if (self->aborted_) return;
      if (ec) return self->fail();
      self->endExchange();
    });
  }

  // The exchange is over (answered, by the app or by the gateway). Before the client's
  // connection is read again or lingers, a read still pending on it (the rest of an upload,
  // or the watch) is cancelled and waited for: its handler then calls afterExchange().
  void endExchange() {
    closeUpstream();
    request_guard_.release();
    stream_guard_.release();
    app_.reset();
    ++up_gen_;
    if (client_reading_ || watching_) {
      resume_pending_ = true;
      ErrorCode ignored;
      client_.socket().cancel(ignored);
      return;
    }
    afterExchange();
  }

  void afterExchange() {
    req_sr_.reset();
    res_sr_.reset();
    res_.reset();
    req_.reset();
    if (!client_keep_alive_) {
      lingerClose();
      return;
    }
    has_body_ = is_head_ = want_upgrade_ = expect_continue_ = false;
    request_done_ = response_done_ = request_failed_ = false;
    headers_rewritten_ = retried_ = upstream_reused_ = false;
    client_http10_ = false;
    client_keep_alive_ = true;
    readHead();
  }

  // Closing at once could turn unread request bytes into a reset that destroys the response
  // at the client before it is read; so: send the end, read what is left for a moment, close.
  void lingerClose() {
    ErrorCode ignored;
    client_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_until_ = SteadyClock::now() + kLingerTime;
    drain();
  }

  void drain() {
    if (aborted_) return;
    client_buf_.clear();
    client_.expires_at(linger_until_);
    client_.async_read_some(client_buf_.prepare(client_buf_.max_size()),
                            [self = shared_from_this()](ErrorCode ec, size_t) {
                              if (ec) return self->fail();
                              self->drain();
                            });
  }

  void closeUpstream() {
    if (!upstream_) return;
    ErrorCode ignored;
    upstream_->socket().close(ignored);
    upstream_.reset();
    ++up_gen_;
  }

  void fail() {
    if (aborted_) return;
    aborted_ = true;
    ErrorCode ignored;
    if (!handed_off_) client_.socket().close(ignored);
    if (upstream_) upstream_->socket().close(ignored);
    request_guard_.release();
    stream_guard_.release();
  }

  beast::tcp_stream client_;
  beast::flat_buffer client_buf_;
  beast::flat_buffer upstream_buf_;
  std::string listener_app_;
  HeadLimits head_limits_;
  std::string client_ip_;
  std::optional<SteadyClock::time_point> head_deadline_;
  size_t head_searched_ = 0;
  SteadyClock::time_point linger_until_;

  // The current exchange.
  std::optional<RequestParser> req_;
  std::shared_ptr<RequestSerializer> req_sr_;
  std::optional<ResponseParser> res_;
  std::shared_ptr<ResponseSerializer> res_sr_;
  std::unique_ptr<char[]> req_body_;
  std::unique_ptr<char[]> res_body_;
  std::shared_ptr<App> app_;
  IdleTracker::ActivityGuard request_guard_;
  IdleTracker::ActivityGuard stream_guard_;
  std::shared_ptr<beast::tcp_stream> upstream_;
  uint64_t up_gen_ = 0;
  std::string host_;
  bool has_body_ = false;
  bool is_head_ = false;
  bool want_upgrade_ = false;
  bool expect_continue_ = false;
  bool client_http10_ = false;
  bool client_keep_alive_ = true;
  bool headers_rewritten_ = false;
  bool upstream_reused_ = false;
  bool retried_ = false;
  bool request_done_ = false;
  bool response_done_ = false;
  bool request_failed_ = false;
  bool waiting_ = false;
  bool watching_ = false;
  bool client_reading_ = false;  // a read of the request body is pending on client_
  bool resume_pending_ = false;  // endExchange() waits for that read (or the watch) to end
  bool handed_off_ = false;
  bool aborted_ = false;
};

}  // namespace

void startHttpSession(std::shared_ptr<GatewayCore> core, tcp::socket socket, std::string app) {
  std::make_shared<HttpSession>(std::move(core), std::move(socket), std::move(app))->start();
}

}  // namespace tend::gateway
