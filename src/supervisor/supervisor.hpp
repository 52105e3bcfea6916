#pragma once
// Supervisor: the single owner of every app and instance and of their processes. It
// turns commands (start, stop, restart, delete, apply a config) into InstanceMachine
// events, carries out the machines' actions (spawn, signal, timers), reaps exits as
// events (SIGCHLD, or a pidfd for processes found from before a daemon restart), writes
// each child's output to its log files and keeps the StateStore in step.
//
// Lives on the daemon's io_context thread; not thread-safe. Replies to commands come
// through callbacks once the apps concerned have settled (no instance stopping, and every
// starting one spawned: see apply()).

#include <nlohmann/json.hpp>

#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/logger.hpp"
#include "common/paths.hpp"
#include "config/app_spec.hpp"
#include "store/state_store.hpp"
#include "supervisor/instance_state.hpp"
#include "supervisor/port_allocator.hpp"
#include "supervisor/spawner.hpp"

namespace boost::asio {
class io_context;
}

namespace tend {

// Every process the daemon starts has this variable set to its TEND_HOME (and passes it on
// to its own children): a daemon that starts finds, by it, the processes a crashed one had
// started but not recorded, and stops them.
inline constexpr std::string_view kSupervisedByVariable = "TEND_SUPERVISED_BY";

class Supervisor {
 public:
  using Result = std::expected<nlohmann::json, std::string>;
  using Reply = std::function<void(Result)>;

  struct Deps {
    boost::asio::io_context& io;
    const Paths& paths;
    StateStore& store;
    ProcessOps& ops;
    PortProbe& probe;
    Logger& log;
    Clock& clock;
  };
  explicit Supervisor(Deps deps);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // At daemon start: loads the apps from the store and reconciles with what is running.
  // Processes left from a previous daemon are stopped (their output pipes died with it),
  // and every app that should run is started again: never two copies, never an orphan.
  // That includes the replacements of a reload in progress (recorded beside the old
  // instances) and any process marked with kSupervisedByVariable for this home that no
  // record names (spawned right before a crash).
  void restore();

  // Creates apps that do not exist and updates those whose spec changed: reloaded when only
  // what a new process picks up changed and something is online (see reloadable()), else
  // stopped and started with the new spec. Equal specs are left alone (started if stopped).
  // The caller checks the plan first (apply_plan.hpp). `run` says per app whether it should run
  // afterwards (apps with on_demand are left stopped until the gateway asks).
  struct Apply {
    AppSpec spec;
    bool run = true;
  };
  // Replies once every instance has its process (it may still be `starting` while its
  // ready probe runs); with `wait`, once every instance is online, failing with the reason
  // at the first start that fails (not ready in time, exited, could not spawn).
  void apply(std::vector<Apply> apps, Reply done, bool wait = false);
  // `target`: an app name, an id, or "all".
  void start(const std::string& target, Reply done, bool wait = false);
  void stop(const std::string& target, Reply done);
  // The gateway's stop of an idle on-demand app: stops `app`, and with it (after it) the
  // dependencies that were started only because an app needed them (not by the user, not
  // running before) and that no other app meant to run still depends on.
  void stopIdle(const std::string& app, Reply done);
  void restart(const std::string& target, Reply done);
  void remove(const std::string& target, Reply done);
  // Replaces every instance, `reload_batch` at a time, each keeping its port (see
  // ReloadCoordinator): beside the old one when they can both listen (a shared socket, or
  // no port), else drained and restarted in place. The reply comes when every instance is
  // replaced, or with the reason when one did not get (back) online; the instances not
  // reached are left as they are. An app with nothing online is restarted. While an app
  // reloads, other commands on it are refused.
  void reload(const std::string& target, Reply done);
  // The ports the gateway may send new requests to (its targets for the app): the app's
  // online instances in instance order, minus those a reload is draining, plus a reload's
  // new instances once they are online. Empty when there is no such app.
  std::vector<uint16_t> servingPorts(const std::string& app) const;
  // The same instances, with their index and last CPU/memory samples (the gateway's
  // weighted, least-cpu and least-memory balancing).
  struct ServingInstance {
    uint16_t port = 0;
    int index = 0;
    double cpu = 0;
    uint64_t memory = 0;
  };
  std::vector<ServingInstance> servingInstances(const std::string& app) const;
  // Called (synchronously) when servingPorts(app) may have changed because of a reload.
  void onServingChanged(std::function<void(const std::string& app)> hook);
  // How many gateway requests are in flight to `port` of `app`: a reload waits for none
  // (at most kill_timeout) before it stops an old instance.
  void countInFlight(std::function<size_t(const std::string& app, uint16_t port)> counter);
  // Changes the number of instances of app `name` (1-1024) at run time: new instances get
  // ports and start when the app runs; the highest ones are stopped and removed.
  void scale(const std::string& name, int instances, Reply done);

  nlohmann::json list() const;  // one object per instance (see SPEC.md)
  Result describe(const std::string& target) const;
  Result logFiles(const std::string& target) const;
  nlohmann::json dump() const;
  // Empties the log files (and removes rotated ones) of the target's instances.
  Result flush(const std::string& target);  // what `tend save` writes: specs and desired state

  // What the gateway needs to know of one app.
  struct AppSnapshot {
    AppSpec spec;
    std::vector<Status> statuses;  // one per instance
    std::vector<uint16_t> ports;   // one per instance (0: none), assigned even while stopped
    std::string last_reason;       // the newest reason any instance gave
    bool desired_running = false;
  };
  std::optional<AppSnapshot> snapshot(const std::string& name) const;
  std::vector<AppSnapshot> snapshots() const;
  // The statuses of one app's instances: what the gateway asks, without copying the spec.
  // nullopt when there is no such app.
  std::optional<std::vector<Status>> statuses(const std::string& name) const;
  // Whether app `name` is being reloaded (other commands on it are refused meanwhile).
  bool reloading(const std::string& name) const;
  // Called (synchronously, on the loop) when an instance comes online, whoever started it
  // (the gateway counts an app's idle time from then). It must not call back into the
  // supervisor.
  void onInstanceOnline(std::function<void(const std::string& app)> hook);
  // Called (synchronously, on the loop) when an instance of `app` failed before it got
  // online: its process exited (or could not be spawned) while it was starting, or its
  // ready check did not pass in time. `why` is for people and names what happened and what
  // follows: "exited before it was ready: exited with code 3; restarting in 100ms",
  // "failed to start: not ready after 30s: ...". It must not call back into the supervisor.
  void onStartFailed(std::function<void(const std::string& app, const std::string& why)> hook);
  // Called (deferred, on the loop) after apps were added, changed or deleted.
  void onAppsChanged(std::function<void()> hook);
  // Observers (the HTTP API's event stream). `event` is called synchronously on the loop,
  // with {"type": "state", "app", "instance", "status", "reason", "pid"} when an instance's
  // status changes, {"type": "restart", "app", "instance", "reason"} when one is
  // restarted by policy, and {"type": "probe", "app", "instance", "probe", "ok", "detail"}
  // for ready / health / watchdog results (see docs/API.md for which). `log_line` is called for
  // every line an instance writes (after it went to the log file). Neither may call back into the
  // supervisor.
  void onEvent(std::function<void(const nlohmann::json& event)> event);
  void onLogLine(
      std::function<void(const std::string& app, int instance, bool err, std::string_view line)>
          log_line);

  // Stops every app. With `forget`, apps are marked stopped (tend kill); without, their
  // desired state is kept so the next daemon brings them back (SIGTERM, e.g. at shutdown).
  void shutdown(bool forget, std::function<void()> done);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tend
