// HttpApi: listeners, HTTP sessions (one request at a time per connection, keep-alive),
// event streams (SSE over the same connection, or a WebSocket). The only file of src/api
// that includes Beast.
//
// A session reads one request with a bounded parser under a deadline, answers it (a
// command's answer may come later, once the apps concerned have settled), and reads the
// next. An event stream takes the connection over: it writes queued events one batch at
// a time, a heartbeat when quiet, and ends when the client leaves, a write stalls past
// write_timeout, or its queue overflowed.

#include "api/http_api.hpp"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <map>

#include "api/connection_slots.hpp"
#include "api/dashboard_assets.hpp"
#include "api/http_routes.hpp"
#include "api/ws_events.hpp"
#include "common/text.hpp"
#include "gateway/router.hpp"
#include "gateway/tcp_listener.hpp"
#include "logs/log_reader.hpp"

namespace tend {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using Socket = gateway::Socket;  // bound to the io_context's own executor type
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr size_t kDefaultLogLines = 100;
constexpr Duration kLinger = std::chrono::seconds(2);  // reading what a refused client still sends

// What every session of one HttpApi shares. Sessions hold it by shared_ptr.
struct ApiCore {
  ApiCore(asio::io_context& io, Handlers& handlers, EventHub& hub, ApiAuth& auth, Logger& log,
          HttpApi::Hooks hooks, HttpApiLimits limits)
      : io(io),
        handlers(handlers),
        hub(hub),
        auth(auth),
        log(log),
        hooks(std::move(hooks)),
        limits(limits),
        slots({limits.max_connections, limits.max_unauthenticated}) {}

