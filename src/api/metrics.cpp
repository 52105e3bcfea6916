#include "api/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cmath>
#include <cstdio>

namespace tend {
namespace {

const char* const kStates[] = {"starting", "online", "stopping", "stopped", "waiting", "errored"};
const char* const kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, const std::string& labels, double value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + number(value) + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
  return fmt::format("{}=\"{}\"", key, escapeLabelValue(value));
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string formatMetrics(const MetricsInput& in) {
  Writer w;
  struct Inst {
    std::string labels;
    const nlohmann::json* j;
  };
  std::vector<Inst> instances;
  for (const auto& i : in.instances) {
    if (!i.is_object()) continue;
    instances.push_back({label("app", i.value("name", "")) + "," +
                             label("instance", std::to_string(i.value("instance", 0))),
                         &i});
  }
  auto perInstance = [&](std::string_view name, std::string_view type, std::string_view help,
                         auto value) {
    if (instances.empty()) return;
    w.family(name, type, help);
    for (const auto& inst : instances) w.sample(name, inst.labels, value(*inst.j));
  };
  perInstance("tend_instance_cpu_percent", "gauge",
              "CPU use of the instance's process tree, in percent of one core.",
              [](const nlohmann::json& j) { return j.value("cpu", 0.0); });
  perInstance("tend_instance_memory_bytes", "gauge",
              "Resident memory of the instance's process tree.",
              [](const nlohmann::json& j) { return static_cast<double>(j.value("memory", 0.0)); });
  perInstance("tend_instance_restarts_total", "counter",
              "Restarts of the instance since the daemon started.",
              [](const nlohmann::json& j) { return static_cast<double>(j.value("restarts", 0)); });
  perInstance("tend_instance_uptime_seconds", "gauge",
              "Seconds since the instance's process started (0 when not running).",
              [](const nlohmann::json& j) {
                return static_cast<double>(j.value("uptime_ms", int64_t{0})) / 1000.0;
              });
  perInstance("tend_instance_pid", "gauge", "The instance's process id (0 when not running).",
              [](const nlohmann::json& j) { return static_cast<double>(j.value("pid", 0)); });
  if (!instances.empty()) {
    w.family("tend_instance_state", "gauge",
             "1 for the instance's current state, 0 for the others.");
    for (const auto& inst : instances) {
      std::string status = inst.j->value("status", "");
      for (const char* s : kStates)
        w.sample("tend_instance_state", inst.labels + "," + label("state", s), status == s ? 1 : 0);
    }
  }

  if (!in.gateway.empty()) {
    w.family("tend_gateway_requests_total", "counter",
             "Responses the gateway sent for the app, by status class.");
    for (const auto& [app, g] : in.gateway)
      for (int c = 0; c < 5; ++c)
        w.sample("tend_gateway_requests_total",
                 label("app", app) + "," + label("code", kClasses[c]),
                 static_cast<double>(g.responses[c]));
    w.family("tend_gateway_activations_total", "counter",
             "Cold starts of the app caused by a request.");
    for (const auto& [app, g] : in.gateway)
      w.sample("tend_gateway_activations_total", label("app", app),
               static_cast<double>(g.activations));
    w.family("tend_gateway_cold_start_seconds", "histogram",
             "From a request finding the app stopped to the app accepting connections.");
    for (const auto& [app, g] : in.gateway) {
      uint64_t cumulative = 0;
      std::string base = label("app", app);
      for (size_t b = 0; b < g.cold_start_bounds.size(); ++b) {
        cumulative += b < g.cold_start_counts.size() ? g.cold_start_counts[b] : 0;
        w.sample("tend_gateway_cold_start_seconds_bucket",
                 base + "," + label("le", number(g.cold_start_bounds[b])),
                 static_cast<double>(cumulative));
      }
      if (g.cold_start_counts.size() > g.cold_start_bounds.size())
        cumulative += g.cold_start_counts.back();
      w.sample("tend_gateway_cold_start_seconds_bucket", base + "," + label("le", "+Inf"),
               static_cast<double>(cumulative));
      w.sample("tend_gateway_cold_start_seconds_sum", base, g.cold_start_sum);
      w.sample("tend_gateway_cold_start_seconds_count", base, static_cast<double>(cumulative));
    }
    w.family("tend_gateway_open_connections", "gauge",
             "Requests in flight and open streams (event streams, WebSockets) of the app.");
    for (const auto& [app, g] : in.gateway)
      w.sample("tend_gateway_open_connections", label("app", app),
               static_cast<double>(g.open_connections));
    w.family("tend_gateway_idle_stops_total", "counter",
             "Times the gateway stopped the app after its idle_timeout.");
    for (const auto& [app, g] : in.gateway)
      w.sample("tend_gateway_idle_stops_total", label("app", app),
               static_cast<double>(g.idle_stops));
  }

  w.family("tend_daemon_resident_memory_bytes", "gauge", "Resident memory of the tend daemon.");
  w.sample("tend_daemon_resident_memory_bytes", "", static_cast<double>(in.daemon_rss_bytes));
  w.family("tend_daemon_open_fds", "gauge", "Open file descriptors of the tend daemon.");
  w.sample("tend_daemon_open_fds", "", static_cast<double>(in.daemon_open_fds));
  w.family("tend_daemon_uptime_seconds", "gauge", "Seconds since the tend daemon started.");
  w.sample("tend_daemon_uptime_seconds", "", in.daemon_uptime_seconds);
  return w.take();
}

uint64_t selfResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

int64_t selfOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  int64_t n = 0;
  while (dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // not counting the directory's own descriptor
}

}  // namespace tend
