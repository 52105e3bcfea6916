#include "supervisor/apply_plan.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "common/text.hpp"

namespace tend {

namespace {

using nlohmann::json;

std::string valueText(const json& value) {
  if (value.is_null()) return "(none)";
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// env: which keys came, went or changed; never the values.
std::string envChange(const json& before, const json& after) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : after.items()) {
    if (!before.contains(key))
      parts.push_back("+" + key);
    else if (before[key] != value)
      parts.push_back("~" + key);
  }
  for (const auto& [key, value] : before.items())
    if (!after.contains(key)) parts.push_back("-" + key);
  return join(parts, " ");
}

// The ports an app declares for itself: a fixed port, or its whole range.
std::vector<uint16_t> declaredPorts(const AppSpec& spec) {
  std::vector<uint16_t> out;
  if (spec.port.kind == PortSpec::Kind::Fixed) out.push_back(spec.port.first);
  if (spec.port.kind == PortSpec::Kind::Range)
    for (uint32_t p = spec.port.first; p <= spec.port.last; ++p)
      out.push_back(static_cast<uint16_t>(p));
  return out;
}

// The ports its instances will listen on: a fixed port, or one per instance from the range.
std::vector<uint16_t> instancePorts(const AppSpec& spec) {
  std::vector<uint16_t> out;
  if (spec.port.kind == PortSpec::Kind::Fixed) out.push_back(spec.port.first);
  if (spec.port.kind == PortSpec::Kind::Range) {
    const int count = spec.instances_max ? 1 : std::max(1, spec.instances);
    for (int i = 0; i < count && spec.port.first + i <= spec.port.last; ++i)
      out.push_back(static_cast<uint16_t>(spec.port.first + i));
  }
  return out;
}

std::string listText(const std::vector<std::string>& items) {
  return items.empty() ? "(off)" : join(items, ", ");
}

}  // namespace

std::string_view planActionName(PlanAction action) {
  switch (action) {
    case PlanAction::Add:
      return "add";
    case PlanAction::Change:
      return "change";
    case PlanAction::Unchanged:
      return "unchanged";
    case PlanAction::Remove:
      return "remove";
  }
  return "unchanged";
}

const PlannedApp* ApplyPlan::find(const std::string& name) const {
  for (const auto& a : apps)
    if (a.name == name) return &a;
  return nullptr;
}

json ApplyPlan::toJson() const {
  json out = json::object();
  json list = json::array();
  for (const auto& a : apps) {
    json j{{"name", a.name}, {"action", std::string(planActionName(a.action))}, {"run", a.run}};
    if (a.action == PlanAction::Change) {
      j["reload"] = a.reload;
      json changes = json::array();
      for (const auto& c : a.changes)
        changes.push_back({{"field", c.field}, {"before", c.before}, {"after", c.after}});
      j["changes"] = changes;
    }
    list.push_back(j);
  }
  out["apps"] = list;
  json moved = json::array();
  for (const auto& m : moves) moved.push_back({{"what", m.what}, {"from", m.from}, {"to", m.to}});
  out["moves"] = moved;
  out["errors"] = errors;
  return out;
}

std::vector<FieldChange> specChanges(const AppSpec& before, const AppSpec& after) {
  const json a = tend::toJson(before), b = tend::toJson(after);
  std::set<std::string> keys;
  for (const auto& [key, value] : a.items()) keys.insert(key);
  for (const auto& [key, value] : b.items()) keys.insert(key);
  std::vector<FieldChange> out;
  for (const std::string& key : keys) {
    const json x = a.contains(key) ? a[key] : json(nullptr);
    const json y = b.contains(key) ? b[key] : json(nullptr);
    if (x == y) continue;
    if (key == "env" || key == "inherited_env") {
      out.push_back(
          {key, "",
           envChange(x.is_object() ? x : json::object(), y.is_object() ? y : json::object())});
      continue;
    }
    out.push_back({key, valueText(x), valueText(y)});
  }
  return out;
}

