#pragma once
// The HTTP API's WebSocket event stream (GET /api/events/ws): once HttpApi has read the
// upgrade request, this answers the handshake and takes the connection over. It writes
// each event its subscriber queues as one text message, and reads what the client sends
// only to discard it: Beast's frame reader answers pings and a close, and a message over
// `max_client_message` bytes, a frame that breaks RFC 6455 (unmasked, a reserved bit or
// opcode, a control frame over 125 bytes or fragmented, bad close code, invalid UTF-8 in a
// text message), the client going away, a ping left unanswered past `idle_timeout`, or the
// subscriber's queue overflowing ends the stream: the socket is closed. Nothing throws.
//
// With Beast's request type in its signature, this header is for http_api.cpp (and the
// fuzz target of fuzz/) only. Lives on the io_context thread; not thread-safe.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <unordered_set>

#include "api/events.hpp"
#include "common/clock.hpp"
#include "common/logger.hpp"
#include "gateway/core.hpp"

namespace tend {

struct WsEventLimits {
  Duration handshake_timeout = std::chrono::seconds(10);  // the 101 must be taken within this
  // A ping when the client has been quiet this long; no answer within as long again closes.
  Duration idle_timeout = std::chrono::seconds(15);
  size_t max_client_message = 4096;
};

// The open sockets of one HttpApi (for closing them all, and its connection cap).
using OpenSockets = std::unordered_set<gateway::Socket*>;

// Answers `request` (a WebSocket upgrade) on `socket` and streams `sub`'s events until one
// of the ends above. `open` holds the socket for as long as the stream has it (and keeps
// whatever owns `open` alive); `log` must outlive the io_context's last handler.
void startWsEvents(gateway::Socket socket,
                   boost::beast::http::request<boost::beast::http::string_body> request,
                   std::shared_ptr<EventHub::Subscriber> sub, const WsEventLimits& limits,
                   Logger& log, std::shared_ptr<OpenSockets> open);

}  // namespace tend
