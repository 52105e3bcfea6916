// HttpSession: one client connection to the gateway, and the only file of the gateway that
// includes Beast.
//
// Per request (an "exchange"), in stages as in Beast's relay example:
//   read the head (own checks first: request_head.hpp) -> route by Host or listener ->
//   App::acquire() (may hold while the app starts) -> rewrite the headers -> request body
//   client->app and response app->client, both at once -> keep both connections for the
//   next request when both messages completed cleanly.
// A 101 answer to an Upgrade hands both sockets to a Tunnel.
//
// Beast is used for parsing only: bytes read here are fed to a buffer_body parser with
// put(), which fills at most relay_buffer bytes of body at a time; those bytes are written
// out (framed here: as they came, or chunked) before more is read. That is the backpressure,
// and as every piece is written as soon as it is parsed, an event stream passes event by
// event. Writing heads and chunk framing here, with one gather-write, keeps this file to a
// handful of template instantiations (compile time) and makes every flush explicit.
//
// Every completion carries the generation of the app connection it belongs to: after a
// retry on a fresh connection, or once the exchange ended, late completions of the old one
// do nothing. A completion holds the session (and whatever else its operation uses), so
// nothing is freed under a pending operation.

#include <sys/socket.h>

#include <array>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cerrno>
#include <cstdio>

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
using Buffers = std::array<asio::const_buffer, 4>;

constexpr size_t kLeadingSlack = 64;  // room for empty lines before a request head
// Heads are read a little at a time, bodies in large pieces: an idle or waiting connection
// holds a few KiB, a busy one up to its limits (see trimBuffers()).
constexpr size_t kHeadReadSize = 4 * 1024;
constexpr size_t kBodyReadSize = 64 * 1024;
constexpr size_t kKeptBufferSize = 8 * 1024;
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

void appendFields(std::string& out, const http::fields& fields) {
  for (const auto& field : fields) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
}

std::string renderHead(const http::request_header<>& m) {
  std::string out;
  out.reserve(512);
  out += m.method_string();
  out += ' ';
  out += m.target();
  out += " HTTP/1.1\r\n";
  appendFields(out, m);
  return out;
}

