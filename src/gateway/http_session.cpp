// HttpSession: one client connection to the gateway, and the only file of the gateway that
// includes Beast.
//
// Per request (an "exchange"), in stages as in Beast's relay example:
//   read the head (own checks first: request_head.hpp) -> route by Host or listener ->
//   a pooled connection to the app (App::takeIdle()), else App::acquire() (may hold while
//   the app starts) -> render the forwarded head -> request body client->app and response
//   app->client, both at once -> keep both connections for the next request when both
//   messages completed cleanly.
// A 101 answer to an Upgrade hands both sockets to a Tunnel.
//
// Bodies. One with a Content-Length is not parsed: its bytes are relayed as they are, up to
// the length, straight from the buffer they were read into (the head's read buffer first,
// then reads of up to counted_body_piece). Chunked and close-delimited bodies are parsed:
// bytes read here are fed to a buffer_body parser with put(), which fills at most
// relay_buffer bytes of body at a time; those bytes are written out (framed here: as they
// came, or chunked) before more is read. Either way nothing more is read from one side
// until the last piece was written to the other: that is the backpressure, and as every
// piece is written as soon as it is there, an event stream passes event by event. Writing
// heads and chunk framing here, with one gather-write, keeps this file to a handful of
// template instantiations (compile time) and makes every flush explicit.
//
// Headers are rendered straight from the parsed fields into a string kept from one request
// to the next, leaving out the hop-by-hop ones and adding the X-Forwarded-* ones as they
// go, rather than edited in place (each edit of Beast's fields allocates).
//
// Timeouts: one timer per session and a deadline per kind of operation (client read, client
// write, app read, app write), set when the operation starts and cleared when it completes.
// The timer is armed at the earliest deadline and only ever moved earlier, so a busy
// keep-alive connection does not touch it per request: when it fires it acts on the
// deadlines that passed (closing the socket concerned) and sleeps until the next one.
//
// Every completion carries the generation of the app connection it belongs to: after a
// retry on a fresh connection, or once the exchange ended, late completions of the old one
// do nothing. A completion holds the session (and whatever else its operation uses), so
// nothing is freed under a pending operation.

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <vector>

#include "common/duration.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "gateway/access_log.hpp"
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
using Deadline = SteadyClock::time_point;
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
constexpr Deadline kNever = Deadline::max();
// A Content-Length body with at least this much still to come goes through a pipe of
// kPipeSize bytes with splice(2) (see Splice).
constexpr uint64_t kSpliceMin = 1024 * 1024;
constexpr int kPipeSize = 1024 * 1024;

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && beast::iequals(s.substr(0, prefix.size()), prefix);
}

// The options of a message's Connection headers that the relay drops along with it (never
// the headers that frame or route the message: see mayDropConnectionOption). Views into
// `fields`' values; `out` is cleared first.
void droppableOptions(const http::fields& fields, std::vector<std::string_view>& out) {
  out.clear();
  for (auto [it, end] = fields.equal_range(http::field::connection); it != end; ++it) {
    forEachListElement(it->value(), [&](std::string_view option) {
      if (mayDropConnectionOption(option)) out.push_back(option);
    });
  }
}

// Whether a header stays behind: hop-by-hop (RFC 9110 section 7.6.1; Transfer-Encoding
// excepted, as a body goes on with the framing it came with) or named in Connection.
bool isDropped(const http::fields::value_type& f, const std::vector<std::string_view>& options) {
  switch (f.name()) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::upgrade:
      return true;
    default:
      break;
  }
  std::string_view name = f.name_string();
  if (f.name() == http::field::unknown && beast::iequals(name, "Trailers")) return true;
  for (auto option : options) {
    if (beast::iequals(name, option)) return true;
  }
  return false;
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out += ": ";
  out.append(value);
  out += "\r\n";
}

// Appends the fields that go on: all but the dropped ones and those `skip` says.
template <typename Skip>
void appendFields(std::string& out, const http::fields& fields,
                  std::vector<std::string_view>& options, Skip&& skip) {
  droppableOptions(fields, options);
  for (const auto& f : fields) {
    if (isDropped(f, options) || skip(f)) continue;
    appendField(out, f.name_string(), f.value());
  }
}

void appendStatusLine(std::string& out, const http::response_header<>& m) {
  char code[8];
  auto [end, ec] = std::to_chars(code, code + sizeof code, m.result_int());
  out += "HTTP/1.1 ";
  out.append(code, ec == std::errc() ? end : code);
  out += ' ';
  std::string_view reason = m.reason();
  if (reason.empty()) reason = http::obsolete_reason(m.result());
  out.append(reason);
  out += "\r\n";
}

