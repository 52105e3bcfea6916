#include "api/ws_events.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <string>

namespace tend {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using ErrorCode = boost::system::error_code;
using Socket = gateway::Socket;
using Request = http::request<http::string_body>;

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Socket socket, std::shared_ptr<EventHub::Subscriber> sub, const WsEventLimits& limits,
            Logger& log, std::shared_ptr<OpenSockets> open)
      : ws_(std::move(socket)),
        sub_(std::move(sub)),
        limits_(limits),
        log_(log),
        open_(std::move(open)) {
    open_->insert(&ws_.next_layer());
  }
  ~WsSession() { open_->erase(&ws_.next_layer()); }

  void start(Request req) {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = limits_.handshake_timeout;
    t.idle_timeout = limits_.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(limits_.max_client_message);
    ws_.text(true);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "tend"); }));
    req_ = std::move(req);
    ws_.async_accept(req_, [self = shared_from_this()](ErrorCode ec) {
      if (ec) return;
      self->accepted_ = true;
      std::weak_ptr<WsSession> weak = self;
      self->sub_->setNotify([weak] {
        if (auto s = weak.lock()) s->pump();
      });
      self->doRead();
      self->pump();
    });
  }

 private:
  void doRead() {
    ws_.async_read(in_, [self = shared_from_this()](ErrorCode ec, size_t) {
      if (ec) {
        self->finish();
        return;
      }
      self->in_.consume(self->in_.size());  // the client has nothing to say: ignored
      self->doRead();
    });
  }

  void pump() {
    if (writing_ || done_ || !accepted_) return;
    if (sub_->overflowed()) {
      log_.warn("api: an event stream client reads too slowly; closing it");
      finish();
      return;
    }
    if (sub_->empty()) return;
    out_ = sub_->pop();
    writing_ = true;
    ws_.async_write(asio::buffer(out_), [self = shared_from_this()](ErrorCode ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->finish();
        return;
      }
      self->pump();
    });
  }

  void finish() {
    if (done_) return;
    done_ = true;
    sub_->setNotify({});
    ErrorCode ignored;
    ws_.next_layer().close(ignored);
  }

  websocket::stream<Socket> ws_;
  std::shared_ptr<EventHub::Subscriber> sub_;
  WsEventLimits limits_;
  Logger& log_;
  std::shared_ptr<OpenSockets> open_;
  Request req_;
  beast::flat_buffer in_;
  std::string out_;
  bool writing_ = false;
  bool accepted_ = false;
  bool done_ = false;
};

}  // namespace

void startWsEvents(gateway::Socket socket, Request request,
                   std::shared_ptr<EventHub::Subscriber> sub, const WsEventLimits& limits,
                   Logger& log, std::shared_ptr<OpenSockets> open) {
  std::make_shared<WsSession>(std::move(socket), std::move(sub), limits, log, std::move(open))
      ->start(std::move(request));
}

}  // namespace tend
