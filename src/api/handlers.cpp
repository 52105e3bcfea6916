#include "api/handlers.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "config/config.hpp"

namespace tend {
namespace {

// Supervisor results -> reply lines.
Supervisor::Reply toLine(Handlers::ReplyLine reply) {
  return [reply = std::move(reply)](Supervisor::Result r) {
    reply(r ? okReply(*r) : errorReply(r.error()));
  };
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
  if (req.args.contains("gateway") && hooks_.configure_gateway) {
    std::string err = hooks_.configure_gateway(req.args["gateway"]);
    if (!err.empty()) {
      reply(errorReply(err + "; nothing was started"));
      return;
    }
  }
  if (req.args.contains("api") && hooks_.configure_api) {
    std::string err = hooks_.configure_api(req.args["api"]);
    if (!err.empty()) {
      reply(errorReply(err + "; nothing was started"));
      return;
    }
  }
  supervisor_.apply(std::move(apps), toLine(reply), req.args.value("wait", false));
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