bool reloadable(const std::vector<FieldChange>& changes) {
  static constexpr std::array<std::string_view, 11> kFields = {
      "run",         "cwd",          "env",        "inherited_env", "ready",       "health",
      "stop_signal", "kill_timeout", "max_memory", "cron_restart",  "reload_batch"};
  return std::ranges::all_of(changes, [](const FieldChange& c) {
    return std::ranges::find(kFields, c.field) != kFields.end();
  });
}

ApplyPlan planApply(const PlanRequest& request, const PlanCurrent& current,
                    const PlanChecks& checks) {
  ApplyPlan plan;
  std::map<std::string, const PlanCurrent::App*> running;
  for (const auto& app : current.apps) running[app.spec.name] = &app;
  std::set<std::string> wanted;
  for (const auto& item : request.apps) wanted.insert(item.spec.name);

  for (const auto& item : request.apps) {
    PlannedApp p;
    p.name = item.spec.name;
    p.run = item.run;
    auto it = running.find(item.spec.name);
    if (it == running.end()) {
      p.action = PlanAction::Add;
    } else {
      p.changes = specChanges(it->second->spec, item.spec);
      p.action = p.changes.empty() ? PlanAction::Unchanged : PlanAction::Change;
      p.reload = p.action == PlanAction::Change && item.run && it->second->desired_running &&
                 reloadable(p.changes);
    }
    plan.apps.push_back(std::move(p));
  }
  // What stays beside the request's apps: every app that runs now and is not in it
  // (unless pruned).
  std::vector<const PlanCurrent::App*> others;
  for (const auto& app : current.apps) {
    if (wanted.contains(app.spec.name)) continue;
    if (request.prune) {
      plan.apps.push_back({app.spec.name, PlanAction::Remove, false, {}});
      continue;
    }
    others.push_back(&app);
  }

  // Ports: an app added or changed must not take a port another app holds or declares,
  // nor one some other process listens on (its own ports, held now, are its own).
  std::map<uint16_t, std::string> owner;
  for (const auto* app : others) {
    for (uint16_t port : app->ports)
      if (port) owner.emplace(port, app->spec.name);
    for (uint16_t port : declaredPorts(app->spec)) owner.emplace(port, app->spec.name);
  }
  std::map<std::string, std::string> host_owner;
  for (const auto* app : others)
    if (app->spec.on_demand) {
      for (const auto& host : app->spec.on_demand->hosts) host_owner.emplace(host, app->spec.name);
      for (const auto& listen : app->spec.on_demand->listen)
        host_owner.emplace("listen " + listen, app->spec.name);
    }
  for (const auto& item : request.apps) {
    const PlannedApp* p = plan.find(item.spec.name);
    if (!p || p->action == PlanAction::Unchanged) continue;
    const std::string& name = item.spec.name;
    std::set<uint16_t> held;
    // Its own ports, and those of the request's other apps (tend's, moving with this apply).
    for (const auto& other : request.apps)
      if (auto it = running.find(other.spec.name); it != running.end())
        held.insert(it->second->ports.begin(), it->second->ports.end());
    bool reported = false;
    for (uint16_t port : declaredPorts(item.spec)) {
      auto o = owner.find(port);
      if (o == owner.end() || reported) continue;
      plan.errors.push_back(
          fmt::format("{}: port {} is already assigned to app '{}'", name, port, o->second));
      reported = true;
    }
    if (!reported && checks.port_free && item.spec.start_cmd.empty()) {  // tend spawns it
      for (uint16_t port : instancePorts(item.spec)) {
        if (held.contains(port) || checks.port_free(port)) continue;
        plan.errors.push_back(fmt::format(
            "{}: port {} is in use by another process (not one of tend's apps)", name, port));
        break;
      }
    }
    if (item.spec.on_demand) {
      for (const auto& host : item.spec.on_demand->hosts)
        if (auto o = host_owner.find(host); o != host_owner.end())
          plan.errors.push_back(fmt::format("{}: on_demand.hosts: '{}' already routes to app '{}'",
                                            name, host, o->second));
      for (const auto& listen : item.spec.on_demand->listen)
        if (auto o = host_owner.find("listen " + listen); o != host_owner.end())
          plan.errors.push_back(fmt::format("{}: on_demand.listen: '{}' already routes to app '{}'",
                                            name, listen, o->second));
    }
  }

  // Dependencies: each must exist once the apply is done.
  for (const auto& item : request.apps)
    for (const auto& dep : item.spec.depends_on) {
      const bool kept = std::ranges::any_of(
          others, [&](const PlanCurrent::App* a) { return a->spec.name == dep.app; });
      if (!wanted.contains(dep.app) && !kept)
        plan.errors.push_back(fmt::format(
            "{}: depends_on: there is no app named '{}'{}", item.spec.name, dep.app,
            request.prune && running.contains(dep.app) ? " (it would be removed)" : ""));
    }

  // Groups: a group may not take the name of an app, nor an app the name of a group, once
  // the apply is done (`tend stop NAME` would not know which is meant).
  {
    std::map<std::string, std::string> group_of;  // app name -> group, after the apply
    for (const auto* app : others) group_of[app->spec.name] = app->spec.group;
    for (const auto& item : request.apps) group_of[item.spec.name] = item.spec.group;
    for (const auto& item : request.apps) {
      if (!item.spec.group.empty() && group_of.contains(item.spec.group))
        plan.errors.push_back(
            fmt::format("{}: group: '{}' is the name of an app", item.spec.name, item.spec.group));
      for (const auto& [name, group] : group_of)
        if (group == item.spec.name && name != item.spec.name) {
          plan.errors.push_back(fmt::format("{}: there is a group of that name (app '{}' is in it)",
                                            item.spec.name, name));
          break;
        }
    }
  }

  // Addresses that move must be free.
  auto address = [&](const char* what, const std::optional<std::vector<std::string>>& to,
                     const std::vector<std::string>& from) {
    if (!to || *to == from) return;
    plan.moves.push_back({what, from, *to});
    for (const auto& a : *to) {
      if (std::ranges::find(from, a) != from.end()) continue;
      if (checks.address_free && !checks.address_free(a))
        plan.errors.push_back(fmt::format("{}.listen: {} is in use by another process", what, a));
    }
  };
  address("gateway", request.gateway_listen, current.gateway_listen);
  address("api", request.api_listen, current.api_listen);
  return plan;
}

