#pragma once
// Router: which app a request is for, from its Host header or from the dedicated listener
// it arrived on. Pure logic: no sockets.
//
// Host names compare case-insensitively, without the port and without one trailing dot:
// "API.Example.com.:8080" is "api.example.com". An IPv6 literal keeps its brackets:
// "[::1]:8080" is "[::1]".
//
// A route host is an exact name or a wildcard "*.example.com". The wildcard matches every
// name that ends in ".example.com", at any depth ("a.example.com", "a.b.example.com"), but
// not "example.com" itself, as nginx's "*.example.com" does not: list "example.com" too to
// route it. An exact name wins over any wildcard, and a longer wildcard over a shorter one.
//
// Not thread-safe; cheap to copy.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/backend.hpp"

namespace tend {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1" (no brackets), "localhost", "0.0.0.0"
  uint16_t port = 0;
  // "127.0.0.1:8080", "[::1]:8080": the canonical spelling, used as a key.
  std::string text() const;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" (all addresses, 0.0.0.0).
// nullopt when malformed (no port, port 0 or > 65535, unbalanced brackets).
std::optional<ListenAddress> parseListenAddress(std::string_view text);

class Router {
 public:
  // Replaces every route. Returns "" or, for people, the first problem found: a malformed
  // host pattern or listen address, or a host or listen address claimed twice ("host
  // 'api.localhost' is routed to both 'a' and 'b'"). On error nothing changes.
  std::string configure(const GatewayConfig& config);

  // The app for a Host header value; nullptr when none matches (or the value is malformed).
  const std::string* appForHost(std::string_view host_header) const;
  // The app a dedicated listener routes to; nullptr for a Host-routed (or unknown) one.
  // `address` in the canonical form of ListenAddress::text().
  const std::string* appForListener(std::string_view address) const;

  // "API.example.com:80" -> "api.example.com"; "[::1]:8080" -> "[::1]"; "" when the value
  // is not a valid host (empty, bad characters, bad port).
  static std::string normalizeHost(std::string_view host_header);

 private:
  std::unordered_map<std::string, std::string> exact_;  // host -> app
  // ".example.com" -> app, longest suffix first.
  std::vector<std::pair<std::string, std::string>> wildcards_;
  std::unordered_map<std::string, std::string> listeners_;  // "127.0.0.1:3998" -> app
};

}  // namespace tend
