#include "api/handlers.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "config/config.hpp"
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
    reply(okReply(supervisor_.list()));
  } else if (cmd == "describe") {
    auto r = supervisor_.describe(target());
    if (r && hooks_.gateway_stats) {
      for (auto& app : *r)
        if (app["spec"].contains("on_demand"))
          app["gateway"] = hooks_.gateway_stats(app.value("name", ""));
    }
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
    supervisor_.restart(target(), toLine(reply));
  } else if (cmd == "reload") {
    supervisor_.reload(target(), toLine(reply));
  } else if (cmd == "delete") {
    supervisor_.remove(target(), toLine(reply));
  } else if (cmd == "scale") {
    supervisor_.scale(target(), req.args["instances"].get<int>(), toLine(reply));
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
  if (req.args.contains("target")) {
    supervisor_.start(req.args["target"].get<std::string>(), toLine(reply),
                      req.args.value("wait", false));
    return;
  }
  std::vector<Supervisor::Apply> apps;
  for (const auto& entry : req.args["apps"]) {
    auto spec = validateApp(fromJson(entry), "", "/");
    if (!spec) {
      reply(errorReply(formatErrors(spec.error())));
      return;
    }
    bool run = !spec->on_demand.has_value();
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

void Handlers::save(const ReplyLine& reply) {
  nlohmann::json dump = supervisor_.dump();
  auto r = writeFileAtomically(paths_.dump, dump.dump(2) + "\n");
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
    bool run = entry.value("running", true) && !spec->on_demand.has_value();
    apps.push_back({std::move(*spec), run});
  }
  log_.info("resurrecting {} apps from {}", apps.size(), paths_.dump);
  supervisor_.apply(std::move(apps), toLine(reply));
}

}  // namespace tend
