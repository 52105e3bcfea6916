#pragma once
// The Prometheus text exposition (version 0.0.4) of GET /metrics: per instance CPU, memory,
// restarts, uptime and state; per on-demand app the gateway's requests by status class,
// activations (cold starts), cold start durations (a histogram), open connections and idle
// stops; the daemon's own memory and open descriptors. Pure formatting: the daemon gathers
// the figures. Every metric is prefixed "tend_"; see docs/API.md for the list.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tend {

struct GatewayAppMetrics {
  uint64_t responses[5] = {};  // by status class: 1xx, 2xx, 3xx, 4xx, 5xx
  uint64_t activations = 0;
  uint64_t idle_stops = 0;
  int64_t open_connections = 0;             // requests in flight and open streams
  std::vector<double> cold_start_bounds;    // upper bounds in seconds, ascending
  std::vector<uint64_t> cold_start_counts;  // per bound, not cumulative; one more for +Inf
  double cold_start_sum = 0;                // seconds
};

struct MetricsInput {
  nlohmann::json instances = nlohmann::json::array();  // the control command "list"
  std::map<std::string, GatewayAppMetrics> gateway;    // by app
  uint64_t daemon_rss_bytes = 0;
  int64_t daemon_open_fds = 0;
  double daemon_uptime_seconds = 0;
};

std::string formatMetrics(const MetricsInput& input);

// A label value with \, " and newline escaped.
std::string escapeLabelValue(std::string_view value);

// The daemon's own resident memory and open descriptors, from /proc/self.
uint64_t selfResidentBytes();
int64_t selfOpenFds();

}  // namespace tend
