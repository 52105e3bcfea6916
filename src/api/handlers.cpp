#include "api/handlers.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include "api/app_changes.hpp"
#include "api/scale_change.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "config/config.hpp"
#include "config/pm2.hpp"
#include "supervisor/apply_plan.hpp"
#include "supervisor/port_allocator.hpp"

namespace tend {
namespace {

// Supervisor results -> reply lines.
Supervisor::Reply toLine(Handlers::ReplyLine reply) {
  return [reply = std::move(reply)](Supervisor::Result r) {
    reply(r ? okReply(*r) : errorReply(r.error()));
  };
}

// The "listen" list of a gateway or api section.
std::vector<std::string> listOf(const nlohmann::json& section) {
  std::vector<std::string> out;
  if (section.contains("listen") && section["listen"].is_array())
    for (const auto& a : section["listen"])
      if (a.is_string()) out.push_back(a.get<std::string>());
  return out;
}

// Env values and the inherited environment stay in the daemon: describe shows env keys,
// and only `describe` with show_env over the local socket shows the values.
void redactEnv(nlohmann::json& app) {
  if (!app.contains("spec") || !app["spec"].is_object()) return;
  app["spec"].erase("env");
  app["spec"].erase("inherited_env");
}

std::optional<EnvList> callerEnv(const nlohmann::json& args) {
  if (!args.contains("caller_env")) return std::nullopt;
  return inheritableEnv(args["caller_env"]);
}

std::string formatErrors(const ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "\n";
    out += e.format();
  }
  return out;
}

}  // namespace

Handlers::Handlers(Supervisor& supervisor, const Paths& paths, Logger& log, Hooks hooks)
    : supervisor_(supervisor),
      paths_(paths),
      log_(log),
      hooks_(std::move(hooks)),
      started_ms_(SystemClock::instance().wallMillis()) {}

void Handlers::handle(const Request& req, ReplyLine reply) {
  const std::string& cmd = req.cmd;
  auto target = [&] { return req.args.value("target", std::string()); };
  if (cmd == "ping") {
    reply(okReply({{"pid", ::getpid()},
                   {"home", paths_.home},
                   {"version", "0.1.0"},
                   {"uptime_ms", SystemClock::instance().wallMillis() - started_ms_}}));
  } else if (cmd == "list") {
    nlohmann::json list = supervisor_.list();
    if (req.args.contains("group")) {
      const std::string group = req.args["group"].get<std::string>();
      nlohmann::json kept = nlohmann::json::array();
      for (auto& inst : list)
        if (inst["group"].is_string() && inst["group"].get<std::string>() == group)
          kept.push_back(std::move(inst));
      list = std::move(kept);
    }
    reply(okReply(list));
  } else if (cmd == "describe") {
    const bool show_env = req.args.value("show_env", false);
    if (show_env && !req.local) {
      reply(errorReply(
          "env values are shown over the local control socket only (tend describe --show-env)"));
      return;
    }
    auto r = supervisor_.describe(target());
    if (r && hooks_.gateway_stats) {
      for (auto& app : *r)
        if (app["spec"].contains("on_demand"))
          app["gateway"] = hooks_.gateway_stats(app.value("name", ""));
    }
    if (r && !show_env)
      for (auto& app : *r) redactEnv(app);
    reply(r ? okReply(*r) : errorReply(r.error()));
  } else if (cmd == "logs") {
    auto r = supervisor_.logFiles(target());
    reply(r ? okReply(*r) : errorReply(r.error()));
  } else if (cmd == "flush") {
    auto r = supervisor_.flush(target());
    reply(r ? okReply(*r) : errorReply(r.error()));
  } else if (cmd == "start") {
    start(req, reply);
  } else if (cmd == "stop") {
    supervisor_.stop(target(), toLine(reply));
  } else if (cmd == "restart") {
    if (req.args.contains("set") || req.args.contains("caller_env"))
      restartWithChanges(req, reply);
    else
      supervisor_.restart(target(), toLine(reply));
  } else if (cmd == "reload") {
    supervisor_.reload(target(), toLine(reply));
  } else if (cmd == "delete") {
    supervisor_.remove(target(), toLine(reply));
  } else if (cmd == "scale") {
    scale(req, reply);
  } else if (cmd == "save") {
    save(reply);
  } else if (cmd == "resurrect") {
    resurrect(reply);
  } else if (cmd == "dashboard") {
    auto r = hooks_.dashboard_link ? hooks_.dashboard_link()
                                   : std::unexpected(std::string("the HTTP API is not built in"));
    reply(r ? okReply(*r) : errorReply(r.error()));
  } else if (cmd == "kill") {
    log_.info("kill requested: stopping every app");
    supervisor_.shutdown(/*forget=*/true, [this, reply] {
      reply(okReply({{"stopped", true}, {"pid", ::getpid()}}));
      hooks_.on_kill();
    });
  } else {
    reply(errorReply(fmt::format("unknown command '{}'", cmd)));
  }
}

