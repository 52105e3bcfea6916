#include "config/app_spec.hpp"
#include "config/http_check.hpp"

#include <nlohmann/json.hpp>

#include <string>

#include "common/duration.hpp"
#include "common/text.hpp"

namespace tend {

std::string_view balanceModeName(BalanceMode mode) {
  return kBalanceModeNames[static_cast<size_t>(mode)];
}

namespace {

// Sizes are written as byte counts in strings: parseSize reads them back exactly, and a
// string keeps 64-bit values safe from JSON readers that use doubles.
std::string sizeText(uint64_t bytes) {
  return std::to_string(bytes);
}

nlohmann::json portJson(const PortSpec& port) {
  switch (port.kind) {
    case PortSpec::Kind::None:
      return nullptr;
    case PortSpec::Kind::Fixed:
      return port.first;
    case PortSpec::Kind::Range:
      return std::to_string(port.first) + "-" + std::to_string(port.last);
    case PortSpec::Kind::Auto:
      if (port.first == PortSpec::kAutoFirst && port.last == PortSpec::kAutoLast) return "auto";
      return "auto:" + std::to_string(port.first) + "-" + std::to_string(port.last);
  }
  return nullptr;
}

nlohmann::json probeJson(const ProbeSpec& probe, bool health) {
  nlohmann::json j = nlohmann::json::object();
  if (probe.tcp != 0) {
    j["tcp"] = probe.tcp;
  } else if (!probe.http.empty()) {
    j["http"] = probe.http;
    if (probe.expect_last == 0 || probe.expect_status == probe.expect_last)
      j["expect"] = probe.expect_status;
    else
      j["expect"] = formatStatusRange({probe.expect_status, probe.expect_last});
    if (probe.method != "GET") j["method"] = probe.method;
    if (!probe.body.empty()) j["body"] = probe.body;
    if (probe.insecure) j["insecure"] = true;
  } else if (!probe.exec.empty()) {
    j["exec"] = probe.exec;
  } else if (probe.notify) {
    j["notify"] = true;
    if (probe.watchdog.count() > 0) j["watchdog"] = formatDuration(probe.watchdog);
  }
  j["timeout"] = formatDuration(probe.timeout);
  if (health) {
    j["interval"] = formatDuration(probe.interval);
    j["failures"] = probe.failures;
  }
  return j;
}

nlohmann::json stringList(const std::vector<std::string>& items) {
  nlohmann::json j = nlohmann::json::array();
  for (const std::string& item : items) j.push_back(item);
  return j;
}

// The signal's name when it reads back as the same number ("SIGTERM"), its number otherwise
// (real-time signals have no name in the table).
std::string signalText(int sig) {
  std::string name = signalName(sig);
  if (signalFromName(name) == sig) return name;
  return std::to_string(sig);
}

}  // namespace

bool inheritableVariable(std::string_view name) {
  return !name.empty() && !name.starts_with("TEND_") && name != "NOTIFY_SOCKET" &&
         !name.starts_with("WATCHDOG_") && !name.starts_with("LISTEN_");
}

std::string_view conditionName(DependencyCondition c) {
  switch (c) {
    case DependencyCondition::Started:
      return "started";
    case DependencyCondition::Ready:
      return "ready";
    case DependencyCondition::Completed:
      return "completed";
  }
  return "ready";
}

nlohmann::json toJson(const AppSpec& spec) {
  nlohmann::json j = nlohmann::json::object();
  j["name"] = spec.name;
  if (!spec.group.empty()) j["group"] = spec.group;
  if (!spec.argv.empty()) {
    if (spec.run_shell && spec.argv.size() == 3)
      j["run"] = spec.argv[2];
    else
      j["run"] = stringList(spec.argv);
  }
  if (!spec.start_cmd.empty()) j["start"] = spec.start_cmd;
  if (!spec.stop_cmd.empty()) j["stop"] = spec.stop_cmd;
  if (!spec.check_cmd.empty()) j["check"] = spec.check_cmd;
  j["cwd"] = spec.cwd;
  // env_file is left out: its entries are already merged into env, and reading the file
  // again (maybe on another machine, maybe changed) would be wrong.
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [key, value] : spec.env) env[key] = value;
  j["env"] = env;
  if (spec.inherited_env) {
    nlohmann::json inherited = nlohmann::json::object();
    for (const auto& [key, value] : *spec.inherited_env) inherited[key] = value;
    j["inherited_env"] = inherited;
  }
  if (spec.instances_max)
    j["instances"] = "max";
  else
    j["instances"] = spec.instances;
  if (spec.port.kind != PortSpec::Kind::None) j["port"] = portJson(spec.port);
  if (spec.share_port == SharePort::ReusePort) j["share_port"] = "reuseport";
  if (spec.share_port == SharePort::Socket) j["share_port"] = "socket";
  if (spec.reload_batch != 1) j["reload_batch"] = spec.reload_batch;
  switch (spec.autorestart) {
    case AutoRestart::Never:
      j["autorestart"] = false;
      break;
    case AutoRestart::Always:
      j["autorestart"] = true;
      break;
    case AutoRestart::OnFailure:
      j["autorestart"] = "on-failure";
      break;
  }
  j["restart_delay"] = formatDuration(spec.restart_delay);
  j["backoff"] = {{"initial", formatDuration(spec.backoff.initial)},
                  {"max", formatDuration(spec.backoff.max)},
                  {"multiplier", spec.backoff.multiplier}};
  j["max_restarts"] = spec.max_restarts;
  j["restart_window"] = formatDuration(spec.restart_window);
  j["min_uptime"] = formatDuration(spec.min_uptime);
  j["stop_signal"] = signalText(spec.stop_signal);
  j["kill_timeout"] = formatDuration(spec.kill_timeout);
  nlohmann::json logs = {{"max_size", sizeText(spec.logs.max_size)},
                         {"max_files", spec.logs.max_files},
                         {"timestamps", spec.logs.timestamps}};
  if (!spec.logs.out_file.empty()) logs["out"] = spec.logs.out_file;
  if (!spec.logs.err_file.empty()) logs["err"] = spec.logs.err_file;
  if (spec.logs.format == LogFormat::Json) logs["format"] = "json";
  j["logs"] = logs;
  if (spec.max_memory) j["max_memory"] = sizeText(*spec.max_memory);
  if (!spec.watch.empty()) j["watch"] = stringList(spec.watch);
  if (!spec.ignore_watch.empty()) j["ignore_watch"] = stringList(spec.ignore_watch);
  if (!spec.cron_restart.empty()) j["cron_restart"] = spec.cron_restart;
  if (!spec.depends_on.empty()) {
    // A name for the default condition, {name: condition} otherwise: a list keeps the order.
    nlohmann::json deps = nlohmann::json::array();
    for (const Dependency& d : spec.depends_on) {
      if (d.condition == DependencyCondition::Ready)
        deps.push_back(d.app);
      else
        deps.push_back({{d.app, std::string(conditionName(d.condition))}});
    }
    j["depends_on"] = deps;
  }
  if (spec.ready) j["ready"] = probeJson(*spec.ready, false);
  if (spec.health) j["health"] = probeJson(*spec.health, true);
  if (spec.on_demand) {
    const OnDemandSpec& od = *spec.on_demand;
    nlohmann::json o = nlohmann::json::object();
    if (!od.hosts.empty()) o["hosts"] = stringList(od.hosts);
    if (!od.listen.empty()) o["listen"] = stringList(od.listen);
    if (!od.target.empty()) o["target"] = od.target;
    o["idle_timeout"] = formatDuration(od.idle_timeout);
    o["start_timeout"] = formatDuration(od.start_timeout);
    o["loading_page"] = od.loading_page;
    o["socket_activation"] = od.socket_activation;
    o["balance"] = std::string(balanceModeName(od.balance));
    if (!od.weights.empty()) o["weights"] = od.weights;
    j["on_demand"] = o;
  }
  if (!spec.pre_start.empty()) j["pre_start"] = spec.pre_start;
  if (!spec.post_start.empty()) j["post_start"] = spec.post_start;
  if (spec.nice) j["nice"] = *spec.nice;
  if (!spec.user.empty()) j["user"] = spec.user;
  return j;
}

nlohmann::json toJson(const WebhookSpec& webhook) {
  nlohmann::json j = nlohmann::json::object();
  j["url"] = webhook.url;
  if (!webhook.events.empty()) j["events"] = stringList(webhook.events);
  if (!webhook.secret_file.empty()) j["secret_file"] = webhook.secret_file;
  j["timeout"] = formatDuration(webhook.timeout);
  return j;
}

}  // namespace tend
