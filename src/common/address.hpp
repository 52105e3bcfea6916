#pragma once
// What a listen address's host means for who can reach it. One answer for every place that
// asks: the config's validator, the daemon applying an `api` section, and the warnings
// about listening on every interface. Pure functions; no name resolution.

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tend {

// Only this machine can connect: "localhost", any 127.0.0.0/8 address, "::1" (with or
// without brackets), and an IPv4-mapped 127.x address. Any other name or address is not.
bool isLoopbackHost(std::string_view host);

// Every interface (so other machines): "0.0.0.0", "::" or "[::]" (any spelling of the
// unspecified address), "*", or no host at all (":8080").
bool isAllInterfacesHost(std::string_view host);

// The host part of "host:port" ("[::1]:80" -> "[::1]", ":80" -> ""); the whole text when
// there is no port.
std::string_view hostOfAddress(std::string_view address);

// The HTTP API on a host that is not loopback answers other machines, so it must not use
// the token file tend makes by itself: the config has to name one (api.token_file).
inline bool apiListenNeedsTokenFile(std::string_view host) {
  return !isLoopbackHost(host);
}

// The one-line warning for `who` ("the gateway", "the API", "app 'web'") listening on
// `address` when that is every interface; "" otherwise.
std::string allInterfacesWarning(std::string_view who, std::string_view address);

// The warnings for the listeners (who, address) that are on every interface and were not
// in `open` (the ones warned about before); `open` becomes the current set. So a daemon
// says it once when such a listener opens, not again at each reconfiguration.
std::vector<std::string> newAllInterfacesWarnings(
    std::set<std::string>& open, const std::vector<std::pair<std::string, std::string>>& listeners);

}  // namespace tend