void Handlers::start(const Request& req, const ReplyLine& reply) {
  const bool wait = req.args.value("wait", false);
  if (req.args.contains("target")) {
    if (req.args.contains("set") && !req.args["set"].empty()) {
      startWithChanges(req, reply);
      return;
    }
    supervisor_.start(req.args["target"].get<std::string>(), toLine(reply), wait);
    return;
  }
  if (req.args.value("create", false)) {
    create(req, reply);
    return;
  }
  const std::optional<EnvList> caller_env = callerEnv(req.args);
  const bool script = req.args.value("script", false);
  const bool update_env = req.args.value("update_env", false) && caller_env.has_value();
  std::vector<Supervisor::Apply> apps;
  for (const auto& entry : req.args["apps"]) {
    auto spec = validateApp(fromJson(entry), "", "/");
    if (!spec) {
      reply(errorReply(formatErrors(spec.error())));
      return;
    }
    // Decided here, on the loop, together with the apply below: nothing can come between.
    auto existing = supervisor_.snapshot(spec->name);
    if (script) {
      CliStart cli{std::move(*spec), req.args.value("set", nlohmann::json::object()),
                   req.args.value("force", false), caller_env};
      auto planned = planCliStart(cli, existing ? &existing->spec : nullptr);
      if (!planned) {
        reply(errorReply(planned.error()));
        return;
      }
      spec = std::move(*planned);
    } else if (existing && !update_env) {
      // A config applied again from another shell: the app keeps the environment it was
      // created with, so that alone is never a change (restart --update-env refreshes it).
      spec->inherited_env = existing->spec.inherited_env;
    } else if (caller_env) {
      spec->inherited_env = caller_env;
    }
    // A proxy-only route is "started" at once (online, no pid): nothing runs for it.
    bool run = !spec->on_demand.has_value() || isRouteOnly(*spec);
    apps.push_back({std::move(*spec), run});
  }
  if (apps.empty()) {
    reply(errorReply("no apps to start"));
    return;
  }
  applyApps(req, std::move(apps), reply);
}

void Handlers::applyApps(const Request& req, std::vector<Supervisor::Apply> apps,
                         const ReplyLine& reply) {
  PlanRequest wanted;
  for (const auto& a : apps) wanted.apps.push_back({a.spec, a.run});
  if (req.args.contains("gateway")) wanted.gateway_listen = listOf(req.args["gateway"]);
  if (req.args.contains("api")) wanted.api_listen = listOf(req.args["api"]);
  wanted.prune = req.args.value("prune", false);
  PlanCurrent current;
  for (auto& snap : supervisor_.snapshots())
    current.apps.push_back({std::move(snap.spec), snap.desired_running, std::move(snap.ports)});
  if (hooks_.listen_addresses) {
    nlohmann::json now = hooks_.listen_addresses();
    current.gateway_listen = listOf(now.value("gateway", nlohmann::json::object()));
    current.api_listen = listOf(now.value("api", nlohmann::json::object()));
  }
  SocketPortProbe probe;
  PlanChecks checks{[&probe](uint16_t port) { return probe.isFree(port); }, hooks_.address_free};
  ApplyPlan plan = planApply(wanted, current, checks);
  if (!plan.ok()) {
    reply(errorReply(join(plan.errors, "; ") + "; nothing was changed"));
    return;
  }
  const bool with_plan = req.args.value("plan", false);
  if (req.args.value("dry_run", false)) {
    reply(okReply({{"plan", plan.toJson()}, {"dry_run", true}}));
    return;
  }
  // First: a webhook whose secret cannot be read changes nothing at all.
  if (req.args.contains("webhooks") && hooks_.configure_webhooks) {
    std::string err = hooks_.configure_webhooks(req.args["webhooks"]);
    if (!err.empty()) {
      reply(errorReply(err + "; nothing was changed"));
      return;
    }
  }
  if (req.args.contains("gateway") && hooks_.configure_gateway) {
    std::string err = hooks_.configure_gateway(req.args["gateway"]);
    if (!err.empty()) {
      reply(errorReply(err + "; nothing was changed"));
      return;
    }
  }
  if (req.args.contains("api") && hooks_.configure_api) {
    std::string err = hooks_.configure_api(req.args["api"]);
    if (!err.empty()) {
      reply(errorReply(err + "; no app was changed"));
      return;
    }
  }
  // Apps the plan does not touch are left out: an apply never restarts them.
  std::erase_if(apps, [&](const Supervisor::Apply& a) {
    const PlannedApp* p = plan.find(a.spec.name);
    return p && p->action == PlanAction::Unchanged && !a.run;
  });
  std::vector<std::string> removed;
  for (const auto& p : plan.apps)
    if (p.action == PlanAction::Remove) removed.push_back(p.name);
  auto carryOut = [this, apps = std::move(apps), wait = req.args.value("wait", false), with_plan,
                   planned = plan.toJson(), reply]() mutable {
    Supervisor::Reply done = [reply, with_plan, planned](Supervisor::Result r) {
      if (!r) return reply(errorReply(r.error()));
      reply(okReply(with_plan ? nlohmann::json{{"plan", planned}, {"apps", *r}} : *r));
      // An apply of many apps copies their specs a few times over (request, plan, store):
      // give what it freed back to the system rather than keep it in the heap.
      ::malloc_trim(0);
    };
    if (apps.empty()) return done(supervisor_.list());
    supervisor_.apply(std::move(apps), std::move(done), wait);
  };
  if (removed.empty()) return carryOut();
  // Pruned apps go first (their ports and hosts are the new apps' to take).
  auto left = std::make_shared<size_t>(removed.size());
  auto next = std::make_shared<decltype(carryOut)>(std::move(carryOut));
  for (const auto& name : removed)
    supervisor_.remove(name, [left, next, name, this](Supervisor::Result r) {
      if (!r) log_.warn("prune: {}: {}", name, r.error());
      if (--*left == 0) (*next)();
    });
}

