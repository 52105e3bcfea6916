#pragma once
// Handlers: what each control command does. Shared by the Unix control socket now and the
// HTTP API later, so both always agree. Runs on the daemon's event-loop thread.

#include <expected>
#include <functional>
#include <string>

#include "api/protocol.hpp"
#include "common/logger.hpp"
#include "common/paths.hpp"
#include "supervisor/supervisor.hpp"

namespace tend {

class Handlers {
 public:
  using ReplyLine = std::function<void(std::string line)>;
  // What the handlers reach beyond the supervisor, supplied by the daemon.
  struct Hooks {
    // Called after the reply to `kill` has been handed over.
    std::function<void()> on_kill;
    // Applies a config's gateway section ({"listen": [...]}); "" or why it could not.
    std::function<std::string(const nlohmann::json& gateway)> configure_gateway;
    // The gateway's figures for an on-demand app (open connections, last request, ...).
    std::function<nlohmann::json(const std::string& app)> gateway_stats;
    // Applies a config's api section ({"listen": [...], "token_file": "..."}); "" or why not.
    std::function<std::string(const nlohmann::json& api)> configure_api;
    // Applies a config's webhooks list (canonical JSON); "" or why not (nothing changed).
    std::function<std::string(const nlohmann::json& webhooks)> configure_webhooks;
    // The addresses the gateway and the API listen on now ({"gateway": [...], "api": [...]}).
    std::function<nlohmann::json()> listen_addresses;
    // Whether "host:port" could be listened on (nothing else holds it).
    std::function<bool(const std::string& address)> address_free;
    // A one-time login link to the dashboard ({"url": ...}), or why there is none.
    std::function<std::expected<nlohmann::json, std::string>()> dashboard_link;
  };
  Handlers(Supervisor& supervisor, const Paths& paths, Logger& log, Hooks hooks);

  void handle(const Request& request, ReplyLine reply);

 private:
  void start(const Request& request, const ReplyLine& reply);
  // The apply of a start that brings apps: plan, check, then carry out (see apply_plan.hpp).
  void applyApps(const Request& request, std::vector<Supervisor::Apply> apps,
                 const ReplyLine& reply);
  // `tend start NAME --port P ...`: changes those fields of an existing app, then starts it.
  void startWithChanges(const Request& request, const ReplyLine& reply);
  // `tend restart NAME [--port P ...] [--update-env]`: the same, then restarts.
  void restartWithChanges(const Request& request, const ReplyLine& reply);
  // `scale` with a count or a change of it ("by": +1, -1), checked against 1-1024.
  void scale(const Request& request, const ReplyLine& reply);
  // POST /api/apps: one new app, validated as a config entry; errors carry the HTTP status
  // (400 invalid, 409 the name or a port is taken) in the reply's "status".
  void create(const Request& request, const ReplyLine& reply);
  // Restarts the named apps one after the other, then replies with the list.
  void restartEach(std::vector<std::string> names, ReplyLine reply);
  // The name of the app `target` (a name or an id) names, or why there is none.
  std::expected<std::string, std::string> appName(const std::string& target) const;
  void save(const ReplyLine& reply);
  void resurrect(const ReplyLine& reply);

  Supervisor& supervisor_;
  const Paths& paths_;
  Logger& log_;
  Hooks hooks_;
  int64_t started_ms_;
};

}  // namespace tend
