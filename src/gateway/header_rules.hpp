#pragma once
// What the gateway changes in the headers it forwards, as plain functions over strings so
// they are tested without sockets. The relay applies them to Beast's header fields.
//
// Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the message, so
// they are removed before forwarding: Connection, Keep-Alive, Proxy-Connection, TE,
// Trailer (and RFC 2616's misspelling Trailers), Transfer-Encoding (the relay frames the
// body itself), Upgrade (put back for a handshake the gateway will tunnel), and every
// header named in Connection.

#include <string>
#include <string_view>
#include <vector>

#include "common/text.hpp"

namespace tend {

// Calls f(element) for each element of a comma-separated header list, trimmed, skipping
// empty ones (RFC 9110 section 5.6.1 lets a recipient ignore those).
template <typename F>
void forEachListElement(std::string_view list, F&& f) {
  while (true) {
    auto comma = list.find(',');
    auto element = trim(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Case-insensitive. The fixed list above; headers named in Connection come on top.
bool isHopByHopHeader(std::string_view name);

// Whether a header named in Connection may be dropped. Never Host, Content-Length or
// Transfer-Encoding: "Connection: content-length" must not change how a body is framed.
bool mayDropConnectionOption(std::string_view name);

// The lower-cased options of a Connection header ("keep-alive, Upgrade" ->
// {"keep-alive", "upgrade"}).
std::vector<std::string> connectionOptions(std::string_view connection_value);

// Whether a comma-separated header list holds `token` (case-insensitive), as in
// "Connection: keep-alive, Upgrade" holding "upgrade".
bool listHasToken(std::string_view list, std::string_view token);

// X-Forwarded-For after this hop: the client's address appended to what came in.
std::string appendForwardedFor(std::string_view existing, std::string_view client_address);

// A browser navigation: Accept names text/html (with any parameters), so it can be shown a
// loading page.
bool acceptsHtml(std::string_view accept);

}  // namespace tend
