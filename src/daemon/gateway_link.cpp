#include "daemon/gateway_link.hpp"

#include <fmt/format.h>

#include <charconv>

namespace tend {

AppRunState runStateOf(const std::vector<Status>& statuses) {
  auto any = [&](Status s) {
    for (Status st : statuses)
      if (st == s) return true;
    return false;
  };
  if (any(Status::Online)) return AppRunState::Running;
  if (any(Status::Starting)) return AppRunState::Starting;
  if (any(Status::Stopping)) return AppRunState::Stopping;
  // Waiting: it exited during its start and a restart is scheduled; for a request that is
  // a failed start, answered with the reason rather than held until start_timeout.
  if (any(Status::Errored) || any(Status::Waiting)) return AppRunState::Failed;
  return AppRunState::Stopped;
}

AppRunState runStateOf(const Supervisor::AppSnapshot& app) {
  return runStateOf(app.statuses);
}

void SupervisorBackend::startApp(const std::string& app,
                                 std::function<void(std::string error)> done) {
  // A reload brings the app back by itself (an in-place reload of its only instance
  // leaves nothing online for a moment): the request waits for it as for a start.
  if (supervisor_.reloading(app)) {
    done("");
    return;
  }
  supervisor_.start(app, [this, app, done = std::move(done)](Supervisor::Result r) {
    if (!r) {
      done(r.error());
      return;
    }
    // On the cold-start path: the statuses only; the snapshot (a copy of the whole spec)
    // only for a failure's reason.
    auto statuses = supervisor_.statuses(app);
    if (!statuses) {
      done("the app was deleted while it started");
      return;
    }
    AppRunState state = runStateOf(*statuses);
    if (state == AppRunState::Running || state == AppRunState::Starting) {
      done("");
      return;
    }
    auto snap = supervisor_.snapshot(app);
    done(!snap || snap->last_reason.empty() ? "it did not start" : snap->last_reason);
  });
}

AppRunState SupervisorBackend::state(const std::string& app) const {
  // Asked on requests that find no pooled connection: the statuses only, not a snapshot
  // (which copies the app's whole spec).
  auto statuses = supervisor_.statuses(app);
  return statuses ? runStateOf(*statuses) : AppRunState::Failed;
}

std::string SupervisorBackend::failureReason(const std::string& app) const {
  auto snap = supervisor_.snapshot(app);
  if (!snap) return "no such app";
  return snap->last_reason;
}

void SupervisorBackend::stopIdle(const std::string& app) {
  supervisor_.stopIdle(app, [](Supervisor::Result) {});
}

void SupervisorBackend::restartRefused(const std::string& app) {
  supervisor_.restart(app, [](Supervisor::Result) {});
}

std::vector<uint16_t> SupervisorBackend::servingPorts(const std::string& app) const {
  return supervisor_.servingPorts(app);
}

std::vector<ServingTarget> SupervisorBackend::servingTargets(const std::string& app) const {
  std::vector<ServingTarget> out;
  for (const auto& s : supervisor_.servingInstances(app))
    out.push_back({s.port, s.index, s.cpu, s.memory});
  return out;
}

const std::string* servingChangeOf(const nlohmann::json& event) {
  if (!event.is_object()) return nullptr;
  auto type = event.find("type");
  auto app = event.find("app");
  if (type == event.end() || app == event.end() || !app->is_string()) return nullptr;
  if (*type != "state") return nullptr;
  return app->get_ptr<const std::string*>();
}

namespace {

// "http://host:port[/...]" -> host and port.
bool parseTarget(const std::string& url, std::string& host, uint16_t& port) {
  std::string rest = url;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  size_t slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    host = rest;
    port = 80;
    return !host.empty();
  }
  host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), value);
  if (ec != std::errc() || ptr != rest.data() + rest.size() || value == 0 || value > 65535)
    return false;
  port = static_cast<uint16_t>(value);
  return !host.empty();
}

Balance balanceFor(BalanceMode mode) {
  switch (mode) {
    case BalanceMode::RoundRobin:
      return Balance::RoundRobin;
    case BalanceMode::LeastConn:
      return Balance::LeastConn;
    case BalanceMode::Random:
      return Balance::Random;
    case BalanceMode::IpHash:
      return Balance::IpHash;
    case BalanceMode::Weighted:
      return Balance::Weighted;
    case BalanceMode::LeastCpu:
      return Balance::LeastCpu;
    case BalanceMode::LeastMemory:
      return Balance::LeastMemory;
    case BalanceMode::LeastTime:
      return Balance::LeastTime;
  }
  return Balance::RoundRobin;
}

}  // namespace