std::string formatPlan(const json& plan) {
  std::string out;
  size_t width = 0;
  for (const auto& a : plan.value("apps", json::array()))
    width = std::max(width, a.value("name", "").size());
  for (const auto& a : plan.value("apps", json::array())) {
    const std::string action = a.value("action", "");
    const std::string name = a.value("name", "");
    const char* mark = action == "add"      ? "+"
                       : action == "change" ? "~"
                       : action == "remove" ? "-"
                                            : "=";
    // A change of `group` alone is a label: the supervisor stores it and restarts nothing.
    const json changes = a.value("changes", json::array());
    const bool label_only = !changes.empty() && std::ranges::all_of(changes, [](const json& c) {
      return c.value("field", "") == "group";
    });
    std::string what = action == "add"      ? "added"
                       : label_only         ? "changed (nothing restarted)"
                       : action == "change" ? (a.value("reload", false) ? "reloaded" : "restarted")
                       : action == "remove" ? "removed"
                                            : "unchanged";
    if (action == "add" && !a.value("run", true)) what += " (starts on its first request)";
    std::vector<std::string> fields;
    for (const auto& c : a.value("changes", json::array())) {
      const std::string field = c.value("field", "");
      if (field == "env")
        fields.push_back("env " + c.value("after", ""));
      else
        fields.push_back(
            fmt::format("{} {} -> {}", field, c.value("before", ""), c.value("after", "")));
    }
    out += fmt::format("{} {:<{}}  {}{}\n", mark, name, width, what,
                       fields.empty() ? "" : ": " + join(fields, "; "));
  }
  for (const auto& m : plan.value("moves", json::array())) {
    auto list = [](const json& items) {
      std::vector<std::string> v;
      for (const auto& i : items) v.push_back(i.get<std::string>());
      return listText(v);
    };
    out += fmt::format("  {} moves from {} to {}\n", m.value("what", ""), list(m["from"]),
                       list(m["to"]));
  }
  return out;
}

}  // namespace tend