std::expected<std::string, std::string> Handlers::appName(const std::string& target) const {
  if (supervisor_.snapshot(target)) return target;
  if (!target.empty() && target.find_first_not_of("0123456789") == std::string::npos)
    for (const auto& inst : supervisor_.list())
      if (std::to_string(inst.value("id", int64_t{-1})) == target)
        return inst.value("name", std::string());
  if (target == "all") return std::unexpected("options change one app at a time: name it");
  return std::unexpected(fmt::format("no app named '{}'", target));
}

void Handlers::scale(const Request& req, const ReplyLine& reply) {
  auto name = appName(req.args["target"].get<std::string>());
  if (!name) {
    reply(errorReply(name.error()));
    return;
  }
  ScaleChange change{false, 0};
  if (req.args.contains("by"))
    change = {true, req.args["by"].get<int>()};
  else
    change.value = req.args["instances"].get<int>();
  auto existing = supervisor_.snapshot(*name);
  auto count = scaledCount(*name, static_cast<int>(existing->statuses.size()), change);
  if (!count) {
    reply(errorReply(count.error()));
    return;
  }
  supervisor_.scale(*name, *count, toLine(reply));
}

void Handlers::create(const Request& req, const ReplyLine& reply) {
  // The reply carries the HTTP status the API answers with.
  auto refuse = [reply](int status, const std::string& message) {
    reply(nlohmann::json{{"ok", false}, {"error", message}, {"status", status}}.dump(
              -1, ' ', false, nlohmann::json::error_handler_t::replace) +
          "\n");
  };
  const nlohmann::json& apps = req.args["apps"];
  if (apps.size() != 1 || !apps[0].is_object()) {
    refuse(400, "give one app: a JSON object with the fields of a config entry");
    return;
  }
  // Exactly what a config file's entry may hold: the daemon's own inherited_env is not.
  if (apps[0].contains("inherited_env")) {
    refuse(400, "unknown key 'inherited_env'");
    return;
  }
  ConfigNode node = fromJson(apps[0]);
  if (looksLikePm2(node)) {  // PM2's fields (script, args, ...), as in an ecosystem file
    auto translated = translatePm2(node, "");
    if (!translated) {
      refuse(400, formatErrors(translated.error()));
      return;
    }
    for (const auto& w : translated->warnings) log_.warn("POST /api/apps: {}", w.format());
    const ConfigNode* list = translated->config.find("apps");
    if (!list || list->seq.size() != 1) {
      refuse(400, "give one app");
      return;
    }
    node = list->seq[0];
  }
  auto spec = validateApp(node, "", "/");
  if (!spec) {
    refuse(400, formatErrors(spec.error()));
    return;
  }
  if (supervisor_.snapshot(spec->name)) {
    refuse(409, fmt::format("an app named '{}' already exists (change it with `tend start`, "
                            "or delete it first)",
                            spec->name));
    return;
  }
  for (const auto& snap : supervisor_.snapshots())
    if (snap.spec.group == spec->name) {
      refuse(409, fmt::format("'{}' is the name of a group (app '{}' is in it)", spec->name,
                              snap.spec.name));
      return;
    }
  bool run = !spec->on_demand.has_value();
  std::vector<Supervisor::Apply> list;
  list.push_back({std::move(*spec), run});
  // The plan's refusals (a port or host another app holds; nothing was changed) are
  // conflicts too; a start that failed after the app was added stays a failure (500).
  applyApps(req, std::move(list), [refuse, reply](std::string line) {
    nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
    if (r.is_object() && !r.value("ok", true) &&
        r.value("error", "").ends_with("; nothing was changed")) {
      refuse(409, r.value("error", "failed"));
      return;
    }
    reply(std::move(line));
  });
}