GatewayConfig gatewayConfigFor(const std::vector<std::string>& listen,
                               const std::vector<Supervisor::AppSnapshot>& apps) {
  GatewayConfig config;
  config.listen = listen;
  for (const auto& app : apps) {
    if (!app.spec.on_demand) continue;
    const OnDemandSpec& od = *app.spec.on_demand;
    GatewayRoute route;
    route.app = app.spec.name;
    route.hosts = od.hosts;
    route.listen = od.listen;
    route.idle_timeout = od.idle_timeout;
    route.start_timeout = od.start_timeout;
    route.loading_page = od.loading_page;
    route.socket_activated = od.socket_activation;
    route.proxy_only = isRouteOnly(app.spec);
    if (!od.target.empty()) {
      if (!parseTarget(od.target, route.target_host, route.target_port)) continue;
    } else {
      route.target_host = "127.0.0.1";
      route.target_port = app.ports.empty() ? 0 : app.ports.front();
      if (route.target_port == 0) continue;  // no port could be assigned: nowhere to go
      route.balanced = true;
      route.balance = balanceFor(od.balance);
      route.weights = od.weights;
    }
    config.routes.push_back(std::move(route));
  }
  return config;
}

namespace {

std::expected<std::vector<std::string>, std::string> stringsOf(const nlohmann::json& section,
                                                               const char* key) {
  std::vector<std::string> out;
  if (!section.contains(key)) return out;
  const auto& list = section[key];
  if (!list.is_array()) return std::unexpected(fmt::format("gateway.{} must be a list", key));
  for (const auto& item : list) {
    if (!item.is_string())
      return std::unexpected(fmt::format("gateway.{} must be a list of strings", key));
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

std::expected<GatewaySection, std::string> gatewaySectionFrom(const nlohmann::json& section) {
  if (!section.is_object()) return std::unexpected("the gateway section must be an object");
  GatewaySection out;
  auto listen = stringsOf(section, "listen");
  if (!listen) return std::unexpected(listen.error());
  auto trusted = stringsOf(section, "trusted_proxies");
  if (!trusted) return std::unexpected(trusted.error());
  out.listen = std::move(*listen);
  out.trusted_proxies = std::move(*trusted);
  if (section.contains("max_connections")) {
    const auto& n = section["max_connections"];
    if (!n.is_number_integer() || n.get<int64_t>() < 1)
      return std::unexpected("gateway.max_connections must be a whole number of at least 1");
    out.max_connections = n.get<size_t>();
  }
  if (section.contains("access_log")) {
    const auto& log = section["access_log"];
    if (!log.is_object()) return std::unexpected("gateway.access_log must be an object");
    const std::string format = log.value("format", std::string("json"));
    if (format == "json") {
      out.access_log = AccessLogFormat::Json;
    } else if (format == "combined") {
      out.access_log = AccessLogFormat::Combined;
    } else {
      return std::unexpected("gateway.access_log.format must be json or combined");
    }
    if (log.contains("max_size")) {
      if (!log["max_size"].is_number_integer() || log["max_size"].get<int64_t>() < 0)
        return std::unexpected("gateway.access_log.max_size must be a number of bytes");
      out.access_log_max_size = log["max_size"].get<uint64_t>();
    }
    if (log.contains("max_files")) {
      if (!log["max_files"].is_number_integer() || log["max_files"].get<int64_t>() < 0)
        return std::unexpected("gateway.access_log.max_files must be a whole number");
      out.access_log_max_files = log["max_files"].get<int>();
    }
  }
  return out;
}

GatewayConfig gatewayConfigFrom(const GatewaySection& section,
                                const std::vector<Supervisor::AppSnapshot>& apps) {
  GatewayConfig config = gatewayConfigFor(section.listen, apps);
  config.trusted_proxies = section.trusted_proxies;
  config.max_connections = section.max_connections;
  config.access_log = section.access_log;
  return config;
}

}  // namespace tend
