#pragma once
// Internal to src/gateway/. Tunnel: after an app answered an Upgrade with 101, bytes go
// both ways unchanged until the app closes, either side fails, or nothing moved either way
// for stream_idle_timeout. A client's end of stream is passed on to the app as a
// half-close, and the app gets a short while to finish its side.
// Holds the app's stream guard for as long as it lives, so the app is not stopped under it.

#include <string>

#include "gateway/core.hpp"
#include "gateway/idle_tracker.hpp"

namespace tend::gateway {

// `client_early` / `upstream_early`: bytes already read from one side past the handshake,
// sent to the other side first.
void startTunnel(std::shared_ptr<GatewayCore> core, Socket client, Socket upstream,
                 std::string client_early, std::string upstream_early,
                 IdleTracker::ActivityGuard stream);

}  // namespace tend::gateway
