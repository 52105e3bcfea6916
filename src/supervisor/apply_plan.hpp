#pragma once
// The plan of an apply: what `tend start FILE` (or any start that brings app specs) would
// change, computed from the desired apps and a view of what runs, before anything is
// touched. Apps are added, changed (with the fields that differ), left unchanged (not
// touched at all: same pids), or removed (only when the apply is asked to prune); the
// gateway's and the API's addresses may move. Every reason the apply cannot go ahead is
// an error of the plan, and an apply whose plan has errors changes nothing.
//
// Pure: no sockets, no processes. Whether a port or an address is free on the machine
// comes from PlanChecks, so tests need none. Not thread-safe (plain values).

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/app_spec.hpp"

namespace tend {

// What the user asks for.
struct PlanRequest {
  struct App {
    AppSpec spec;
    bool run = true;  // should run afterwards (an on_demand app waits for its first request)
  };
  std::vector<App> apps;
  // nullopt: the request has no gateway (api) section, and the address stays as it is.
  std::optional<std::vector<std::string>> gateway_listen;
  std::optional<std::vector<std::string>> api_listen;
  bool prune = false;  // remove the apps that run now but are not in `apps`
};

// What runs now.
struct PlanCurrent {
  struct App {
    AppSpec spec;
    bool desired_running = false;
    std::vector<uint16_t> ports;  // the ports its instances hold (0: none)
  };
  std::vector<App> apps;
  std::vector<std::string> gateway_listen;
  std::vector<std::string> api_listen;
};

// The machine, as far as the plan needs it.
struct PlanChecks {
  std::function<bool(uint16_t port)> port_free;                  // nothing listens on it
  std::function<bool(const std::string& address)> address_free;  // "host:port" can be bound
};

enum class PlanAction { Add, Change, Unchanged, Remove };
std::string_view planActionName(PlanAction action);

struct FieldChange {
  std::string field;  // a top-level key of the app's config entry ("port", "env", ...)
  std::string before;
  std::string after;  // env shows keys only: values are secrets
};

struct PlannedApp {
  std::string name;
  PlanAction action = PlanAction::Unchanged;
  bool run = true;
  std::vector<FieldChange> changes;  // Change only
  bool reload = false;  // Change of a running app: reloaded (no downtime), not restarted
};

struct AddressMove {
  std::string what;  // "gateway" or "api"
  std::vector<std::string> from;
  std::vector<std::string> to;
};

struct ApplyPlan {
  std::vector<PlannedApp> apps;  // in the request's order, then removals
  std::vector<AddressMove> moves;
  std::vector<std::string> errors;

  bool ok() const { return errors.empty(); }
  const PlannedApp* find(const std::string& name) const;
  nlohmann::json toJson() const;
};

// The config entry's fields that differ between two specs of one app (keys of toJson()),
// with before and after as a person reads them (env and the inherited environment: the
// keys that came, went or changed, never a value). The caller keeps the inherited
// environment as stored unless it means to change it (restart --update-env, --force).
std::vector<FieldChange> specChanges(const AppSpec& before, const AppSpec& after);

// Whether an app whose spec changed by `changes` can be reloaded (its instances replaced
// one at a time, as `tend reload` does) instead of stopped and started: only what a new
// process picks up changed (command, cwd, env, probes, stop and limit settings), not its
// instances, ports, routes, logs, restart policy or dependencies.
bool reloadable(const std::vector<FieldChange>& changes);

ApplyPlan planApply(const PlanRequest& request, const PlanCurrent& current,
                    const PlanChecks& checks);

// The plan as lines for a person ("+ api  added", "~ web  changed: port 3001 -> 3002", ...),
// from its JSON form (what the daemon replies), each line ending in '\n'.
std::string formatPlan(const nlohmann::json& plan);

}  // namespace tend