void Handlers::startWithChanges(const Request& req, const ReplyLine& reply) {
  auto name = appName(req.args["target"].get<std::string>());
  if (!name) {
    reply(errorReply(name.error()));
    return;
  }
  auto existing = supervisor_.snapshot(*name);
  auto spec = withChanges(existing->spec, req.args["set"]);
  if (!spec) {
    reply(errorReply(spec.error()));
    return;
  }
  // A changed spec is stored and the app restarted with it; an unchanged one just started.
  std::vector<Supervisor::Apply> apps;
  apps.push_back({std::move(*spec), true});
  applyApps(req, std::move(apps), reply);
}

void Handlers::restartWithChanges(const Request& req, const ReplyLine& reply) {
  const std::string target = req.args["target"].get<std::string>();
  const nlohmann::json changes = req.args.value("set", nlohmann::json::object());
  const std::optional<EnvList> caller_env = callerEnv(req.args);
  std::vector<std::string> names;
  if (target == "all" && changes.empty()) {
    for (const auto& snap : supervisor_.snapshots()) names.push_back(snap.spec.name);
  } else {
    auto name = appName(target);
    if (!name) {
      reply(errorReply(name.error()));
      return;
    }
    names.push_back(*name);
  }
  std::vector<Supervisor::Apply> changed;
  std::vector<std::string> same;
  for (const auto& name : names) {
    auto existing = supervisor_.snapshot(name);
    if (!existing) continue;
    auto spec = withChanges(existing->spec, changes);
    if (!spec) {
      reply(errorReply(spec.error()));
      return;
    }
    if (caller_env) spec->inherited_env = caller_env;
    if (*spec == existing->spec)
      same.push_back(name);
    else
      changed.push_back({std::move(*spec), true});  // apply restarts an app whose spec changed
  }
  if (changed.empty() && target == "all") {
    supervisor_.restart(target, toLine(reply));
    return;
  }
  if (changed.empty()) {
    restartEach(std::move(same), reply);
    return;
  }
  supervisor_.apply(std::move(changed),
                    [this, same = std::move(same), reply](Supervisor::Result r) mutable {
                      if (!r) {
                        reply(errorReply(r.error()));
                        return;
                      }
                      restartEach(std::move(same), std::move(reply));
                    });
}

void Handlers::restartEach(std::vector<std::string> names, ReplyLine reply) {
  if (names.empty()) {
    reply(okReply(supervisor_.list()));
    return;
  }
  std::string name = std::move(names.front());
  names.erase(names.begin());
  supervisor_.restart(name, [this, names = std::move(names),
                             reply = std::move(reply)](Supervisor::Result r) mutable {
    if (!r) {
      reply(errorReply(r.error()));
      return;
    }
    restartEach(std::move(names), std::move(reply));
  });
}

void Handlers::save(const ReplyLine& reply) {
  nlohmann::json dump = supervisor_.dump();
  auto r = writeFileAtomically(
      paths_.dump, dump.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (!r) {
    reply(errorReply(r.error()));
    return;
  }
  log_.info("saved {} apps to {}", dump["apps"].size(), paths_.dump);
  reply(okReply({{"path", paths_.dump}, {"apps", dump["apps"].size()}}));
}

void Handlers::resurrect(const ReplyLine& reply) {
  auto text = readFile(paths_.dump);
  if (!text) {
    reply(errorReply(
        fmt::format("nothing to resurrect: cannot read {}: {}", paths_.dump, text.error())));
    return;
  }
  nlohmann::json dump = nlohmann::json::parse(*text, nullptr, false);
  if (dump.is_discarded() || !dump.is_object() || !dump.contains("apps") ||
      !dump["apps"].is_array()) {
    reply(errorReply(fmt::format("{} is not a tend dump", paths_.dump)));
    return;
  }
  std::vector<Supervisor::Apply> apps;
  for (const auto& entry : dump["apps"]) {
    if (!entry.is_object() || !entry.contains("spec")) continue;
    auto spec = validateApp(fromJson(entry["spec"]), paths_.dump, "/");
    if (!spec) {
      reply(errorReply(formatErrors(spec.error())));
      return;
    }
    bool run = entry.value("running", true) && (!spec->on_demand.has_value() || isRouteOnly(*spec));
    apps.push_back({std::move(*spec), run});
  }
  log_.info("resurrecting {} apps from {}", apps.size(), paths_.dump);
  supervisor_.apply(std::move(apps), toLine(reply));
}

}  // namespace tend