std::string renderHead(const http::response_header<>& m) {
  std::string out;
  out.reserve(512);
  out += "HTTP/1.1 ";
  out += std::to_string(m.result_int());
  out += ' ';
  out += m.reason().empty() ? http::obsolete_reason(m.result()) : m.reason();
  out += "\r\n";
  appendFields(out, m);
  return out;
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

// A header value for a message: printable, and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

std::string_view view(const beast::flat_buffer& b) {
  auto d = b.data();
  return {static_cast<const char*>(d.data()), d.size()};
}

// One direction of a relayed message as it goes out: its head (sent with the first piece)
// and its framing.
struct Outgoing {
  std::string head;
  bool head_sent = false;
  bool chunked = false;  // else the body goes as it came (Content-Length or up to the close)
  char size_line[24];
  std::string_view tail;

  // The buffers of one write: the head if not sent yet, then `n` body bytes, framed.
  // `last`: the body ends with them.
  Buffers frame(const char* data, size_t n, bool last) {
    Buffers out{};
    size_t i = 0;
    if (!head_sent) {
      out[i++] = asio::buffer(head);
      head_sent = true;
    }
    if (chunked) {
      if (n > 0) {
        int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        out[i++] = asio::buffer(size_line, static_cast<size_t>(len));
        out[i++] = asio::buffer(data, n);
        tail = last ? "\r\n0\r\n\r\n" : "\r\n";
      } else {
        tail = last ? "0\r\n\r\n" : "";
      }
      out[i++] = asio::buffer(tail.data(), tail.size());
    } else if (n > 0) {
      out[i++] = asio::buffer(data, n);
    }
    return out;
  }
};

class HttpSession;

// Every completion handler of a session is a Step: a member function to call, the app
// connection generation it belongs to, which connection the operation is on (the session
// counts what is pending on each), and what the operation uses besides the session. One
// handler type means each Asio operation template is instantiated once per stream and
// buffer type instead of once per lambda.
struct Step {
  using Fn = void (HttpSession::*)(uint64_t gen, ErrorCode ec, size_t n);
  enum class On { Client, Upstream };
  std::shared_ptr<HttpSession> self;
  Fn fn;
  On on;
  uint64_t gen = 0;
  std::shared_ptr<void> keep;
  void operator()(ErrorCode ec, size_t n = 0);
};

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
  // The handler of an operation on the client's connection, or on the app's.
  Step clientStep(Step::Fn fn, std::shared_ptr<void> keep = {}) {
    ++client_ops_;
    return Step{shared_from_this(), fn, Step::On::Client, up_gen_, std::move(keep)};
  }
  Step upstreamStep(Step::Fn fn) {
    ++upstream_ops_;
    return Step{shared_from_this(), fn, Step::On::Upstream, up_gen_, upstream_};
  }

 public:
  void complete(const Step& step, ErrorCode ec, size_t n) {
    --(step.on == Step::On::Client ? client_ops_ : upstream_ops_);
    if (resume_pending_) {
      // The exchange ended while this operation was pending: its result does not matter,
      // and once nothing is pending the connection goes on (see endExchange()).
      if (client_ops_ == 0 && upstream_ops_ == 0) {
        resume_pending_ = false;
        if (!aborted_) afterExchange();
      }
      return;
    }
    ((*this).*step.fn)(step.gen, ec, n);
  }

 private:
  static size_t room(const beast::flat_buffer& b) { return b.max_size() - b.size(); }

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
    client_.async_read_some(client_buf_.prepare(std::min(room(client_buf_), kHeadReadSize)),
                            clientStep(&HttpSession::onHeadRead));
  }

  void onHeadRead(uint64_t, ErrorCode ec, size_t n) {
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
    auto scan = scanRequestHead(view(client_buf_), head_limits_, head_searched_);
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
    req_->eager(true);  // from here on each put() takes all the body bytes it can

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
    acquire(true);
  }

  void acquire(bool allow_pooled) {
    waiting_ = true;
    app_->acquire([self = shared_from_this()](Upstream u) { self->onUpstream(std::move(u)); },
                  allow_pooled);
    if (waiting_) watchClient();
  }

  // While a request without body waits or its response streams, notice a client that goes
  // away (so the app's counters drop at once, not at the next write).
  void watchClient() {
    if (has_body_ || watching_ || aborted_) return;
    watching_ = true;
    client_.socket().async_wait(tcp::socket::wait_read, clientStep(&HttpSession::onWatch));
  }

  void onWatch(uint64_t, ErrorCode ec, size_t) {
    watching_ = false;
    if (aborted_ || handed_off_ || ec) return;
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
    request_done_ = request_failed_ = false;
    if (req_out_.head.empty()) rewriteRequestHeaders();
    req_out_.head_sent = false;
    if (expect_continue_ && !client_http10_) {
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      client_.expires_after(core_->limits.client_io_timeout);
      asio::async_write(client_, Buffers{asio::buffer(kContinue)},
                        clientStep(&HttpSession::onContinueWritten));
      return;
    }
    pumpRequest();
    readResponseHead();
  }

  void onContinueWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return fail();
    pumpRequest();
    readResponseHead();
  }

  void rewriteRequestHeaders() {
    auto& m = req_->get();
    std::string upgrade(m[http::field::upgrade]);
    stripHopByHop(m);
    m.erase(http::field::expect);  // 100-continue is answered here
    if (want_upgrade_) {
      m.set(http::field::upgrade, upgrade);
      m.set(http::field::connection, "upgrade");
    }
    m.set("X-Forwarded-For", appendForwardedFor(m["X-Forwarded-For"], client_ip_));
    m.set("X-Forwarded-Proto", "http");
    if (!host_.empty()) m.set("X-Forwarded-Host", host_);
    // The body goes as it came: with its Content-Length, or chunked (the only coding a
    // request may have: request_head.cpp refuses the others).
    req_out_.chunked = req_->chunked();
    req_out_.head = renderHead(m);
  }

  // --- request: client -> app ------------------------------------------------------------

  // Parses the upload from what is buffered, reading from the client only when the parser
  // needs more; writes each piece to the app before taking the next.
  void pumpRequest() {
    if (aborted_) return;
    if (!has_body_ || req_->is_done()) {
      writeRequestPiece(0, true);
      return;
    }
    if (!req_body_) req_body_ = std::make_unique_for_overwrite<char[]>(core_->limits.relay_buffer);
    auto& body = req_->get().body();
    while (client_buf_.size() > 0) {
      body.data = req_body_.get();
      body.size = core_->limits.relay_buffer;
      ErrorCode ec;
      size_t used = req_->put(client_buf_.data(), ec);
      client_buf_.consume(used);
      if (ec == http::error::need_buffer) ec = {};
      if (ec && ec != http::error::need_more) {
        fail();  // a bad chunk: nothing sensible can reach the app any more
        return;
      }
      size_t n = core_->limits.relay_buffer - body.size;
      if (n > 0 || req_->is_done()) {
        writeRequestPiece(n, req_->is_done());
        return;
      }
      if (ec == http::error::need_more) break;
    }
    client_.expires_after(core_->limits.client_io_timeout);
    client_.async_read_some(client_buf_.prepare(std::min(room(client_buf_), kBodyReadSize)),
                            clientStep(&HttpSession::onRequestRead));
  }

  void onRequestRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) {
      // The client went away mid-upload or stalled.
      fail();
      return;
    }
    client_buf_.commit(n);
    pumpRequest();
  }

  void writeRequestPiece(size_t n, bool last) {
    upstream_->expires_after(core_->limits.client_io_timeout);
    asio::async_write(
        *upstream_, req_out_.frame(req_body_.get(), n, last),
        upstreamStep(last ? &HttpSession::onRequestDone : &HttpSession::onRequestWritten));
  }

  void onRequestWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return onRequestFailed();
    pumpRequest();
  }

  void onRequestDone(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return onRequestFailed();
    request_done_ = true;
    maybeFinish();
  }

  // The app stopped reading or closed. Its answer (or the lack of one) decides what the
  // client gets: the response side is still waiting for it.
  void onRequestFailed() {
    request_failed_ = true;
    maybeFinish();
  }

  // --- response: app -> client -----------------------------------------------------------

  void readResponseHead() {
    if (aborted_) return;
    res_.emplace();
    res_->header_limit(static_cast<uint32_t>(core_->limits.max_response_head));
    res_->body_limit(boost::none);
    if (is_head_) res_->skip(true);
    response_deadline_ = SteadyClock::now() + core_->limits.upstream_response_timeout;
    parseResponseHead();
  }

  void parseResponseHead() {
    if (upstream_buf_.size() > 0) {
      ErrorCode ec;
      size_t used = res_->put(upstream_buf_.data(), ec);
      upstream_buf_.consume(used);
      if (res_->is_header_done()) {
        onResponseHead();
        return;
      }
      if (ec && ec != http::error::need_more) {
        badResponse("sent an invalid response: " + ec.message());
        return;
      }
    }
    if (room(upstream_buf_) == 0) {
      badResponse("sent a response head larger than " +
                  std::to_string(core_->limits.max_response_head) + " bytes");
      return;
    }
    upstream_->expires_at(response_deadline_);
    upstream_->async_read_some(upstream_buf_.prepare(std::min(room(upstream_buf_), kHeadReadSize)),
                               upstreamStep(&HttpSession::onResponseHeadRead));
  }

  void onResponseHeadRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) {
      bool nothing = !res_->got_some();
      bool closed = ec == asio::error::eof || ec == asio::error::connection_reset ||
                    ec == asio::error::broken_pipe;
      if (closed && nothing && upstream_reused_ && !retried_ && !has_body_) {
        // A pooled connection the app had closed meanwhile: once more on a fresh one.
        retried_ = true;
        closeUpstream();
        acquire(false);
        return;
      }
      if (ec == beast::error::timeout) {
        closeUpstream();
        respond(504,
                "app '" + app_->name() + "' did not answer within " +
                    formatDuration(core_->limits.upstream_response_timeout),
                true);
        return;
      }
      badResponse(closed ? "closed the connection without answering"
                         : "failed while answering: " + ec.message());
      return;
    }
    upstream_buf_.commit(n);
    parseResponseHead();
  }

  void badResponse(const std::string& why) {
    closeUpstream();
    respond(502, "app '" + app_->name() + "' " + why, true);
  }

  void onResponseHead() {
    auto& r = res_->get();
    unsigned status = r.result_int();
    if (status == 101) {
      if (want_upgrade_) {
        startTunnelling();
      } else {
        badResponse("switched protocols unasked");
      }
      return;
    }
    if (status / 100 == 1) {
      // 100 Continue, 103 Early Hints: dropped; the final answer follows.
      res_.emplace();
      res_->header_limit(static_cast<uint32_t>(core_->limits.max_response_head));
      res_->body_limit(boost::none);
      if (is_head_) res_->skip(true);
      parseResponseHead();
      return;
    }
    res_->eager(true);
    app_->countResponse(static_cast<int>(status));

    bool no_body = res_->is_done();
    bool close_delimited = !no_body && res_->need_eof();
    bool chunked_in = !no_body && res_->chunked();
    stripHopByHop(r);
    if (no_body && !is_head_) r.erase(http::field::transfer_encoding);  // 1xx, 204, 304
    res_out_.chunked = false;
    if (chunked_in || close_delimited) {
      if (client_http10_) {
        // HTTP/1.0 has no chunked: the end of the body is the close.
        if (chunked_in) r.chunked(false);
        client_keep_alive_ = false;
      } else {
        // A close-delimited body is chunked here, so the client's connection stays.
        if (close_delimited) r.chunked(true);
        res_out_.chunked = true;
      }
    }
    if (!req_->is_done()) {
      // Answered before the whole upload was read: the rest of it cannot be skipped
      // reliably, so this connection ends with the response.
      client_keep_alive_ = false;
    }
    if (!client_keep_alive_) {
      r.set(http::field::connection, "close");
    } else if (client_http10_) {
      r.set(http::field::connection, "keep-alive");
    }
    res_out_.head = renderHead(r);
    res_out_.head_sent = false;
    bool event_stream = startsWithNoCase(r[http::field::content_type], "text/event-stream");
    if (event_stream) stream_guard_ = app_->tracker().beginStream();
    // A stream may go quiet for long: notice a client that leaves meanwhile.
    if (!no_body && (event_stream || !res_->content_length())) watchClient();
    if (!res_body_) res_body_ = std::make_unique_for_overwrite<char[]>(core_->limits.relay_buffer);
    pumpResponse();
  }

  // Parses the response body from what is buffered, reading from the app only when the
  // parser needs more; writes each piece to the client before taking the next. With
  // nothing buffered the head goes out at once (an event stream may say nothing for long).
  void pumpResponse() {
    if (aborted_) return;
    if (res_->is_done()) {
      writeResponsePiece(0, true);
      return;
    }
    auto& body = res_->get().body();
    while (upstream_buf_.size() > 0) {
      body.data = res_body_.get();
      body.size = core_->limits.relay_buffer;
      ErrorCode ec;
      size_t used = res_->put(upstream_buf_.data(), ec);
      upstream_buf_.consume(used);
      if (ec == http::error::need_buffer) ec = {};
      if (ec && ec != http::error::need_more) {
        fail();  // a broken body after the head went out: all the client can get is the close
        return;
      }
      size_t n = core_->limits.relay_buffer - body.size;
      if (n > 0 || res_->is_done()) {
        writeResponsePiece(n, res_->is_done());
        return;
      }
      if (ec == http::error::need_more) break;
    }
    if (!res_out_.head_sent) {
      writeResponsePiece(0, false);
      return;
    }
    upstream_->expires_after(core_->limits.stream_idle_timeout);
    upstream_->async_read_some(upstream_buf_.prepare(std::min(room(upstream_buf_), kBodyReadSize)),
                               upstreamStep(&HttpSession::onResponseRead));
  }

  void onResponseRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec == asio::error::eof && res_->need_eof()) {
      ErrorCode eof_ec;
      res_->put_eof(eof_ec);
      if (!eof_ec && res_->is_done()) {
        writeResponsePiece(0, true);
        return;
      }
    }
    if (ec) {
      fail();  // the app died or went silent mid-body
      return;
    }
    upstream_buf_.commit(n);
    pumpResponse();
  }

  void writeResponsePiece(size_t n, bool last) {
    client_.expires_after(core_->limits.client_io_timeout);
    asio::async_write(
        client_, res_out_.frame(res_body_.get(), n, last),
        clientStep(last ? &HttpSession::onResponseDone : &HttpSession::onResponseWritten));
  }

  void onResponseWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return fail();  // the client went away mid-download
    pumpResponse();
  }

  void onResponseDone(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return fail();
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
    res_out_.head = renderHead(r);
    res_out_.head_sent = false;
    res_out_.chunked = false;
    client_.expires_after(core_->limits.client_io_timeout);
    asio::async_write(client_, res_out_.frame(nullptr, 0, true),
                      clientStep(&HttpSession::onUpgradeWritten));
  }

  void onUpgradeWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return fail();
    std::string client_early(view(client_buf_));
    std::string upstream_early(view(upstream_buf_));
    auto stream = app_->tracker().beginStream();
    request_guard_.release();
    handed_off_ = true;  // a pending watch completes (cancelled) after the sockets moved
    tcp::socket client = client_.release_socket();
    tcp::socket upstream = upstream_->release_socket();
    startTunnel(core_, std::move(client), std::move(upstream), std::move(client_early),
                std::move(upstream_early), std::move(stream));
  }

  // --- the end of an exchange ------------------------------------------------------------

  void maybeFinish() {
    if (!response_done_) return;
    if (!request_done_ && req_->is_done() && !request_failed_) {
      return;  // the last piece of the upload is still being written: onRequestDone() ends
    }
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
    sendOwn(status, "text/plain; charset=utf-8", "", "tend: " + text + "\n", close);
  }

  void respondLoadingPage() {
    std::string app = htmlEscape(app_->name());
    sendOwn(503, "text/html; charset=utf-8", "Retry-After: 1\r\n",
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"1\"><title>Starting " +
                app + "</title></head>\n<body><p>Starting " + app +
                "&hellip;</p><p>This page reloads by itself.</p></body></html>\n",
            false);
  }

  void sendOwn(int status, std::string_view type, std::string_view extra, const std::string& body,
               bool close) {
    closeUpstream();
    if (app_) app_->countResponse(status);
    // A request body that was not read makes the connection unusable for the next request.
    bool unread_body = req_ && !req_->is_done();
    if (close || unread_body || !req_) client_keep_alive_ = false;
    auto out = std::make_shared<std::string>();
    *out = "HTTP/1.1 " + std::to_string(status) + " " +
           std::string(http::obsolete_reason(static_cast<http::status>(status))) +
           "\r\nContent-Type: " + std::string(type) +
           "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nCache-Control: no-store\r\n" + std::string(extra);
    if (!client_keep_alive_) {
      *out += "Connection: close\r\n";
    } else if (client_http10_) {
      *out += "Connection: keep-alive\r\n";
    }
    *out += "\r\n";
    if (!is_head_) *out += body;  // a HEAD gets the headers a GET would
    client_.expires_after(core_->limits.client_io_timeout);
    asio::async_write(client_, Buffers{asio::buffer(*out)},
                      clientStep(&HttpSession::onOwnWritten, out));
  }

  void onOwnWritten(uint64_t, ErrorCode ec, size_t) {
    if (aborted_) return;
    if (ec) return fail();
    endExchange();
  }

  // The exchange is over (answered, by the app or by the gateway). Before the client's
  // connection is read again or lingers, and before the exchange's buffers go, whatever is
  // still pending (the rest of an upload, the watch, a write to the app's connection, which
  // is closed by now) is cancelled and waited for: complete() then calls afterExchange().
  void endExchange() {
    closeUpstream();
    request_guard_.release();
    stream_guard_.release();
    app_.reset();
    ++up_gen_;
    if (client_ops_ > 0 || upstream_ops_ > 0) {
      resume_pending_ = true;
      ErrorCode ignored;
      client_.socket().cancel(ignored);
      return;
    }
    afterExchange();
  }

  void afterExchange() {
    res_.reset();
    req_.reset();
    req_out_ = Outgoing{};
    res_out_ = Outgoing{};
    watching_ = false;  // a cancelled watch's handler did not run
    trimBuffers();
    if (!client_keep_alive_) {
      lingerClose();
      return;
    }
    has_body_ = is_head_ = want_upgrade_ = expect_continue_ = false;
    request_done_ = response_done_ = request_failed_ = false;
    retried_ = upstream_reused_ = false;
    client_http10_ = false;
    client_keep_alive_ = true;
    readHead();
  }

  // Between requests a connection keeps only small buffers: the body pieces go, and read
  // buffers that grew for a large head or body shrink back.
  void trimBuffers() {
    req_body_.reset();
    res_body_.reset();
    upstream_buf_.clear();  // its bytes belonged to the app's connection, which is gone
    if (upstream_buf_.capacity() > kKeptBufferSize) upstream_buf_.shrink_to_fit();
    if (client_buf_.size() == 0 && client_buf_.capacity() > kKeptBufferSize) {
      client_buf_.shrink_to_fit();
    }
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
    client_.async_read_some(client_buf_.prepare(std::min(room(client_buf_), kHeadReadSize)),
                            clientStep(&HttpSession::onDrained));
  }

  void onDrained(uint64_t, ErrorCode ec, size_t) {
    if (ec) return fail();
    drain();
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
  std::optional<ResponseParser> res_;
  Outgoing req_out_;
  Outgoing res_out_;
  std::unique_ptr<char[]> req_body_;
  std::unique_ptr<char[]> res_body_;
  std::shared_ptr<App> app_;
  IdleTracker::ActivityGuard request_guard_;
  IdleTracker::ActivityGuard stream_guard_;
  std::shared_ptr<beast::tcp_stream> upstream_;
  uint64_t up_gen_ = 0;
  SteadyClock::time_point response_deadline_;
  std::string host_;
  bool has_body_ = false;
  bool is_head_ = false;
  bool want_upgrade_ = false;
  bool expect_continue_ = false;
  bool client_http10_ = false;
  bool client_keep_alive_ = true;
  bool upstream_reused_ = false;
  bool retried_ = false;
  bool request_done_ = false;
  bool response_done_ = false;
  bool request_failed_ = false;
  bool waiting_ = false;
  bool watching_ = false;
  int client_ops_ = 0;           // operations pending on client_
  int upstream_ops_ = 0;         // and on the app's connections (this one or an older one)
  bool resume_pending_ = false;  // endExchange() waits for them to end
  bool handed_off_ = false;
  bool aborted_ = false;
};

void Step::operator()(ErrorCode ec, size_t n) {
  self->complete(*this, ec, n);
}

}  // namespace

void startHttpSession(std::shared_ptr<GatewayCore> core, tcp::socket socket, std::string app) {
  std::make_shared<HttpSession>(std::move(core), std::move(socket), std::move(app))->start();
}

}  // namespace tend::gateway