  asio::io_context& io;
  Handlers& handlers;
  EventHub& hub;
  ApiAuth& auth;
  Logger& log;
  HttpApi::Hooks hooks;
  HttpApiLimits limits;
  std::vector<ListenAddress> listens;
  OpenSockets sockets;    // open connections, for close()
  ConnectionSlots slots;  // the caps (total, unauthenticated)
  bool closed = false;
};

// A header value for a message: printable, and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

std::string jsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void setSecurityHeaders(Response& res) {
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
}

// ---- HTTP session ------------------------------------------------------------------------

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ApiCore> core, Socket socket, ConnectionSlots::Slot slot)
      : core_(std::move(core)),
        socket_(std::move(socket)),
        timer_(core_->io),
        slot_(std::move(slot)) {
    core_->sockets.insert(&socket_);
  }
  ~Session() {
    if (registered_) core_->sockets.erase(&socket_);
  }

  void start() {
    // Closed to make room for a newer connection (only while unauthenticated and waiting).
    slot_.onEvict([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->closeNow();
    });
    doRead(true);
  }

 private:
  // ---- reading ---------------------------------------------------------------------------

  // A request must arrive within read_timeout of its first byte (of the accept, for a new
  // connection). Between requests a keep-alive connection may idle for keep_alive_timeout:
  // it is only waited on until readable, then read under read_timeout.
  void doRead(bool first) {
    slot_.waiting(true);
    if (!first && buffer_.size() == 0) {
      armTimer(limited(core_->limits.keep_alive_timeout), false);
      socket_.async_wait(Socket::wait_read, [self = shared_from_this()](ErrorCode ec) {
        self->disarm();
        if (ec || !self->socket_.is_open()) {
          self->closeNow();
          return;
        }
        self->doRead(true);
      });
      return;
    }
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(core_->limits.max_head));
    parser_->body_limit(core_->limits.max_body);
    timed_out_ = false;
    armTimer(limited(core_->limits.read_timeout), true);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](ErrorCode ec, size_t) { self->onRead(ec); });
  }

  // A connection without a token yet gets no more than unauthenticated_timeout.
  Duration limited(Duration d) const {
    return slot_.isAuthenticated() ? d : std::min(d, core_->limits.unauthenticated_timeout);
  }

  // One deadline at a time: for the read under way (then the read is cancelled and
  // onRead() answers 408) or for a write or idle wait (then the connection is closed).
  // A deadline that fired just as its operation completed is recognised by its number.
  void armTimer(Duration d, bool reading) {
    uint64_t armed = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([weak = weak_from_this(), reading, armed](ErrorCode ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->timer_gen_ != armed) return;
      if (reading) {
        self->timed_out_ = true;
        ErrorCode ignored;
        self->socket_.cancel(ignored);
      } else {
        self->closeNow();
      }
    });
  }

  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void onRead(ErrorCode ec) {
    disarm();
    slot_.waiting(false);
    if (timed_out_) {
      // A client that began a request and stalled gets a 408; a silent one is just closed.
      if (parser_->got_some() || buffer_.size() > 0) {
        sendError(http::status::request_timeout, "the request was not received in time",
                  /*close=*/true);
      } else {
        closeNow();
      }
      return;
    }
    if (ec == http::error::body_limit) {
      sendError(http::status::payload_too_large,
                "the body is larger than " + std::to_string(core_->limits.max_body) + " bytes",
                true);
      return;
    }
    if (ec == http::error::header_limit) {
      sendError(http::status::request_header_fields_too_large, "the request head is too large",
                true);
      return;
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      closeNow();
      return;
    }
    if (ec) {
      if (parser_->got_some() || buffer_.size() > 0)
        sendError(http::status::bad_request, "malformed request: " + ec.message(), true);
      else
        closeNow();
      return;
    }
    handle(parser_->release());
  }

  // ---- dispatch --------------------------------------------------------------------------

  void handle(Request req) {
    keep_alive_ = req.keep_alive();
    std::string method(req.method_string());
    Route r = route(method, req.target());
    std::string_view origin = req[http::field::origin];
    if (!origin.empty() && (r.changesState() || r.kind == RouteKind::EventsWs) &&
        !originAllowed(origin, req[http::field::host], core_->listens)) {
      sendError(
          http::status::forbidden,
          "cross-origin request refused: Origin '" + printable(origin) + "' is not this API's own",
          false);
      return;
    }
    const bool allowed =
        core_->auth.allows(req[http::field::authorization], req[http::field::cookie]);
    if (allowed) slot_.authenticated();
    if (!r.isPublic() && !allowed) {
      Response res = jsonResponse(http::status::unauthorized,
                                  errorBody("unauthorized: send 'Authorization: Bearer <token>' "
                                            "(the token is in api.token_file), or log in "
                                            "with the link `tend dashboard` prints"));
      res.set(http::field::www_authenticate, "Bearer realm=\"tend\"");
      send(std::move(res));
      return;
    }
    if (r.kind == RouteKind::NotFound) {
      sendError(http::status::not_found,
                "no route " + printable(method) + " " + printable(req.target()), false);
      return;
    }
    if (r.kind == RouteKind::MethodNotAllowed) {
      Response res =
          jsonResponse(http::status::method_not_allowed,
                       errorBody(printable(method) + " is not allowed here; use " + r.allow));
      res.set(http::field::allow, r.allow);
      send(std::move(res));
      return;
    }
    if (!r.error.empty()) {
      sendError(http::status::bad_request, r.error, false);
      return;
    }
    // The body: a JSON object (possibly empty) where the route takes one, nothing elsewhere.
    nlohmann::json body = nlohmann::json::object();
    if (!req.body().empty()) {
      if (!r.takes_body) {
        sendError(http::status::bad_request, "this route takes no body", false);
        return;
      }
      std::string type = toLower(req[http::field::content_type]);
      if (!type.starts_with("application/json")) {
        sendError(http::status::unsupported_media_type,
                  "the body must be JSON (Content-Type: application/json)", false);
        return;
      }
      body = nlohmann::json::parse(req.body(), nullptr, false);
      if (body.is_discarded()) {
        sendError(http::status::bad_request, "malformed JSON in the body", false);
        return;
      }
      if (!body.is_object()) {
        sendError(http::status::bad_request, "the body must be a JSON object", false);
        return;
      }
    }
    switch (r.kind) {
      case RouteKind::Asset:
        serveAsset(r.asset);
        return;
      case RouteKind::Login:
        login(r);
        return;
      case RouteKind::Metrics: {
        Response res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = core_->hooks.metrics ? core_->hooks.metrics() : "";
        send(std::move(res));
        return;
      }
      case RouteKind::Command: {
        // start takes {"wait": true}: answer once every instance is online (tend start --wait).
        nlohmann::json request = r.command;
        for (const auto& [key, value] : body.items()) {
          if (key == "wait" && value.is_boolean() && request.value("cmd", "") == "start") {
            request["wait"] = value;
            continue;
          }
          sendError(http::status::bad_request,
                    "unknown field '" + key + "' (this route takes none)", false);
          return;
        }
        command(request, nullptr);
        return;
      }
      case RouteKind::Scale:
        scale(r, body);
        return;
      case RouteKind::Create:
        // The body is one app's config entry; 201 with the list once it runs.
        command({{"cmd", "start"}, {"apps", nlohmann::json::array({body})}, {"create", true}},
                [self = shared_from_this()](const nlohmann::json& reply) {
                  int status = statusForReply(reply);
                  if (status != 200) {
                    self->sendError(static_cast<http::status>(status),
                                    reply.value("error", "failed"), false);
                    return;
                  }
                  self->send(self->jsonResponse(
                      http::status::created,
                      jsonText(reply.contains("data") ? reply["data"] : nlohmann::json()) + "\n"));
                });
        return;
      case RouteKind::Logs:
        logs(r);
        return;
      case RouteKind::Events:
        events(r, false);
        return;
      case RouteKind::EventsWs:
        if (!websocket::is_upgrade(req)) {
          sendError(http::status::bad_request, "expected a WebSocket upgrade", false);
          return;
        }
        websocketEvents(r, std::move(req));
        return;
      default:
        sendError(http::status::not_found, "no such route", false);
        return;
    }
  }

  // Runs a control command through the shared Handlers. `then`, when given, gets the
  // parsed reply instead of it being sent as the response.
  void command(const nlohmann::json& request,
               std::function<void(const nlohmann::json& reply)> then) {
    auto parsed = parseRequest(jsonText(request));
    if (!parsed) {
      sendError(http::status::bad_request, parsed.error(), false);
      return;
    }
    core_->handlers.handle(
        *parsed, [self = shared_from_this(), then = std::move(then)](std::string line) {
          nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
          if (reply.is_discarded() || !reply.is_object())
            reply = {{"ok", false}, {"error", "the daemon gave a malformed reply"}};
          if (then) {
            then(reply);
            return;
          }
          int status = statusForReply(reply);
          std::string body =
              status == 200 ? jsonText(reply.contains("data") ? reply["data"] : nlohmann::json())
                            : errorBody(reply.value("error", "failed"));
          if (status == 200) body += "\n";
          self->send(self->jsonResponse(static_cast<http::status>(status), std::move(body)));
        });
  }

  void scale(const Route& r, const nlohmann::json& body) {
    for (const auto& [key, value] : body.items()) {
      if (key != "instances") {
        sendError(http::status::bad_request,
                  "unknown field '" + key +
                      "' (scale takes "
                      "'instances')",
                  false);
        return;
      }
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 1024) {
        sendError(http::status::bad_request, "'instances' must be an integer from 0 to 1024",
                  false);
        return;
      }
    }
    if (!body.contains("instances")) {
      sendError(http::status::bad_request, "scale needs the field 'instances'", false);
      return;
    }
    // The control command, where this daemon has one.
    nlohmann::json request{{"cmd", "scale"}, {"target", r.app}, {"instances", body["instances"]}};
    if (parseRequest(jsonText(request))) {
      command(request, nullptr);
      return;
    }
    // Answer 404 for an unknown app first, so that scripts learn the useful thing.
    command({{"cmd", "describe"}, {"target", r.app}}, [self = shared_from_this()](
                                                          const nlohmann::json& reply) {
      if (!reply.value("ok", false)) {
        self->sendError(static_cast<http::status>(statusForReply(reply)),
                        reply.value("error", "failed"), false);
        return;
      }
      self->sendError(http::status::not_implemented,
                      "scaling a running app is not supported yet: change 'instances' in the "
                      "config and run `tend start` on it",
                      false);
    });
  }

  void logs(const Route& r) {
    size_t lines = kDefaultLogLines;
    if (auto it = r.query.find("lines"); it != r.query.end()) {
      const std::string& v = it->second;
      if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) {
        sendError(http::status::bad_request, "'lines' must be a non-negative integer", false);
        return;
      }
      lines = std::min<size_t>(std::stoul(v), core_->limits.max_log_lines);
    }
    std::string stream = "both";
    if (auto it = r.query.find("stream"); it != r.query.end()) stream = it->second;
    if (stream != "both" && stream != "out" && stream != "err") {
      sendError(http::status::bad_request, "'stream' must be out, err or both", false);
      return;
    }
    bool follow = false;
    if (auto it = r.query.find("follow"); it != r.query.end()) {
      if (it->second != "1" && it->second != "true" && it->second != "0" && it->second != "false") {
        sendError(http::status::bad_request, "'follow' must be 1 or 0", false);
        return;
      }
      follow = it->second == "1" || it->second == "true";
    }
    command({{"cmd", "logs"}, {"target", r.app}}, [self = shared_from_this(), lines, stream, follow,
                                                   app = r.app](const nlohmann::json& reply) {
      if (!reply.value("ok", false)) {
        self->sendError(static_cast<http::status>(statusForReply(reply)),
                        reply.value("error", "failed"), false);
        return;
      }
      nlohmann::json out = nlohmann::json::array();
      for (const auto& f : reply["data"]) {
        for (const char* kind : {"out", "err"}) {
          if (stream != "both" && stream != kind) continue;
          for (auto& line : tailLinesAcrossRotation(f.value(kind, ""), lines))
            out.push_back({{"app", f.value("name", "")},
                           {"instance", f.value("instance", 0)},
                           {"stream", kind},
                           {"line", std::move(line)}});
        }
      }
      // Interleaved by the time each line was written, as `tend logs` shows them: the latest
      // lines come last whichever stream they were written to.
      std::stable_sort(out.begin(), out.end(),
                       [](const nlohmann::json& a, const nlohmann::json& b) {
                         return writtenBefore(a["line"].get_ref<const std::string&>(),
                                              b["line"].get_ref<const std::string&>());
                       });
      if (!follow) {
        self->send(self->jsonResponse(http::status::ok, jsonText({{"lines", out}}) + "\n"));
        return;
      }
      EventHub::Filter filter;
      // The name as the daemon knows it (the path may have given an id).
      filter.app = reply["data"].empty() ? app : reply["data"][0].value("name", app);
      if (app == "all") filter.app.clear();
      filter.types = {"log"};
      std::vector<std::string> backlog;
      for (auto& l : out) {
        if (stream != "both" && l["stream"] != stream) continue;
        l["type"] = "log";
        backlog.push_back(jsonText(l));
      }
      self->log_stream_ = stream;
      self->startEventStream(std::move(filter), std::move(backlog));
    });
  }

  // ---- event streams ---------------------------------------------------------------------

  static EventHub::Filter filterFrom(const Route& r) {
    EventHub::Filter f;
    if (auto it = r.query.find("app"); it != r.query.end()) f.app = it->second;
    if (auto it = r.query.find("types"); it != r.query.end())
      for (auto& t : split(it->second, ','))
        if (!t.empty()) f.types.push_back(std::string(t));
    return f;
  }

  void events(const Route& r, bool) { startEventStream(filterFrom(r), {}); }

  void startEventStream(EventHub::Filter filter, std::vector<std::string> backlog) {
    sub_ = core_->hub.subscribe(std::move(filter));
    if (!sub_) {
      sendError(http::status::service_unavailable, "too many event streams are open", true);
      return;
    }
    streaming_ = true;
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    pending_ = std::move(head);
    for (auto& text : backlog) appendEvent(text);
    std::weak_ptr<Session> weak = weak_from_this();
    sub_->setNotify([weak] {
      if (auto s = weak.lock()) s->pumpEvents();
    });
    watchClient();
    armHeartbeat();
    pumpEvents();
  }

  void appendEvent(const std::string& text) {
    // The type is repeated as the SSE event name, so EventSource listeners can pick.
    std::string type = "message";
    if (auto p = text.find("\"type\":\""); p != std::string::npos) {
      auto end = text.find('"', p + 8);
      if (end != std::string::npos) type = text.substr(p + 8, end - p - 8);
    }
    pending_ += "event: " + type + "\ndata: " + text + "\n\n";
  }

  void pumpEvents() {
    if (!streaming_ || writing_ || !socket_.is_open()) return;
    if (sub_->overflowed()) {
      core_->log.warn("api: an event stream client reads too slowly; closing it");
      closeNow();
      return;
    }
    while (!sub_->empty()) {
      std::string text = sub_->pop();
      if (!log_stream_.empty() && log_stream_ != "both" &&
          text.find("\"stream\":\"" + log_stream_ + "\"") == std::string::npos)
        continue;
      appendEvent(text);
    }
    if (pending_.empty()) return;
    out_ = std::move(pending_);
    pending_.clear();
    writing_ = true;
    armTimer(core_->limits.write_timeout, false);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](ErrorCode ec, size_t) {
                        self->writing_ = false;
                        self->disarm();
                        if (ec) {
                          self->closeNow();
                          return;
                        }
                        self->pumpEvents();
                      });
  }

  // A stream's client says nothing more; a read that completes means it left (or sent
  // something it should not have): either way the stream ends.
  void watchClient() {
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](ErrorCode ec) {
      if (ec == asio::error::operation_aborted && self->socket_.is_open()) return;
      char c;
      ErrorCode rec;
      size_t n = self->socket_.is_open() ? self->socket_.read_some(asio::buffer(&c, 1), rec) : 0;
      if (n == 1 && !rec) {
        self->watchClient();  // pipelined junk: ignored
        return;
      }
      self->closeNow();
    });
  }

  void armHeartbeat() {
    if (!heartbeat_) heartbeat_ = std::make_unique<asio::steady_timer>(core_->io);
    heartbeat_->expires_after(core_->limits.heartbeat);
    heartbeat_->async_wait([weak = weak_from_this()](ErrorCode ec) {
      auto self = weak.lock();
      if (ec || !self || !self->socket_.is_open()) return;
      self->pending_ += ": ping\n\n";
      self->pumpEvents();
      self->armHeartbeat();
    });
  }

  void websocketEvents(const Route& r, Request req) {
    auto sub = core_->hub.subscribe(filterFrom(r));
    if (!sub) {
      sendError(http::status::service_unavailable, "too many event streams are open", true);
      return;
    }
    disarm();
    registered_ = false;
    core_->sockets.erase(&socket_);
    WsEventLimits limits;
    limits.handshake_timeout = core_->limits.write_timeout;
    limits.idle_timeout = core_->limits.heartbeat;
    // The stream keeps the core (and so its set of open sockets) alive, and this
    // connection's slot (released first: declared after the core).
    struct Hold {
      std::shared_ptr<ApiCore> core;
      ConnectionSlots::Slot slot;
    };
    auto hold = std::make_shared<Hold>(Hold{core_, std::move(slot_)});
    startWsEvents(std::move(socket_), std::move(req), std::move(sub), limits, core_->log,
                  std::shared_ptr<OpenSockets>(hold, &hold->core->sockets));
  }

  // ---- dashboard -------------------------------------------------------------------------

  void serveAsset(const std::string& name) {
    const DashboardAsset* asset = dashboardAsset(name);
    if (!asset) {
      sendError(http::status::not_found, "no such file", false);
      return;
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, asset->content_type);
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    res.body() = std::string(asset->body);
    send(std::move(res));
  }

  void login(const Route& r) {
    auto it = r.query.find("code");
    std::optional<std::string> session;
    if (it != r.query.end()) session = core_->auth.redeemCode(it->second);
    if (!session) {
      Response res{http::status::unauthorized, 11};
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() =
          "<!doctype html><meta charset=\"utf-8\"><title>tend: login link expired</title>"
          "<p>This login link was already used or has expired. Run <code>tend dashboard</code> "
          "for a new one.</p>\n";
      send(std::move(res));
      return;
    }
    Response res{http::status::see_other, 11};
    res.set(http::field::location, "/");
    res.set(http::field::set_cookie,
            std::string(ApiAuth::kCookieName) + "=" + *session +
                "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(ApiAuth::kSessionLifetime)
                        .count()));
    send(std::move(res));
  }

  // ---- writing ---------------------------------------------------------------------------

  Response jsonResponse(http::status status, std::string body) {
    Response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    return res;
  }

  void sendError(http::status status, const std::string& message, bool close) {
    if (close) keep_alive_ = false;
    send(jsonResponse(status, errorBody(message)));
  }

  void send(Response res) {
    res.set(http::field::server, "tend");
    setSecurityHeaders(res);
    if (!res.count("Content-Security-Policy"))
      res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    res.keep_alive(keep_alive_ && !core_->closed);
    res.prepare_payload();
    res_ = std::make_unique<Response>(std::move(res));
    armTimer(core_->limits.write_timeout, false);
    http::async_write(socket_, *res_, [self = shared_from_this()](ErrorCode ec, size_t) {
      self->disarm();
      bool again = !ec && self->res_->keep_alive();
      self->res_.reset();
      if (again) {
        self->doRead(false);
      } else {
        self->lingerThenClose();
      }
    });
  }

  // After the last response the client may still be sending (a body that was refused).
  // Closing with unread input makes the kernel reset the connection, which can destroy the
  // response before the client has read it; so, as nginx's lingering_close, read and discard
  // what still comes for at most kLinger, then close.
  void lingerThenClose() {
    slot_.waiting(true);  // nothing more to answer: the first to go when room is needed
    ErrorCode ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
    armTimer(kLinger, false);
    discardInput();
  }

  void discardInput() {
    static std::array<char, 16 * 1024> sink;  // never read: one for every connection
    socket_.async_read_some(asio::buffer(sink), [self = shared_from_this()](ErrorCode ec, size_t) {
      if (ec) {
        self->closeNow();
        return;
      }
      self->discardInput();
    });
  }

  void closeNow() {
    ErrorCode ignored;
    disarm();
    if (heartbeat_) heartbeat_->cancel();
    if (sub_) sub_->setNotify({});
    streaming_ = false;
    socket_.close(ignored);
  }

  std::shared_ptr<ApiCore> core_;
  Socket socket_;
  asio::steady_timer timer_;
  ConnectionSlots::Slot slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<Response> res_;
  bool keep_alive_ = true;
  bool timed_out_ = false;
  uint64_t timer_gen_ = 0;
  bool registered_ = true;
  // Event stream.
  bool streaming_ = false;
  bool writing_ = false;
  std::shared_ptr<EventHub::Subscriber> sub_;
  std::string pending_, out_;
  std::string log_stream_;  // logs?follow: "out", "err" or "both"
  std::unique_ptr<asio::steady_timer> heartbeat_;
};