bool isNamed(const http::fields::value_type& f, std::string_view name) {
  return f.name() == http::field::unknown && beast::iequals(f.name_string(), name);
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

// The client as the gateway believes it (nginx's realip with real_ip_recursive on): the
// peer, unless it is a trusted proxy (gateway.trusted_proxies); then the last address of its
// X-Forwarded-For that is not a trusted proxy itself (the first one when all are), or the
// first entry that is not an address at all.
std::string realClient(const http::fields& fields, const std::string& peer, bool trusted,
                       const GatewayCore& core) {
  if (!trusted) return peer;
  std::string chain;
  for (const auto& f : fields) {
    if (!isNamed(f, "X-Forwarded-For")) continue;
    if (!chain.empty()) chain += ',';
    chain.append(f.value());
  }
  std::string_view rest = chain;
  std::string leftmost;
  while (!rest.empty()) {
    size_t comma = rest.rfind(',');
    std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t'))
      entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    if (entry.empty()) continue;
    ErrorCode ec;
    auto address = asio::ip::make_address(std::string(entry), ec);
    if (ec) return std::string(entry);
    if (address.is_v6() && address.to_v6().is_v4_mapped())
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    leftmost = address.to_string();
    if (!core.trusts(address)) return leftmost;
  }
  return leftmost.empty() ? peer : leftmost;
}

std::string_view view(const beast::flat_buffer& b) {
  auto d = b.data();
  return {static_cast<const char*>(d.data()), d.size()};
}

// One direction of a relayed message as it goes out: its head (sent with the first piece)
// and its framing. The head's string keeps its capacity from one request to the next.
struct Outgoing {
  std::string head;
  bool head_sent = false;
  bool chunked = false;  // else the body goes as it came (Content-Length or up to the close)
  char size_line[24];
  std::string_view tail;

  void reset() {
    if (head.capacity() > kKeptBufferSize) {
      std::string().swap(head);
    } else {
      head.clear();
    }
    head_sent = chunked = false;
    tail = {};
  }

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

// A body with a Content-Length, relayed by count rather than parsed.
struct Counted {
  bool active = false;
  uint64_t left = 0;       // bytes not yet read from the sender
  size_t from_buffer = 0;  // bytes of the write in flight that sit in the head's read buffer
};

// A body piece buffer, allocated when first needed and kept (when small) for the next request.
struct Piece {
  std::unique_ptr<char[]> data;
  size_t size = 0;

  char* get(size_t want) {
    if (size < want) {
      data = std::make_unique_for_overwrite<char[]>(want);
      size = want;
    }
    return data.get();
  }
  void trim() {
    if (size > kKeptBufferSize) {
      data.reset();
      size = 0;
    }
  }
};

// A large Content-Length body relayed with splice(2): from the sender's socket into a pipe
// and from the pipe into the receiver's, so the kernel moves the pages without copying them
// through the gateway, and reading one side overlaps writing the other (the pipe is the
// buffer, bounded by its size). Each side that cannot go on waits for its socket. A splice
// into a socket whose peer has gone raises SIGPIPE: the Gateway makes sure it is ignored.
struct Splice {
  UniqueFd r;
  UniqueFd w;
  size_t in_pipe = 0;
  bool waiting_in = false;   // for the sender's socket to be readable
  bool waiting_out = false;  // for the receiver's socket to be writable

  bool open() {
    if (!makePipe(r, w)) return false;
    if (::fcntl(w.get(), F_SETFL, O_NONBLOCK) != 0 || ::fcntl(r.get(), F_SETFL, O_NONBLOCK) != 0) {
      return false;
    }
    // Best effort: with the default 64 KiB the relay just takes more turns.
    ::fcntl(w.get(), F_SETPIPE_SZ, kPipeSize);
    return true;
  }
};

class HttpSession;

// What an operation's deadline is for; one per kind of operation that can be pending.
enum class Slot : uint8_t { ClientRead, ClientWrite, UpstreamRead, UpstreamWrite, None };
constexpr size_t kSlots = 4;

// Every completion handler of a session is a Step: a member function to call, the app
// connection generation it belongs to, which connection the operation is on (the session
// counts what is pending on each) and the deadline it runs under, and what the operation
// uses besides the session. One handler type means each Asio operation template is
// instantiated once per buffer type instead of once per lambda.
struct Step {
  using Fn = void (HttpSession::*)(uint64_t gen, ErrorCode ec, size_t n);
  std::shared_ptr<HttpSession> self;
  Fn fn;
  Slot slot;
  bool upstream;
  uint64_t gen = 0;
  std::shared_ptr<void> keep;
  void operator()(ErrorCode ec, size_t n = 0);
};

class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<GatewayCore> core, Socket socket, std::string app)
      : Connection(std::move(core)),
        client_(std::move(socket)),
        timer_(core_->io.get_executor()),
        client_buf_(core_->limits.max_request_head + kLeadingSlack),
        upstream_buf_(core_->limits.max_response_head),
        listener_app_(std::move(app)),
        head_limits_{core_->limits.max_request_line, core_->limits.max_request_head,
                     core_->limits.max_header_fields} {
    deadline_.fill(kNever);
  }

  void start() {
    ErrorCode ec;
    auto peer = client_.remote_endpoint(ec);
    if (ec) {
      client_ip_ = "unknown";
    } else {
      auto address = peer.address();
      // An IPv4 client of a listener on [::] is shown as the IPv4 address it is.
      if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      }
      client_ip_ = address.to_string();
      trusted_ = core_->trusts(address);
    }
    client_.set_option(tcp::no_delay(true), ec);
    head_deadline_ = SteadyClock::now() + core_->limits.head_timeout;
    readHead();
  }

  void abort() override { fail(); }

  void complete(const Step& step, ErrorCode ec, size_t n) {
    --(step.upstream ? upstream_ops_ : client_ops_);
    if (step.slot == Slot::ClientWrite && !ec) sent_bytes_ += n;
    if (step.slot != Slot::None && (!step.upstream || step.gen == up_gen_)) {
      deadline_[static_cast<size_t>(step.slot)] = kNever;  // lazily: the timer is left as is
    }
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
  // --- operations and their deadlines ----------------------------------------------------

  Step clientStep(Step::Fn fn, Slot slot, std::shared_ptr<void> keep = {}) {
    ++client_ops_;
    return Step{shared_from_this(), fn, slot, false, up_gen_, std::move(keep)};
  }
  Step upstreamStep(Step::Fn fn, Slot slot) {
    ++upstream_ops_;
    return Step{shared_from_this(), fn, slot, true, up_gen_, upstream_};
  }

  void readClient(asio::mutable_buffer buffer, Step::Fn fn, Deadline deadline) {
    setDeadline(Slot::ClientRead, deadline);
    client_.async_read_some(buffer, clientStep(fn, Slot::ClientRead));
  }
  void writeClient(const Buffers& buffers, Step::Fn fn, std::shared_ptr<void> keep = {}) {
    setDeadline(Slot::ClientWrite, SteadyClock::now() + core_->limits.client_io_timeout);
    asio::async_write(client_, buffers, clientStep(fn, Slot::ClientWrite, std::move(keep)));
  }
  void readUpstream(asio::mutable_buffer buffer, Step::Fn fn, Deadline deadline) {
    setDeadline(Slot::UpstreamRead, deadline);
    upstream_->async_read_some(buffer, upstreamStep(fn, Slot::UpstreamRead));
  }
  void writeUpstream(const Buffers& buffers, Step::Fn fn) {
    setDeadline(Slot::UpstreamWrite, SteadyClock::now() + core_->limits.client_io_timeout);
    asio::async_write(*upstream_, buffers, upstreamStep(fn, Slot::UpstreamWrite));
  }

  void setDeadline(Slot slot, Deadline at) {
    deadline_[static_cast<size_t>(slot)] = at;
    if (at < timer_at_) armTimer(at);
  }

  void armTimer(Deadline at) {
    timer_at_ = at;
    uint64_t gen = ++timer_gen_;
    timer_.expires_at(at);  // a pending wait completes with operation_aborted
    timer_.async_wait([weak = weak_from_this(), gen](ErrorCode ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->onTimer(gen);
    });
  }

  void onTimer(uint64_t gen) {
    if (gen != timer_gen_) return;  // fired while being moved earlier
    timer_at_ = kNever;
    if (aborted_) return;
    auto now = SteadyClock::now();
    Deadline next = kNever;
    bool client_late = false;
    bool upstream_late = false;
    for (size_t i = 0; i < kSlots; ++i) {
      if (deadline_[i] > now) {
        next = std::min(next, deadline_[i]);
        continue;
      }
      deadline_[i] = kNever;
      auto slot = static_cast<Slot>(i);
      if (slot == Slot::ClientRead || slot == Slot::ClientWrite) {
        client_late = true;
      } else {
        upstream_late = true;
        if (slot == Slot::UpstreamRead) upstream_read_late_ = true;
      }
    }
    if (client_late) {
      // The head, the next request, a piece of the upload, or the client taking a piece of
      // the answer did not come in time.
      fail();
      return;
    }
    if (upstream_late && upstream_) {
      // Closed, not replaced: the pending operation completes with an error, and its
      // handler tells a late answer (504) from a broken connection.
      ErrorCode ignored;
      upstream_->close(ignored);
    }
    if (next != kNever) armTimer(next);
  }

  static size_t room(const beast::flat_buffer& b) { return b.max_size() - b.size(); }

  // --- the request head ------------------------------------------------------------------

  void readHead() {
    if (aborted_) return;
    if (client_buf_.size() > 0 && scanHead()) return;
    if (!head_deadline_ && client_buf_.size() > 0) {
      head_deadline_ = SteadyClock::now() + core_->limits.head_timeout;
    }
    readClient(
        client_buf_.prepare(std::min(room(client_buf_), kHeadReadSize)), &HttpSession::onHeadRead,
        head_deadline_ ? *head_deadline_ : SteadyClock::now() + core_->limits.keep_alive_timeout);
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
    exchange_began_ = core_->clock.now();
    exchange_wall_ = core_->clock.wallMillis();
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
    if (has_body_ && !req_->chunked() && req_->content_length()) {
      req_count_.active = true;
      req_count_.left = *req_->content_length();
    }
    want_upgrade_ = req_->upgrade() && !has_body_;
    auto expect = m[http::field::expect];
    expect_continue_ = !expect.empty() && beast::iequals(expect, "100-continue");
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
    auto host = m[http::field::host];
    host_.assign(host.data(), host.size());
    route();
  }

  // Whether some of the request body has not been read from the client yet.
  bool requestBodyPending() const {
    if (!req_) return false;
    return req_count_.active ? req_count_.left > 0 : !req_->is_done();
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
    client_key_ = app_->wantsClientKey()
                      ? Balancer::hashKey(realClient(req_->get(), client_ip_, trusted_, *core_))
                      : 0;

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
    if (allow_pooled) {
      // A GET or HEAD without a body that finds its pooled connection closed by the app is
      // sent again on a fresh one (onResponseHeadRead()): it skips the check (a system call
      // per request). Anything else must not be sent twice, so it gets a checked one.
      auto method = req_->get().method();
      bool retriable = !has_body_ && (method == http::verb::get || method == http::verb::head);
      Lease lease;
      if (SocketPtr socket = app_->takeIdle(!retriable, lease, client_key_)) {
        useUpstream(std::move(socket), true, std::move(lease));
        return;
      }
    }
    waiting_ = true;
    app_->acquire([self = shared_from_this()](Upstream u) { self->onUpstream(std::move(u)); },
                  allow_pooled, client_key_);
    if (waiting_) watchClient();
  }

  // While a request without body waits or its response streams, notice a client that goes
  // away (so the app's counters drop at once, not at the next write).
  void watchClient() {
    if (has_body_ || watching_ || aborted_) return;
    watching_ = true;
    client_.async_wait(tcp::socket::wait_read, clientStep(&HttpSession::onWatch, Slot::None));
  }

  void onWatch(uint64_t, ErrorCode ec, size_t) {
    watching_ = false;
    if (aborted_ || handed_off_ || ec) return;
    char byte;
    ssize_t n = ::recv(client_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
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
    useUpstream(std::move(u.socket), u.reused, std::move(u.lease));
  }

  void useUpstream(SocketPtr socket, bool reused, Lease lease) {
    ++up_gen_;
    upstream_ = std::move(socket);
    lease_ = std::move(lease);
    instance_ = app_->instanceOf(lease_);
    upstream_reused_ = reused;
    upstream_read_late_ = false;
    upstream_buf_.clear();
    request_done_ = request_failed_ = false;
    if (app_->route().balance == Balance::LeastTime) sent_at_ = core_->clock.now();
    if (req_out_.head.empty()) renderRequestHead();
    req_out_.head_sent = false;
    if (expect_continue_ && !client_http10_) {
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      writeClient(Buffers{asio::buffer(kContinue)}, &HttpSession::onContinueWritten);
      return;
    }
    // The answer is awaited first: relaying the upload may end the exchange at once (a
    // malformed chunked body is refused, which closes the app's connection).
    readResponseHead();
    pumpRequest();
  }

  void onContinueWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return fail();
    readResponseHead();
    pumpRequest();
  }

  // The head that goes to the app: Host kept, hop-by-hop headers and Expect (100-continue is
  // answered here) left out. The framing is written afresh from what the parser read,
  // whatever form it came in: one Content-Length (identical values sent twice, or as
  // "5, 5", become one), or "Transfer-Encoding: chunked" (the only coding a request may
  // have: request_head.cpp refuses the others), and the body is re-chunked here.
  //
  // What a client says about earlier hops (X-Forwarded-For, Forwarded, X-Real-IP,
  // X-Forwarded-Proto, X-Forwarded-Host) is believed only from a trusted proxy
  // (gateway.trusted_proxies): its X-Forwarded-For gets the peer appended (nginx's
  // proxy_add_x_forwarded_for) and the others are kept. From anyone else they are dropped and
  // replaced by what the gateway knows: X-Forwarded-For and X-Real-IP are the peer's address,
  // X-Forwarded-Proto "http", X-Forwarded-Host the request's Host.
  void renderRequestHead() {
    const auto& m = req_->get();
    std::string& out = req_out_.head;
    out.clear();
    out.append(m.method_string());
    out += ' ';
    out.append(m.target());
    out += " HTTP/1.1\r\n";
    std::string chain;  // a trusted proxy's X-Forwarded-For, its fields joined
    bool kept_real_ip = false, kept_proto = false, kept_host = false;
    appendFields(out, m, options_, [&](const http::fields::value_type& f) {
      if (f.name() == http::field::expect || f.name() == http::field::content_length ||
          f.name() == http::field::transfer_encoding) {
        return true;
      }
      if (isNamed(f, "X-Forwarded-For")) {
        std::string_view value = trim(f.value());
        if (trusted_ && !value.empty()) chain = appendForwardedFor(chain, value);
        return true;
      }
      bool real_ip = isNamed(f, "X-Real-IP");
      bool proto = isNamed(f, "X-Forwarded-Proto");
      bool host = isNamed(f, "X-Forwarded-Host");
      if (!real_ip && !proto && !host && f.name() != http::field::forwarded) return false;
      if (!trusted_) return true;
      kept_real_ip = kept_real_ip || real_ip;
      kept_proto = kept_proto || proto;
      kept_host = kept_host || host;
      return false;
    });
    if (req_->chunked()) {
      appendField(out, "Transfer-Encoding", "chunked");
    } else if (auto length = req_->content_length()) {
      char digits[24];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *length);
      appendField(out, "Content-Length",
                  std::string_view(digits, ec == std::errc() ? end : digits));
    }
    if (want_upgrade_) {
      appendField(out, "Upgrade", m[http::field::upgrade]);
      appendField(out, "Connection", "upgrade");
    }
    if (chain.empty()) {
      appendField(out, "X-Forwarded-For", client_ip_);
    } else {
      appendField(out, "X-Forwarded-For", appendForwardedFor(chain, client_ip_));
    }
    if (!kept_real_ip) appendField(out, "X-Real-IP", client_ip_);
    if (!kept_proto) appendField(out, "X-Forwarded-Proto", "http");
    if (!kept_host && !host_.empty()) appendField(out, "X-Forwarded-Host", host_);
    out += "\r\n";
    req_out_.chunked = req_->chunked();
  }

  // --- request: client -> app ------------------------------------------------------------

  // Relays the upload from what is buffered, reading from the client only when that is
  // used up; writes each piece to the app before taking the next.
  void pumpRequest() {
    if (aborted_) return;
    if (!has_body_ || !requestBodyPending()) {
      writeRequestPiece(nullptr, 0, true);
      return;
    }
    if (req_count_.active) {
      if (client_buf_.size() > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(req_count_.left, client_buf_.size()));
        req_count_.left -= n;
        req_count_.from_buffer = n;  // consumed once written
        writeRequestPiece(static_cast<const char*>(client_buf_.data().data()), n,
                          req_count_.left == 0);
        return;
      }
      if (req_splice_ || req_count_.left >= kSpliceMin) {
        if (!req_out_.head_sent) {
          writeRequestPiece(nullptr, 0, false);  // the head first, then the body spliced
          return;
        }
        if (req_splice_ || openSplice(req_splice_, *upstream_)) {
          pumpSplice(true);
          return;
        }
      }
      size_t want = static_cast<size_t>(
          std::min<uint64_t>(req_count_.left, core_->limits.counted_body_piece));
      readClient(asio::buffer(req_piece_.get(want), want), &HttpSession::onRequestPieceRead,
                 SteadyClock::now() + core_->limits.client_io_timeout);
      return;
    }
    size_t piece = core_->limits.relay_buffer;
    char* data = req_piece_.get(piece);
    auto& body = req_->get().body();
    while (client_buf_.size() > 0) {
      body.data = data;
      body.size = piece;
      ErrorCode ec;
      size_t used = req_->put(client_buf_.data(), ec);
      client_buf_.consume(used);
      if (ec == http::error::need_buffer) ec = {};
      if (ec && ec != http::error::need_more) {
        refuseUpload("malformed chunked body: " + ec.message());
        return;
      }
      size_t n = piece - body.size;
      if (n > 0 || req_->is_done()) {
        writeRequestPiece(data, n, req_->is_done());
        return;
      }
      if (ec == http::error::need_more) break;
    }
    if (room(client_buf_) == 0) {
      // A chunk line (size and extensions) or trailer section that does not fit the read
      // buffer: it would never be parsed.
      refuseUpload("a chunk header or trailer section longer than " +
                   std::to_string(client_buf_.max_size()) + " bytes");
      return;
    }
    readClient(client_buf_.prepare(std::min(room(client_buf_), kBodyReadSize)),
               &HttpSession::onRequestRead, SteadyClock::now() + core_->limits.client_io_timeout);
  }

  // A chunked upload that cannot be read on. Unless the app's answer has begun to go out
  // (then all the client can get is the close), the client is told why with a 400 and the
  // connection closes; the app's connection, which may have got part of the request, is
  // closed either way. Not the app's fault, so nothing is logged as one.
  void refuseUpload(const std::string& why) {
    if (res_ && res_->is_header_done()) {
      fail();
      return;
    }
    respond(400, why, true);
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

  void onRequestPieceRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) {
      fail();  // the client went away mid-upload or stalled
      return;
    }
    n = static_cast<size_t>(std::min<uint64_t>(n, req_count_.left));
    req_count_.left -= n;
    writeRequestPiece(req_piece_.data.get(), n, req_count_.left == 0);
  }

  void writeRequestPiece(const char* data, size_t n, bool last) {
    writeUpstream(req_out_.frame(data, n, last),
                  last ? &HttpSession::onRequestDone : &HttpSession::onRequestWritten);
  }

  // A piece taken from the head's read buffer leaves it once written.
  void consumeWrittenRequestBytes() {
    if (req_count_.from_buffer == 0) return;
    client_buf_.consume(req_count_.from_buffer);
    req_count_.from_buffer = 0;
  }

  void onRequestWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    consumeWrittenRequestBytes();
    if (ec) return onRequestFailed();
    pumpRequest();
  }

  void onRequestDone(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    consumeWrittenRequestBytes();
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
    res_needs_more_ = false;
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
    readUpstream(upstream_buf_.prepare(std::min(room(upstream_buf_), kHeadReadSize)),
                 &HttpSession::onResponseHeadRead, response_deadline_);
  }

  void onResponseHeadRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) {
      bool nothing = !res_->got_some();
      bool closed = ec == asio::error::eof || ec == asio::error::connection_reset ||
                    ec == asio::error::broken_pipe;
      // Unanswered, and nothing of it sent to the client yet: a pooled connection the app
      // had closed meanwhile is tried once more on a fresh one; and a GET or HEAD to an app
      // with several ready instances whose instance went away with it (it crashed, was
      // killed, and a fresh connection may still have reached its dying listener) goes once
      // to another, that instance passed over for a moment, as nginx's proxy_next_upstream
      // does for idempotent requests.
      auto method = req_->get().method();
      bool elsewhere = (method == http::verb::get || method == http::verb::head) &&
                       app_->balancer().readyCount() > 1;
      bool stale = upstream_reused_ && !retried_stale_;
      if (closed && nothing && !has_body_ && (stale || (elsewhere && !retried_elsewhere_))) {
        size_t slot = lease_.slot();
        app_->dropPool(slot);  // pooled alongside, so likely closed as well
        if (stale) {
          retried_stale_ = true;
        } else {
          retried_elsewhere_ = true;
          app_->passOver(slot);
        }
        closeUpstream();
        acquire(false);
        return;
      }
      if (upstream_read_late_) {
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
    if (status < 100 || status > 599) {
      // Beast takes any three digits; "099" would go out as "99" (RFC 9110 section 15).
      badResponse("sent an invalid status code " + std::to_string(status));
      return;
    }
    if (app_->route().balance == Balance::LeastTime && status / 100 != 1) {
      app_->observe(lease_, std::chrono::duration_cast<std::chrono::microseconds>(
                                core_->clock.now() - sent_at_));
    }
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
    } else if (!no_body && res_->content_length()) {
      res_count_.active = true;
      res_count_.left = *res_->content_length();
    }
    if (requestBodyPending()) {
      // Answered before the whole upload was read: the rest of it cannot be skipped
      // reliably, so this connection ends with the response.
      client_keep_alive_ = false;
    }
    std::string& out = res_out_.head;
    out.clear();
    appendStatusLine(out, r);
    appendFields(out, r, options_, [](const http::fields::value_type&) { return false; });
    if (!client_keep_alive_) {
      appendField(out, "Connection", "close");
    } else if (client_http10_) {
      appendField(out, "Connection", "keep-alive");
    }
    out += "\r\n";
    status_ = static_cast<int>(status);
    body_base_ = sent_bytes_ + out.size();
    res_out_.head_sent = false;
    bool event_stream = startsWithNoCase(r[http::field::content_type], "text/event-stream");
    if (event_stream) stream_guard_ = app_->tracker().beginStream();
    // A stream may go quiet for long: notice a client that leaves meanwhile.
    if (!no_body && (event_stream || !res_->content_length())) watchClient();
    pumpResponse();
  }

  // Relays the response body from what is buffered, reading from the app only when that is
  // used up; writes each piece to the client before taking the next. With nothing buffered
  // the head goes out at once (an event stream may say nothing for long).
  void pumpResponse() {
    if (aborted_) return;
    if (res_count_.active) {
      if (res_count_.left == 0) {
        writeResponsePiece(nullptr, 0, true);
        return;
      }
      if (upstream_buf_.size() > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(res_count_.left, upstream_buf_.size()));
        res_count_.left -= n;
        res_count_.from_buffer = n;  // consumed once written
        writeResponsePiece(static_cast<const char*>(upstream_buf_.data().data()), n,
                           res_count_.left == 0);
        return;
      }
      if (!res_out_.head_sent) {
        writeResponsePiece(nullptr, 0, false);
        return;
      }
      if (res_splice_ || (res_count_.left >= kSpliceMin && openSplice(res_splice_, *upstream_))) {
        pumpSplice(false);
        return;
      }
      size_t want = static_cast<size_t>(
          std::min<uint64_t>(res_count_.left, core_->limits.counted_body_piece));
      readUpstream(asio::buffer(res_piece_.get(want), want), &HttpSession::onResponsePieceRead,
                   SteadyClock::now() + core_->limits.stream_idle_timeout);
      return;
    }
    if (res_->is_done()) {
      writeResponsePiece(nullptr, 0, true);
      return;
    }
    size_t piece = core_->limits.relay_buffer;
    char* data = res_piece_.get(piece);
    auto& body = res_->get().body();
    // Once Beast has said need_more, it is given the same bytes again only with more after
    // them (its contract: it asserts so); here the head may go out in between.
    while (upstream_buf_.size() > 0 && !res_needs_more_) {
      body.data = data;
      body.size = piece;
      ErrorCode ec;
      size_t used = res_->put(upstream_buf_.data(), ec);
      upstream_buf_.consume(used);
      if (ec == http::error::need_buffer) ec = {};
      if (ec && ec != http::error::need_more) {
        fail();  // a broken body after the head went out: all the client can get is the close
        return;
      }
      size_t n = piece - body.size;
      if (n > 0 || res_->is_done()) {
        writeResponsePiece(data, n, res_->is_done());
        return;
      }
      if (ec == http::error::need_more) {
        res_needs_more_ = true;
        break;
      }
    }
    if (!res_out_.head_sent) {
      writeResponsePiece(nullptr, 0, false);
      return;
    }
    if (room(upstream_buf_) == 0) {
      core_->log.warn(
          "gateway: app '{}' sent a chunk header or trailer section longer than {} "
          "bytes; connection closed",
          app_->name(), upstream_buf_.max_size());
      fail();
      return;
    }
    readUpstream(upstream_buf_.prepare(std::min(room(upstream_buf_), kBodyReadSize)),
                 &HttpSession::onResponseRead,
                 SteadyClock::now() + core_->limits.stream_idle_timeout);
  }

  void onResponseRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec == asio::error::eof && res_->need_eof()) {
      ErrorCode eof_ec;
      res_->put_eof(eof_ec);
      if (!eof_ec && res_->is_done()) {
        writeResponsePiece(nullptr, 0, true);
        return;
      }
    }
    if (ec) {
      fail();  // the app died or went silent mid-body
      return;
    }
    upstream_buf_.commit(n);
    res_needs_more_ = false;
    pumpResponse();
  }

  void onResponsePieceRead(uint64_t gen, ErrorCode ec, size_t n) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) {
      fail();  // the app died or went silent before the whole Content-Length came
      return;
    }
    n = static_cast<size_t>(std::min<uint64_t>(n, res_count_.left));
    res_count_.left -= n;
    writeResponsePiece(res_piece_.data.get(), n, res_count_.left == 0);
  }

  void writeResponsePiece(const char* data, size_t n, bool last) {
    writeClient(res_out_.frame(data, n, last),
                last ? &HttpSession::onResponseDone : &HttpSession::onResponseWritten);
  }

  // A piece taken from the app's read buffer leaves it once written.
  void consumeWrittenResponseBytes() {
    if (res_count_.from_buffer == 0) return;
    upstream_buf_.consume(res_count_.from_buffer);
    res_count_.from_buffer = 0;
  }

  void onResponseWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    consumeWrittenResponseBytes();
    if (ec) return fail();  // the client went away mid-download
    pumpResponse();
  }

  void onResponseDone(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    consumeWrittenResponseBytes();
    if (ec) return fail();
    response_done_ = true;
    stream_guard_.release();
    maybeFinish();
  }

  // --- large bodies through a pipe --------------------------------------------------------

  bool openSplice(std::optional<Splice>& splice, Socket& upstream) {
    splice.emplace();
    ErrorCode ec;
    client_.native_non_blocking(true, ec);
    if (!ec) upstream.native_non_blocking(true, ec);
    if (ec || !splice->open()) {
      splice.reset();  // no pipe (out of descriptors?): the body goes through user space
      return false;
    }
    return true;
  }

  // Moves the counted body of the request (client -> app) or of the response (app ->
  // client) through its pipe as far as both sockets allow without blocking, then waits for
  // whichever side holds it up.
  void pumpSplice(bool request) {
    if (aborted_ || !upstream_ || (request && request_failed_)) return;
    Splice& sp = request ? *req_splice_ : *res_splice_;
    Counted& count = request ? req_count_ : res_count_;
    int from = request ? client_.native_handle() : upstream_->native_handle();
    int to = request ? upstream_->native_handle() : client_.native_handle();
    while (true) {
      bool moved = false;
      if (!sp.waiting_in && count.left > 0) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(count.left, kPipeSize));
        ssize_t n =
            ::splice(from, nullptr, sp.w.get(), nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          count.left -= static_cast<uint64_t>(n);
          sp.in_pipe += static_cast<size_t>(n);
          moved = true;
        } else if (n == 0) {
          fail();  // the sender closed before the whole Content-Length came
          return;
        } else if (errno == EINTR) {
          moved = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // Nothing to read, or the pipe is full; then the writing side makes room.
          if (sp.in_pipe == 0) waitSpliceIn(request);
        } else {
          fail();
          return;
        }
      }
      if (!sp.waiting_out && sp.in_pipe > 0) {
        // No SPLICE_F_MORE: it would hold back a partial segment until the next piece,
        // however long the sender takes to send it.
        ssize_t n = ::splice(sp.r.get(), nullptr, to, nullptr, sp.in_pipe,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          sp.in_pipe -= static_cast<size_t>(n);
          if (!request) sent_bytes_ += static_cast<uint64_t>(n);
          moved = true;
        } else if (n < 0 && errno == EINTR) {
          moved = true;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          waitSpliceOut(request);
        } else {
          // The receiver closed or reset: for the app, its answer (or the lack of one) decides
          // what the client gets; a client that left ends the exchange.
          if (request) return onRequestFailed();
          return fail();
        }
      }
      if (count.left == 0 && sp.in_pipe == 0) {
        if (request) {
          req_splice_.reset();
          request_done_ = true;
        } else {
          res_splice_.reset();
          response_done_ = true;
          stream_guard_.release();
        }
        maybeFinish();
        return;
      }
      if (!moved) return;
    }
  }

  void waitSpliceIn(bool request) {
    if (request) {
      req_splice_->waiting_in = true;
      setDeadline(Slot::ClientRead, SteadyClock::now() + core_->limits.client_io_timeout);
      client_.async_wait(tcp::socket::wait_read,
                         clientStep(&HttpSession::onRequestSpliceIn, Slot::ClientRead));
    } else {
      res_splice_->waiting_in = true;
      setDeadline(Slot::UpstreamRead, SteadyClock::now() + core_->limits.stream_idle_timeout);
      upstream_->async_wait(tcp::socket::wait_read,
                            upstreamStep(&HttpSession::onResponseSpliceIn, Slot::UpstreamRead));
    }
  }

  void waitSpliceOut(bool request) {
    if (request) {
      req_splice_->waiting_out = true;
      setDeadline(Slot::UpstreamWrite, SteadyClock::now() + core_->limits.client_io_timeout);
      upstream_->async_wait(tcp::socket::wait_write,
                            upstreamStep(&HttpSession::onRequestSpliceOut, Slot::UpstreamWrite));
    } else {
      res_splice_->waiting_out = true;
      setDeadline(Slot::ClientWrite, SteadyClock::now() + core_->limits.client_io_timeout);
      client_.async_wait(tcp::socket::wait_write,
                         clientStep(&HttpSession::onResponseSpliceOut, Slot::ClientWrite));
    }
  }

  void onRequestSpliceIn(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_ || !req_splice_) return;
    req_splice_->waiting_in = false;
    if (ec) return fail();  // the client went away mid-upload or stalled
    pumpSplice(true);
  }

  void onRequestSpliceOut(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_ || !req_splice_) return;
    req_splice_->waiting_out = false;
    if (ec) return onRequestFailed();
    pumpSplice(true);
  }

  void onResponseSpliceIn(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_ || !res_splice_) return;
    res_splice_->waiting_in = false;
    if (ec) return fail();  // the app died or went silent mid-body
    pumpSplice(false);
  }

  void onResponseSpliceOut(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_ || !res_splice_) return;
    res_splice_->waiting_out = false;
    if (ec) return fail();  // the client went away mid-download
    pumpSplice(false);
  }

  // --- Upgrade ---------------------------------------------------------------------------

  void startTunnelling() {
    auto& r = res_->get();
    std::string& out = res_out_.head;
    out.clear();
    appendStatusLine(out, r);
    appendFields(out, r, options_, [](const http::fields::value_type&) { return false; });
    appendField(out, "Upgrade", r[http::field::upgrade]);
    appendField(out, "Connection", "upgrade");
    out += "\r\n";
    res_out_.head_sent = false;
    res_out_.chunked = false;
    writeClient(res_out_.frame(nullptr, 0, true), &HttpSession::onUpgradeWritten);
  }

  void onUpgradeWritten(uint64_t gen, ErrorCode ec, size_t) {
    if (aborted_ || gen != up_gen_) return;
    if (ec) return fail();
    std::string client_early(view(client_buf_));
    std::string upstream_early(view(upstream_buf_));
    // A WebSocket (any upgrade) is logged once it is set up: 101, with no body bytes.
    status_ = 101;
    body_base_ = sent_bytes_;
    logAccess();
    auto stream = app_->tracker().beginStream();
    request_guard_.release();
    handed_off_ = true;  // a pending watch completes (cancelled) after the sockets moved
    ErrorCode ignored;
    client_.cancel(ignored);
    upstream_->cancel(ignored);
    timer_.cancel();
    deadline_.fill(kNever);
    Socket upstream = std::move(*upstream_);
    upstream_.reset();
    lease_.release();
    ++up_gen_;
    startTunnel(core_, std::move(client_), std::move(upstream), std::move(client_early),
                std::move(upstream_early), std::move(stream));
  }

  // --- the end of an exchange ------------------------------------------------------------

  void maybeFinish() {
    if (!response_done_) return;
    if (!request_done_ && !requestBodyPending() && !request_failed_) {
      return;  // the last piece of the upload is still being written: onRequestDone() ends
    }
    if (!request_done_) {
      // The app answered before taking the whole upload: neither connection is reusable.
      client_keep_alive_ = false;
      closeUpstream();
    } else if (upstream_ && res_->keep_alive() && !request_failed_ && upstream_buf_.size() == 0) {
      deadline_[static_cast<size_t>(Slot::UpstreamRead)] = kNever;
      deadline_[static_cast<size_t>(Slot::UpstreamWrite)] = kNever;
      app_->release(std::move(upstream_), lease_);
      upstream_.reset();
      ++up_gen_;
    }
    endExchange();
  }

  // A response of the gateway's own: an error, with a short text naming the app and why.
  void respond(int status, const std::string& text, bool close) {
    // What went wrong with the app (or the gateway) goes to the daemon's log, as nginx's error
    // log has it: 502, 503, 504. A client's own mistake (4xx, and 501 or 505 for what it asked
    // for) does not: it is no failure of the app.
    if (status >= 502 && status <= 504) core_->log.warn("gateway: answered {}: {}", status, text);
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
    if (close || requestBodyPending() || !req_) client_keep_alive_ = false;
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
    status_ = status;
    body_base_ = sent_bytes_ + out->size();
    if (!is_head_) *out += body;  // a HEAD gets the headers a GET would
    writeClient(Buffers{asio::buffer(*out)}, &HttpSession::onOwnWritten, out);
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
    logAccess();
    closeUpstream();
    request_guard_.release();
    stream_guard_.release();
    app_.reset();
    ++up_gen_;
    if (client_ops_ > 0 || upstream_ops_ > 0) {
      resume_pending_ = true;
      ErrorCode ignored;
      client_.cancel(ignored);
      return;
    }
    afterExchange();
  }

  void afterExchange() {
    logged_ = false;
    host_.clear();
    exchange_wall_ = 0;
    status_ = 0;
    instance_ = -1;
    sent_bytes_ = body_base_ = 0;
    // Upload bytes written (or not, the write having been cancelled) from the read buffer
    // are not the next request's.
    consumeWrittenRequestBytes();
    res_.reset();
    req_.reset();
    req_out_.reset();
    res_out_.reset();
    req_count_ = Counted{};
    res_count_ = Counted{};
    req_splice_.reset();
    res_splice_.reset();
    watching_ = false;  // a cancelled watch's handler did not run
    trimBuffers();
    if (!client_keep_alive_) {
      lingerClose();
      return;
    }
    has_body_ = is_head_ = want_upgrade_ = expect_continue_ = false;
    request_done_ = response_done_ = request_failed_ = false;
    retried_stale_ = retried_elsewhere_ = upstream_reused_ = false;
    client_http10_ = false;
    client_keep_alive_ = true;
    readHead();
  }

  // Between requests a connection keeps only small buffers: large body pieces go, and read
  // buffers that grew for a large head or body shrink back.
  void trimBuffers() {
    req_piece_.trim();
    res_piece_.trim();
    upstream_buf_.clear();  // its bytes belonged to the app's connection, which is gone
    if (upstream_buf_.capacity() > kKeptBufferSize) upstream_buf_.shrink_to_fit();
    if (client_buf_.size() == 0 && client_buf_.capacity() > kKeptBufferSize) {
      client_buf_.shrink_to_fit();
    }
    if (options_.capacity() > 64) std::vector<std::string_view>().swap(options_);
  }

  // Closing at once could turn unread request bytes into a reset that destroys the response
  // at the client before it is read; so: send the end, read what is left for a moment, close.
  void lingerClose() {
    ErrorCode ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    linger_until_ = SteadyClock::now() + kLingerTime;
    drain();
  }

  void drain() {
    if (aborted_) return;
    client_buf_.clear();
    readClient(client_buf_.prepare(std::min(room(client_buf_), kHeadReadSize)),
               &HttpSession::onDrained, linger_until_);
  }

  void onDrained(uint64_t, ErrorCode ec, size_t) {
    if (ec) return fail();
    drain();
  }

  void closeUpstream() {
    deadline_[static_cast<size_t>(Slot::UpstreamRead)] = kNever;
    deadline_[static_cast<size_t>(Slot::UpstreamWrite)] = kNever;
    lease_.release();
    if (!upstream_) return;
    ErrorCode ignored;
    upstream_->close(ignored);
    upstream_.reset();
    ++up_gen_;
  }

  // One line in the access log (gateway.access_log) for the current exchange, once.
  void logAccess() {
    if (logged_) return;
    logged_ = true;
    if (!core_->access_log || !core_->access_format) return;
    auto now = core_->clock.now();
    if (exchange_wall_ == 0) {
      exchange_wall_ = core_->clock.wallMillis();
      exchange_began_ = now;
    }
    AccessRecord r;
    r.wall_ms = exchange_wall_;
    std::string client = req_ && req_->is_header_done()
                             ? realClient(req_->get(), client_ip_, trusted_, *core_)
                             : client_ip_;
    r.client = client;
    r.host = host_;
    r.method = "-";
    if (req_ && req_->is_header_done()) {
      const auto& m = req_->get();
      r.method = m.method_string();
      r.path = m.target();
      r.http_minor = static_cast<int>(m.version() % 10);
      r.referer = m[http::field::referer];
      r.user_agent = m[http::field::user_agent];
    }
    // Nothing answered yet and the connection ended: nginx's 499 (the client closed).
    r.status = status_ ? status_ : 499;
    r.bytes = sent_bytes_ > body_base_ ? sent_bytes_ - body_base_ : 0;
    r.duration_ms = std::chrono::duration<double, std::milli>(now - exchange_began_).count();
    if (app_) r.app = app_->name();
    r.instance = instance_;
    core_->access_log->record(*core_->access_format, r);
  }

  void fail() {
    if (aborted_) return;
    if (req_ && !handed_off_) logAccess();
    aborted_ = true;
    ErrorCode ignored;
    if (!handed_off_) client_.close(ignored);
    if (upstream_) upstream_->close(ignored);
    lease_.release();
    timer_.cancel();
    request_guard_.release();
    stream_guard_.release();
  }

  Socket client_;
  SteadyTimer timer_;
  std::array<Deadline, kSlots> deadline_;
  Deadline timer_at_ = kNever;  // when the timer fires; kNever: not armed
  uint64_t timer_gen_ = 0;
  beast::flat_buffer client_buf_;
  beast::flat_buffer upstream_buf_;
  std::string listener_app_;
  HeadLimits head_limits_;
  std::string client_ip_;
  uint64_t client_key_ = 0;  // ip-hash: Balancer::hashKey() of realClient()
  // The access log's figures of the current exchange.
  TimePoint exchange_began_{};
  int64_t exchange_wall_ = 0;
  int status_ = 0;           // sent to the client (0: nothing yet)
  int instance_ = -1;        // the target's TEND_INSTANCE
  uint64_t sent_bytes_ = 0;  // written to the client in this exchange
  uint64_t body_base_ = 0;   // sent_bytes_ when the response head was written
  bool logged_ = false;
  TimePoint sent_at_{};   // least-time: when the request went to the app
  bool trusted_ = false;  // the client is a trusted proxy: its forwarding headers are kept
  std::optional<Deadline> head_deadline_;
  size_t head_searched_ = 0;
  Deadline linger_until_;
  std::vector<std::string_view> options_;  // scratch: a head's droppable Connection options

  // The current exchange.
  std::optional<RequestParser> req_;
  std::optional<ResponseParser> res_;
  Outgoing req_out_;
  Outgoing res_out_;
  Counted req_count_;
  Counted res_count_;
  Piece req_piece_;
  Piece res_piece_;
  std::optional<Splice> req_splice_;
  std::optional<Splice> res_splice_;
  std::shared_ptr<App> app_;
  IdleTracker::ActivityGuard request_guard_;
  IdleTracker::ActivityGuard stream_guard_;
  SocketPtr upstream_;
  Lease lease_;  // the target upstream_ is connected to (counted in flight there)
  uint64_t up_gen_ = 0;
  Deadline response_deadline_;
  std::string host_;
  bool has_body_ = false;
  bool is_head_ = false;
  bool want_upgrade_ = false;
  bool expect_continue_ = false;
  bool client_http10_ = false;
  bool client_keep_alive_ = true;
  bool upstream_reused_ = false;
  bool upstream_read_late_ = false;  // the app's read deadline passed: a 504, not a 502
  bool retried_stale_ = false;       // sent again after a pooled connection was found closed
  bool retried_elsewhere_ = false;   // sent to another instance after this one went away
  bool request_done_ = false;
  bool response_done_ = false;
  bool request_failed_ = false;
  bool res_needs_more_ = false;  // Beast has seen every buffered byte of the answer's body
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

void startHttpSession(std::shared_ptr<GatewayCore> core, Socket socket, std::string app) {
  std::make_shared<HttpSession>(std::move(core), std::move(socket), std::move(app))->start();
}

}  // namespace tend::gateway