// ---- listener ----------------------------------------------------------------------------

const std::string& busyResponse() {
  static const std::string kBusy = [] {
    std::string body = errorBody("too many connections to the API; try again");
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  return kBusy;
}

std::shared_ptr<gateway::TcpListener> makeListener(const std::shared_ptr<ApiCore>& core,
                                                   const std::string& address) {
  return std::make_shared<gateway::TcpListener>(
      core->io, address, "api", core->log, [core](Socket socket) {
        if (core->closed) return;
        auto slot = core->slots.admit();  // may close an idle unauthenticated connection
        if (!slot)
          gateway::refuseConnection(socket, busyResponse());
        else
          std::make_shared<Session>(core, std::move(socket), std::move(*slot))->start();
      });
}

}  // namespace

class HttpApi::Impl {
 public:
  Impl(asio::io_context& io, Handlers& handlers, EventHub& hub, ApiAuth& auth, Logger& log,
       Hooks hooks, HttpApiLimits limits)
      : core_(std::make_shared<ApiCore>(io, handlers, hub, auth, log, std::move(hooks), limits)) {}

  std::string configure(const std::vector<std::string>& listen) {
    if (core_->closed) return "the API is closed";
    std::map<std::string, ListenAddress> wanted;
    for (const auto& text : listen) {
      auto address = parseListenAddress(text);
      if (!address) return "api listen address '" + text + "' is not host:port";
      wanted.emplace(address->text(), *address);
    }
    std::map<std::string, std::shared_ptr<gateway::TcpListener>> listeners;
    for (const auto& [key, where] : wanted) {
      if (auto it = listeners_.find(key); it != listeners_.end()) {
        listeners[key] = it->second;
        continue;
      }
      auto listener = makeListener(core_, key);
      if (auto error = listener->open(where); !error.empty()) {
        for (auto& [k, l] : listeners)
          if (!listeners_.contains(k)) l->close();
        listener->close();
        return error;
      }
      listeners[key] = listener;
    }
    for (auto& [key, listener] : listeners_)
      if (!listeners.contains(key)) listener->close();
    for (auto& [key, listener] : listeners)
      if (!listeners_.contains(key)) listener->start();
    listeners_ = std::move(listeners);
    core_->listens.clear();
    for (const auto& [key, where] : wanted) core_->listens.push_back(where);
    return "";
  }

  std::vector<std::string> listening() const {
    std::vector<std::string> out;
    for (const auto& [key, l] : listeners_) out.push_back(key);
    return out;
  }

  void close() {
    if (core_->closed) return;
    core_->closed = true;
    for (auto& [key, l] : listeners_) l->close();
    listeners_.clear();
    auto sockets = core_->sockets;
    for (Socket* s : sockets) {
      ErrorCode ignored;
      s->close(ignored);
    }
  }

 private:
  std::shared_ptr<ApiCore> core_;
  std::map<std::string, std::shared_ptr<gateway::TcpListener>> listeners_;
};

HttpApi::HttpApi(asio::io_context& io, Handlers& handlers, EventHub& hub, ApiAuth& auth,
                 Logger& log, Hooks hooks, HttpApiLimits limits)
    : impl_(std::make_shared<Impl>(io, handlers, hub, auth, log, std::move(hooks), limits)) {}
HttpApi::~HttpApi() {
  impl_->close();
}
std::string HttpApi::configure(const std::vector<std::string>& listen) {
  return impl_->configure(listen);
}
std::vector<std::string> HttpApi::listening() const {
  return impl_->listening();
}
void HttpApi::close() {
  impl_->close();
}

}  // namespace tend
