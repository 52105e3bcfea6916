#include "supervisor/supervisor.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "common/cron.hpp"
#include "common/duration.hpp"
#include "common/fault.hpp"
#include "common/text.hpp"
#include "common/user_account.hpp"
#include "config/config.hpp"
#include "logs/log_writer.hpp"
#include "supervisor/apply_plan.hpp"
#include "supervisor/child_output.hpp"
#include "supervisor/dependency_graph.hpp"
#include "supervisor/file_watcher.hpp"
#include "supervisor/instance_probes.hpp"
#include "supervisor/instance_state.hpp"
#include "supervisor/notify_socket.hpp"
#include "supervisor/proc_stat.hpp"
#include "supervisor/reload_coordinator.hpp"
#include "supervisor/targets.hpp"

extern char** environ;

namespace tend {
namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr Duration kGroupPoll = 10ms;
constexpr Duration kSampleInterval = 2s;
constexpr Duration kFirstSample = 200ms;
constexpr Duration kReplySlack = 10s;  // beyond kill_timeout, before a reply is sent anyway
constexpr Duration kDrainPoll = 10ms;  // how often a draining instance's requests are counted
// How long an exec check's output may still come after the check has exited.
constexpr Duration kProbeOutputGrace = 100ms;
// How long a pre_start or post_start command may run before it is killed (and, for
// pre_start, the instance is errored).
constexpr Duration kHookTimeout = 60s;
// An instance's lookup key is its index, or its index plus this for the replacement that a
// reload runs beside it (the two alternate, so events of either always find their own).
constexpr int kReplacementKey = 1 << 20;

struct Instance {
  Instance(asio::io_context& io, const AppSpec& spec, int idx, int lookup_key)
      : index(idx),
        key(lookup_key),
        machine(spec),
        restart_timer(io),
        kill_timer(io),
        group_timer(io) {}

  int index;  // what users see (TEND_INSTANCE, list, logs)
  int key;    // what timers and exits find it by (see kReplacementKey)
  InstanceMachine machine;
  pid_t pid = 0;     // also its process group
  uint64_t run = 0;  // which spawn the pid belongs to (unique in the daemon); stale events
                     // are ignored
  uint64_t start_ticks = 0;
  TimePoint started_at{};
  int64_t started_wall = 0;
  uint16_t port = 0;
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  bool adopted = false;     // found running from before a daemon restart
  bool unrecorded = false;  // its process is not in the store yet (the disk was full)
  std::string held;         // non-empty: starting, not spawned until its dependencies are there
  TimePoint kill_deadline{};
  asio::steady_timer restart_timer, kill_timer, group_timer;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::shared_ptr<PipeReader> out_reader, err_reader;
  std::shared_ptr<LogWriter> out_log, err_log;
  double cpu = 0;
  uint64_t memory = 0;
  uint64_t last_ticks = 0;
  TimePoint last_sample{};
  std::unique_ptr<InstanceProbes> probes;  // ready, health, watchdog
  std::unique_ptr<NotifySocket> notify;    // ready.notify: the child's NOTIFY_SOCKET
  pid_t pre_start_pid = 0;                 // its pre_start command, while it runs
  pid_t post_start_pid = 0;                // its post_start command, while it runs
  bool pre_start_passed = false;           // the next spawn runs the program itself

  bool running() const { return pid > 0; }
};

// `tend reload` of one app: what ReloadCoordinator decided, and the replacements it had
// started (by slot), with the callers waiting for its end.
struct ReloadJob {
  explicit ReloadJob(ReloadCoordinator c) : coordinator(std::move(c)) {}
  ReloadCoordinator coordinator;
  std::map<int, std::unique_ptr<Instance>> replacements;
  std::vector<std::function<void(std::vector<std::string>)>> done;
  bool poll_armed = false;  // a drain is polled (see kDrainPoll)
};

struct App {
  int64_t id = 0;
  AppSpec spec;
  bool desired_running = false;
  std::vector<std::unique_ptr<Instance>> instances;
  std::unique_ptr<ReloadJob> reload;
  // on_demand.socket_activation or share_port: socket: bound once, kept across restarts
  UniqueFd activation_socket;
  std::optional<AppSpec> pending_spec;  // replace the spec once every instance stopped
  bool start_after_update = false;
  bool pending_delete = false;
  bool awaiting_deps = false;  // a start waits for depends_on (the next spawn is gated)
  // Started by startDependencies() for an app that needed it, not by the user: an idle stop
  // of that app stops it too when nothing else needs it (stopIdle()). Not kept across a
  // daemon restart.
  bool started_as_dependency = false;
  std::unique_ptr<FileWatcher> watcher;  // `watch`, while the app should run
};

// What a command's reply waits for: `online` (start --wait): every instance online, not
// just spawned; `rounds`: how many stops in a row it may take (levels of dependencies).
struct WaitFor {
  bool online = false;
  int rounds = 1;
};

bool settledStatus(Status s) {
  return s != Status::Starting && s != Status::Stopping;
}

std::string instanceLogPath(const std::string& configured, const std::string& dir,
                            const AppSpec& spec, int index, const char* kind) {
  if (configured.empty()) return fmt::format("{}/{}-{}-{}.log", dir, spec.name, index, kind);
  if (spec.instances <= 1 && !spec.instances_max) return configured;
  size_t slash = configured.rfind('/');
  size_t dot = configured.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return fmt::format("{}-{}", configured, index);
  return fmt::format("{}-{}{}", configured.substr(0, dot), index, configured.substr(dot));
}

int instanceCount(const AppSpec& spec) {
  if (spec.instances_max) return std::max(1u, std::thread::hardware_concurrency());
  return std::max(1, spec.instances);
}

}  // namespace

class Supervisor::Impl {
 public:
  explicit Impl(Deps d)
      : io_(d.io),
        paths_(d.paths),
        store_(d.store),
        ops_(d.ops),
        log_(d.log),
        clock_(d.clock),
        ports_(d.probe),
        sigchld_(d.io, SIGCHLD),
        sample_timer_(d.io),
        cron_timer_(d.io),
        recheck_timer_(d.io) {
    for (char** e = environ; e && *e; ++e) {
      std::string kv(*e);
      size_t eq = kv.find('=');
      // tend's own variables and the daemon's systemd plumbing are not the apps' to inherit.
      if (eq == std::string::npos || kv.starts_with("TEND_") || kv.starts_with("NOTIFY_SOCKET=") ||
          kv.starts_with("WATCHDOG_") || kv.starts_with("LISTEN_"))
        continue;
      base_env_[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    waitForChildren();
    scheduleSample();
  }

  ~Impl() {
    for (auto& app : apps_)
      for (auto& inst : app->instances) closeInstanceIo(*inst);
  }

  // ---- commands ------------------------------------------------------------------------

  void restore() {
    auto rows = store_.loadApps();
    if (!rows) {
      log_.error("cannot load apps from the state database: {}", rows.error());
      return;
    }
    auto instance_rows = store_.loadInstances();
    std::map<std::pair<int64_t, int>, StateStore::InstanceRow> by_key;
    if (instance_rows)
      for (const auto& r : *instance_rows) by_key[{r.app_id, r.index}] = r;
    else
      log_.error("cannot load instances from the state database: {}", instance_rows.error());

    for (const auto& row : *rows) {
      auto spec = validateApp(fromJson(row.spec), "", "/");
      if (!spec) {
        log_.error("app '{}' in the state database is not valid any more, not started: {}",
                   row.name, spec.error().front().format());
        continue;
      }
      auto app = std::make_unique<App>();
      app->id = row.id;
      app->spec = *spec;
      app->desired_running = row.desired_running;
      buildInstances(*app);
      std::vector<uint16_t> held;
      for (auto& inst : app->instances) {
        auto it = by_key.find({app->id, inst->index});
        if (it == by_key.end()) continue;
        if (it->second.port) {
          inst->port = static_cast<uint16_t>(it->second.port);
          held.push_back(inst->port);
        }
        adoptIfAlive(*inst, it->second);
        by_key.erase(it);
      }
      ports_.claim(app->spec.name, held);
      apps_.push_back(std::move(app));
    }
    // Processes recorded for instances that no longer exist (a reload's replacement among
    // them): stop them, never orphan them.
    std::set<pid_t> known;
    for (const auto& [key, row] : by_key) {
      if (row.pid > 0 && processStartTicks(row.pid) == row.start_ticks) {
        log_.warn("stopping leftover process {} (app id {}, {} {})", row.pid, row.app_id,
                  row.index >= kReplacementKey ? "a reload's new instance" : "instance",
                  row.index % kReplacementKey);
        killLeftover(row.pid);
        known.insert(row.pid);
      }
      (void)store_.removeInstance(row.app_id, row.index);
    }
    for (const auto& app : apps_)
      for (const auto& inst : app->instances)
        if (inst->adopted) known.insert(inst->pid);
    stopUnrecorded(known);
    for (auto& app : apps_) {
      App& a = *app;
      if (a.desired_running) startDependencies(a);
      syncWatcher(a);
      if (a.desired_running || a.spec.on_demand) {
        if (auto err = allocatePorts(a); !err.empty()) log_.warn("{}", err);
      }
      for (auto& inst : a.instances) {
        if (inst->adopted) {
          log_.info("{}[{}]: found pid {} from before the daemon restarted; replacing it",
                    a.spec.name, inst->index, inst->pid);
          apply(a, *inst, a.desired_running ? inst->machine.restart() : inst->machine.stop());
        } else if (a.desired_running) {
          apply(a, *inst, inst->machine.start());
        }
      }
    }
    armCron();
  }

  void applySpecs(std::vector<Supervisor::Apply> items, Reply done, bool wait = false) {
    sortByDependencies(items);
    // Errors of the reloads an apply starts: its reply waits for them (see settled()).
    auto reload_errors = std::make_shared<std::vector<std::string>>();
    done = [reload_errors, done = std::move(done)](const Result& r) {
      if (r && !reload_errors->empty()) {
        done(std::unexpected(join(*reload_errors, "; ")));
        return;
      }
      done(r);
    };
    std::set<int64_t> touched;
    std::vector<std::string> errors;
    for (auto& item : items) {
      App* app = findByName(item.spec.name);
      if (!app) {
        auto id = store_.insertApp(item.spec.name, toJson(item.spec), item.run);
        if (!id) {
          errors.push_back(fmt::format("{}: {}", item.spec.name, id.error()));
          continue;
        }
        auto fresh = std::make_unique<App>();
        fresh->id = *id;
        fresh->spec = item.spec;
        buildInstances(*fresh);
        app = fresh.get();
        apps_.push_back(std::move(fresh));
        log_.info("{}: added (id {})", app->spec.name, app->id);
        faultPoint("start-registered");
        touched.insert(app->id);
        // An on-demand app's port is its route's target: assign it now, not at first start.
        if (!item.run && app->spec.on_demand) {
          if (auto err = allocatePorts(*app); !err.empty()) errors.push_back(err);
        }
        appsChanged();
        if (item.run) {
          if (auto err = startApp(*app); !err.empty()) errors.push_back(err);
        }
        continue;
      }
      touched.insert(app->id);
      if (app->spec.group != item.spec.group) {
        AppSpec relabelled = app->spec;
        relabelled.group = item.spec.group;
        if (relabelled == item.spec) {
          // Only the group changed: a label, stored; no process is touched for it.
          if (auto r = store_.updateApp(app->id, toJson(relabelled), app->desired_running); !r) {
            errors.push_back(fmt::format("{}: {}", item.spec.name, r.error()));
            continue;
          }
          log_.info("{}: group is now '{}'", app->spec.name, item.spec.group);
          app->spec = std::move(relabelled);
          appsChanged();
        }
      }
      if (!(app->spec == item.spec) && canReloadInto(*app, item)) {
        // Only what a new process picks up changed: replaced one at a time, no downtime.
        if (auto r = store_.updateApp(app->id, toJson(item.spec), true); !r) {
          errors.push_back(fmt::format("{}: {}", item.spec.name, r.error()));
          continue;
        }
        log_.info("{}: configuration changed; reloading", app->spec.name);
        app->spec = item.spec;
        appsChanged();
        reload(app->spec.name, [reload_errors](const Result& r) {
          if (!r) reload_errors->push_back(r.error());
        });
      } else if (!(app->spec == item.spec)) {
        (void)store_.updateApp(app->id, toJson(item.spec), item.run);
        log_.info("{}: configuration changed", app->spec.name);
        abortReload(*app, "its configuration changed");
        app->pending_spec = item.spec;
        app->start_after_update = item.run;
        app->desired_running = item.run;
        for (auto& inst : app->instances) apply(*app, *inst, inst->machine.stop());
        finishPendingIfStopped(*app);
      } else if (item.run) {
        if (auto err = startApp(*app); !err.empty()) errors.push_back(err);
      } else {
        // A reload of a config that keeps an app stopped (e.g. on_demand) leaves it as it is.
      }
    }
    replyWhenSettled(touched, std::move(errors), std::move(done), {.online = wait});
  }

  // A changed spec is reloaded into a running app when only what a new process picks up
  // changed (see reloadable()) and there is something online to keep serving.
  bool canReloadInto(const App& app, const Supervisor::Apply& item) const {
    return item.run && app.desired_running && anyOnline(app) && !isExternal(app) && !app.reload &&
           !app.pending_spec && !app.pending_delete && reloadable(specChanges(app.spec, item.spec));
  }

  void command(const std::string& verb, const std::string& target, Reply done, bool wait = false) {
    auto targets = resolve(target);
    if (!targets) {
      done(std::unexpected(targets.error()));
      return;
    }
    std::set<int64_t> ids;
    std::vector<std::string> errors;
    if ((verb == "stop" || verb == "delete") && targets->size() > 1) {
      // Dependents first, each level once the one before it has stopped.
      for (App* app : *targets) ids.insert(app->id);
      int levels = stopInOrder(*targets, [this, verb](App& app) {
        abortReload(app, fmt::format("{} all", verb));
        setDesired(app, false);
        if (verb == "delete") app.pending_delete = true;
        for (auto& inst : app.instances) apply(app, *inst, inst->machine.stop());
        finishPendingIfStopped(app);
      });
      replyWhenSettled(ids, std::move(errors), std::move(done), {.rounds = levels});
      return;
    }
    for (App* app : *targets) {
      if (app->reload) {
        errors.push_back(
            fmt::format("{} is being reloaded; try again once that is done", app->spec.name));
        continue;
      }
      ids.insert(app->id);
      if (verb == "start") {
        if (auto err = startApp(*app); !err.empty()) errors.push_back(err);
      } else if (verb == "stop") {
        setDesired(*app, false);
        for (auto& inst : app->instances) apply(*app, *inst, inst->machine.stop());
      } else if (verb == "restart") {
        if (auto err = allocatePorts(*app); !err.empty()) {
          errors.push_back(err);
          continue;
        }
        setDesired(*app, true);
        app->started_as_dependency = false;  // the user wants it running
        startDependencies(*app);
        for (auto& inst : app->instances) {
          if (inst->running()) ++inst->restarts;
          apply(*app, *inst, inst->machine.restart());
        }
      } else if (verb == "delete") {
        setDesired(*app, false);
        app->pending_delete = true;
        for (auto& inst : app->instances) apply(*app, *inst, inst->machine.stop());
        finishPendingIfStopped(*app);
      }
    }
    replyWhenSettled(ids, std::move(errors), std::move(done), {.online = wait && verb == "start"});
  }

  json list() const {
    json out = json::array();
    for (const auto& app : apps_)
      for (const auto& inst : app->instances) out.push_back(instanceJson(*app, *inst));
    return out;
  }

  Result describe(const std::string& target) const {
    auto targets = const_cast<Impl*>(this)->resolve(target);
    if (!targets) return std::unexpected(targets.error());
    json out = json::array();
    for (App* app : *targets) {
      json a;
      a["name"] = app->spec.name;
      a["id"] = app->id;
      a["group"] = app->spec.group.empty() ? json(nullptr) : json(app->spec.group);
      a["desired"] = app->desired_running ? "running" : "stopped";
      a["spec"] = toJson(app->spec);
      // A proxy-only route runs nothing: its "command" says where it sends requests.
      a["command"] = isRouteOnly(app->spec) ? "route to " + app->spec.on_demand->target
                     : app->spec.run_shell  ? app->spec.argv.back()
                                            : [&] {
                                               std::vector<std::string> words;
                                               for (const auto& w : app->spec.argv)
                                                 words.push_back(shellQuote(w));
                                               return join(words, " ");
                                             }();
      a["cwd"] = app->spec.cwd;
      json env_keys = json::array();
      for (const auto& [k, v] : app->spec.env) env_keys.push_back(k);
      a["env_keys"] = env_keys;
      a["instances"] = json::array();
      for (const auto& inst : app->instances) {
        json i = instanceJson(*app, *inst);
        i["out_log"] = inst->out_log->path();
        i["err_log"] = inst->err_log->path();
        if (!inst->out_log->lastError().empty()) i["log_error"] = inst->out_log->lastError();
        if (!inst->err_log->lastError().empty()) i["log_error"] = inst->err_log->lastError();
        i["log_dropped_lines"] = inst->out_log->droppedLines() + inst->err_log->droppedLines();
        i["started_at"] = inst->started_wall ? formatTimestamp(inst->started_wall) : "";
        i["probes"] = inst->probes->describe();
        a["instances"].push_back(i);
      }
      json history = json::array();
      if (auto rows = store_.restarts(app->id, 20)) {
        for (const auto& r : *rows)
          history.push_back({{"instance", r.index},
                             {"at", formatTimestamp(r.at_ms)},
                             {"reason", r.reason},
                             {"exit_code", r.exit_code},
                             {"signal", r.signal ? signalName(r.signal) : ""}});
      }
      a["restart_history"] = history;
      out.push_back(a);
    }
    return out;
  }

  Result logFiles(const std::string& target) const {
    auto targets = const_cast<Impl*>(this)->resolve(target);
    if (!targets) return std::unexpected(targets.error());
    json out = json::array();
    for (App* app : *targets)
      for (const auto& inst : app->instances)
        out.push_back({{"name", app->spec.name},
                       {"instance", inst->index},
                       {"out", inst->out_log->path()},
                       {"err", inst->err_log->path()},
                       {"timestamps", app->spec.logs.timestamps}});
    return out;
  }

  Result flush(const std::string& target) {
    auto targets = resolve(target);
    if (!targets) return std::unexpected(targets.error());
    json out = json::array();
    std::vector<std::string> errors;
    for (App* app : *targets)
      for (auto& inst : app->instances)
        for (auto* writer : {inst->out_log.get(), inst->err_log.get()}) {
          if (auto r = writer->truncate(); !r) errors.push_back(r.error());
          out.push_back(writer->path());
        }
    if (!errors.empty()) return std::unexpected(join(errors, "; "));
    return out;
  }

  json dump() const {
    json apps = json::array();
    for (const auto& app : apps_)
      apps.push_back({{"spec", toJson(app->spec)}, {"running", app->desired_running}});
    return {{"version", 1}, {"apps", apps}};
  }

  std::optional<Supervisor::AppSnapshot> snapshot(const std::string& name) const {
    for (const auto& app : apps_)
      if (app->spec.name == name) return snapshotOf(*app);
    return std::nullopt;
  }

  std::vector<Supervisor::AppSnapshot> snapshots() const {
    std::vector<Supervisor::AppSnapshot> out;
    for (const auto& app : apps_) out.push_back(snapshotOf(*app));
    return out;
  }

  std::optional<std::vector<Status>> statuses(const std::string& name) const {
    for (const auto& app : apps_) {
      if (app->spec.name != name) continue;
      std::vector<Status> out;
      for (const auto& inst : app->instances) out.push_back(inst->machine.status());
      return out;
    }
    return std::nullopt;
  }
  bool reloading(const std::string& name) const {
    for (const auto& app : apps_)
      if (app->spec.name == name) return app->reload != nullptr;
    return false;
  }
  void onInstanceOnline(std::function<void(const std::string&)> hook) {
    instance_online_ = std::move(hook);
  }
  void onStartFailed(std::function<void(const std::string&, const std::string&)> hook) {
    start_failed_ = std::move(hook);
  }

  void onAppsChanged(std::function<void()> hook) { apps_changed_ = std::move(hook); }
  void onEvent(std::function<void(const json&)> hook) { event_ = std::move(hook); }
  void onLogLine(std::function<void(const std::string&, int, bool, std::string_view)> hook) {
    log_line_ = std::move(hook);
  }

  void shutdown(bool forget, std::function<void()> done) {
    std::set<int64_t> ids;
    std::vector<App*> all;
    for (auto& app : apps_) {
      ids.insert(app->id);
      abortReload(*app, "the daemon is stopping");
      all.push_back(app.get());
    }
    // Dependents first, each level once the one before it has stopped.
    int levels = stopInOrder(all, [this, forget](App& app) {
      if (forget) setDesired(app, false);
      for (auto& inst : app.instances) apply(app, *inst, inst->machine.stop());
    });
    Reply reply = [done = std::move(done)](Result) { done(); };
    replyWhenSettled(ids, {}, std::move(reply), {.rounds = levels});
  }

 private:
  static Supervisor::AppSnapshot snapshotOf(const App& app) {
    Supervisor::AppSnapshot snap;
    snap.spec = app.spec;
    snap.desired_running = app.desired_running;
    for (const auto& inst : app.instances) {
      snap.statuses.push_back(inst->machine.status());
      snap.ports.push_back(inst->port);
      if (!inst->machine.lastReason().empty()) snap.last_reason = inst->machine.lastReason();
    }
    return snap;
  }

  void appsChanged() {
    armCron();
    if (!apps_changed_) return;
    asio::post(io_, [this] {
      if (apps_changed_) apps_changed_();
    });
  }

  // ---- lookup ----------------------------------------------------------------------------

  App* findByName(const std::string& name) {
    for (auto& a : apps_)
      if (a->spec.name == name) return a.get();
    return nullptr;
  }
  App* findById(int64_t id) {
    for (auto& a : apps_)
      if (a->id == id) return a.get();
    return nullptr;
  }
  // The instance with lookup key `key` (see kReplacementKey): a slot's instance, or the
  // replacement a reload runs beside it.
  Instance* findInstance(int64_t app_id, int key, App** app_out = nullptr) {
    App* app = findById(app_id);
    if (!app || key < 0) return nullptr;
    if (app_out) *app_out = app;
    const int slot = key % kReplacementKey;
    if (slot < static_cast<int>(app->instances.size()) &&
        app->instances[static_cast<size_t>(slot)]->key == key)
      return app->instances[static_cast<size_t>(slot)].get();
    if (app->reload)
      for (auto& [slot, fresh] : app->reload->replacements)
        if (fresh->key == key) return fresh.get();
    return nullptr;
  }

  std::expected<std::vector<App*>, std::string> resolve(const std::string& target) {
    std::vector<TargetApp> view;
    view.reserve(apps_.size());
    for (auto& a : apps_) view.push_back({a->spec.name, a->id, a->spec.group});
    auto picked = resolveTarget(target, view);
    if (!picked) return std::unexpected(picked.error());
    std::vector<App*> out;
    for (size_t i : *picked) out.push_back(apps_[i].get());
    return out;
  }

  // ---- building and starting -------------------------------------------------------------

  void buildInstances(App& app) {
    for (auto& inst : app.instances) closeInstanceIo(*inst);
    app.instances.clear();
    int count = instanceCount(app.spec);
    for (int i = 0; i < count; ++i) app.instances.push_back(makeInstance(app, i));
  }

  std::unique_ptr<Instance> makeInstance(const App& app, int i) {
    auto inst = std::make_unique<Instance>(io_, app.spec, i, i);
    const LogSpec& logs = app.spec.logs;
    inst->out_log =
        std::make_shared<LogWriter>(instanceLogPath(logs.out_file, paths_.logs, app.spec, i, "out"),
                                    logs.timestamps, logs.max_size, logs.max_files);
    inst->err_log =
        std::make_shared<LogWriter>(instanceLogPath(logs.err_file, paths_.logs, app.spec, i, "err"),
                                    logs.timestamps, logs.max_size, logs.max_files);
    // A log that cannot be written never stops the app; the daemon's log says so.
    std::string who = fmt::format("{}[{}]", app.spec.name, i);
    for (auto* writer : {inst->out_log.get(), inst->err_log.get()})
      writer->setStatusHandler(
          [this, who](const std::string& what) { log_.warn("{}: {}", who, what); });
    if (logs.format == LogFormat::Json) {
      inst->out_log->setJson(app.spec.name, i, "out");
      inst->err_log->setJson(app.spec.name, i, "err");
    }
    makeProbes(app, *inst);
    return inst;
  }

 public:
  void scale(const std::string& name, int count, Reply done) {
    App* app = findByName(name);
    if (!app) {
      done(std::unexpected(fmt::format("no app named '{}'", name)));
      return;
    }
    if (count < 1 || count > 1024) {
      done(std::unexpected("instances must be from 1 to 1024 (use stop for none)"));
      return;
    }
    if (app->reload) {
      done(std::unexpected(fmt::format("{} is being reloaded; try again once that is done", name)));
      return;
    }
    if (isExternal(*app) || app->pending_spec || app->pending_delete) {
      done(std::unexpected(fmt::format(
          "{} cannot be scaled {}", name,
          isExternal(*app) ? "(tend does not spawn it)" : "while its configuration changes")));
      return;
    }
    AppSpec spec = app->spec;
    spec.instances = count;
    spec.instances_max = false;
    if (auto checked = validateApp(fromJson(toJson(spec)), "", "/"); !checked) {
      done(std::unexpected(fmt::format("{}: {}", name, checked.error().front().message)));
      return;
    }
    const int old = static_cast<int>(app->instances.size());
    std::vector<uint16_t> ports;
    if (count > old) {
      // Each instance keeps its port; the new ones get theirs by index, never a sibling's.
      auto got = ports_.allocate(name, spec.port, count);
      if (!got) {
        done(std::unexpected(fmt::format("{}: {}; nothing was changed", name, got.error())));
        return;
      }
      ports = std::move(*got);
    }
    if (auto r = store_.updateApp(app->id, toJson(spec), app->desired_running); !r) {
      (void)ports_.allocate(name, app->spec.port, old);
      done(
          std::unexpected(fmt::format("{}: cannot record the new instance count ({}); nothing "
                                      "was changed",
                                      name, r.error())));
      return;
    }
    faultPoint("scale-recorded");
    app->spec = spec;
    if (count > old) {
      for (int i = old; i < count; ++i) app->instances.push_back(makeInstance(*app, i));
      for (int i = old; i < count; ++i)
        app->instances[static_cast<size_t>(i)]->port =
            ports.empty() ? 0 : ports[static_cast<size_t>(i)];
      if (app->desired_running)
        for (int i = old; i < count; ++i)
          apply(*app, *app->instances[static_cast<size_t>(i)],
                app->instances[static_cast<size_t>(i)]->machine.start());
      faultPoint("scale-started");
    } else {
      for (int i = count; i < old; ++i)
        apply(*app, *app->instances[static_cast<size_t>(i)],
              app->instances[static_cast<size_t>(i)]->machine.stop());
    }
    log_.info("{}: scaled from {} to {} instances", name, old, count);
    appsChanged();
    int64_t id = app->id;
    replyWhenSettled({id}, {}, [this, id, count, done = std::move(done)](Result r) {
      // The stopped extra instances go once they have settled.
      if (App* a = findById(id); a && static_cast<int>(a->instances.size()) > count) {
        bool removable = true;
        for (size_t i = static_cast<size_t>(count); i < a->instances.size(); ++i)
          removable = removable && !a->instances[i]->running() &&
                      settledStatus(a->instances[i]->machine.status());
        if (removable) {
          for (size_t i = static_cast<size_t>(count); i < a->instances.size(); ++i) {
            closeInstanceIo(*a->instances[i]);
            (void)store_.removeInstance(a->id, a->instances[i]->index);
          }
          a->instances.resize(static_cast<size_t>(count));
          (void)ports_.allocate(a->spec.name, a->spec.port, count);
          appsChanged();
        }
      }
      done(r ? Result(list()) : r);
    });
  }

 private:
  // Ports for every instance; "" or the reason they cannot be had.
  // Ports for every instance; "" or the reason they cannot be had. Running instances keep
  // the ports they hold; one without a port (a scale the daemon died in the middle of) gets
  // the one its index is due.
  std::string allocatePorts(App& app) {
    bool all_have = true;
    for (auto& inst : app.instances)
      all_have = all_have && (inst->running() || app.spec.port.kind == PortSpec::Kind::None);
    if (all_have) return "";
    auto ports =
        ports_.allocate(app.spec.name, app.spec.port, static_cast<int>(app.instances.size()));
    if (!ports) return fmt::format("{}: {}", app.spec.name, ports.error());
    for (size_t i = 0; i < app.instances.size(); ++i)
      if (!app.instances[i]->running() || !app.instances[i]->port)
        app.instances[i]->port = ports->empty() ? 0 : (*ports)[i];
    return "";
  }

  std::string startApp(App& app) {
    app.started_as_dependency = false;  // a start of its own (startDependencies sets it after)
    if (auto err = allocatePorts(app); !err.empty()) {
      log_.warn("{}", err);
      return err;
    }
    setDesired(app, true);
    startDependencies(app);
    for (auto& inst : app.instances) apply(app, *inst, inst->machine.start());
    return "";
  }

  void setDesired(App& app, bool running) {
    if (app.desired_running == running) return;
    app.desired_running = running;
    syncWatcher(app);
    if (auto r = store_.setDesired(app.id, running); !r)
      log_.error("{}: cannot record desired state: {}", app.spec.name, r.error());
  }

  std::vector<std::string> childEnv(const App& app, const Instance& inst) const {
    // The environment of the `tend start` that created the app (already filtered as
    // base_env_ is: see inheritableVariable), else the daemon's own.
    const auto& inherited = app.spec.inherited_env;
    std::map<std::string, std::string> env =
        inherited ? std::map<std::string, std::string>(inherited->begin(), inherited->end())
                  : base_env_;
    for (const auto& [k, v] : app.spec.env) env[k] = v;
    env["TEND_APP_NAME"] = app.spec.name;
    // Marks every process this daemon starts (inherited by theirs), so that one left by a
    // daemon that died before it could record it is found when the next one starts.
    env[std::string(kSupervisedByVariable)] = paths_.home;
    env["TEND_INSTANCE"] = std::to_string(inst.index);
    env["NODE_APP_INSTANCE"] = std::to_string(inst.index);  // PM2's name for it
    env["TEND_INSTANCES"] = std::to_string(app.instances.size());
    if (inst.port) {
      env["PORT"] = std::to_string(inst.port);
      env["TEND_PORT"] = std::to_string(inst.port);
    }
    if (app.spec.share_port == SharePort::ReusePort) env["TEND_REUSE_PORT"] = "1";
    if (!app.spec.user.empty()) {
      if (auto account = lookupUser(app.spec.user)) {
        env["HOME"] = account->home;
        env["USER"] = account->name;
        env["LOGNAME"] = account->name;
      }
    }
    if (inst.notify) {
      env["NOTIFY_SOCKET"] = inst.notify->address();
      if (app.spec.ready->watchdog.count() > 0)
        env["WATCHDOG_USEC"] = std::to_string(app.spec.ready->watchdog.count() * 1000);
    }
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
  }

  // The user and priority an app's processes get (`user`, `nice`): "" or why they cannot
  // be had. A daemon that is not root runs everything as itself, so a `user` naming
  // anyone else is an error, never a silent run as the daemon's user.
  std::string applyIdentity(const App& app, SpawnRequest& req) const {
    req.nice = app.spec.nice;
    if (app.spec.user.empty()) return "";
    auto account = lookupUser(app.spec.user);
    if (!account) return fmt::format("user: no user named '{}' on this machine", app.spec.user);
    const uid_t me = ::geteuid();
    if (me == 0) {
      req.identity = SpawnRequest::Identity{account->uid, account->gid, account->groups};
      return "";
    }
    if (account->uid == me) return "";  // already that user
    return fmt::format(
        "user: cannot run as '{}' (uid {}): the daemon runs as uid {}, not root (run tend as "
        "root to switch users)",
        account->name, account->uid, me);
  }

  void spawn(App& app, Instance& inst) {
    if (app.awaiting_deps && !dependenciesAllow(app, inst)) return;
    if (SpawnRequest check; !applyIdentity(app, check).empty()) {
      refuse(app, inst, applyIdentity(app, check));  // before its pre_start runs
      return;
    }
    if (!app.spec.pre_start.empty() && !inst.pre_start_passed) {
      runPreStart(app, inst);
      return;
    }
    inst.pre_start_passed = false;
    if (isExternal(app)) {
      startExternal(app, inst);
      return;
    }
    UniqueFd out_r, out_w, err_r, err_w;
    if (!makePipe(out_r, out_w) || !makePipe(err_r, err_w)) {
      spawnFailed(app, inst, fmt::format("cannot create pipes: {}", std::strerror(errno)));
      return;
    }
    SpawnRequest req;
    req.argv = app.spec.argv;
    req.cwd = app.spec.cwd;
    req.env = childEnv(app, inst);
    req.stdout_fd = out_w.get();
    req.stderr_fd = err_w.get();
    if (auto err = applyIdentity(app, req); !err.empty()) {
      refuse(app, inst, err);
      return;
    }
    if ((app.spec.on_demand && app.spec.on_demand->socket_activation) ||
        app.spec.share_port == SharePort::Socket) {
      if (auto err = ensureActivationSocket(app, inst); !err.empty()) {
        spawnFailed(app, inst, err);
        return;
      }
      req.listen_fd = app.activation_socket.get();
    }
    auto pid = ops_.spawn(req);
    out_w.reset();
    err_w.reset();
    if (!pid) {
      spawnFailed(app, inst, pid.error());
      return;
    }
    inst.pid = *pid;
    inst.run = ++runs_;
    inst.adopted = false;
    inst.start_ticks = processStartTicks(*pid).value_or(0);
    faultPoint("spawn-unrecorded");
    // A process the store cannot record (a full disk) runs all the same, so that a full disk
    // costs no app: its environment carries kSupervisedByVariable, so a daemon restarted
    // before its row is written still finds and stops it (restore()), and the row is
    // written at the next sample that can.
    inst.unrecorded = false;
    if (auto recorded = recordInstance(app, inst); !recorded) {
      log_.warn(
          "{}[{}]: cannot record pid {} in the state database ({}); it runs, and is "
          "recorded as soon as the database can be written",
          app.spec.name, inst.index, *pid, recorded.error());
      inst.unrecorded = true;
    }
    faultPoint("spawn-recorded");
    inst.started_at = clock_.now();
    inst.started_wall = clock_.wallMillis();
    inst.cpu = 0;
    inst.memory = 0;
    inst.last_ticks = 0;
    by_pid_[*pid] = {app.id, inst.key};
    inst.out_reader = std::make_shared<PipeReader>(io_, std::move(out_r), inst.out_log, clock_);
    inst.err_reader = std::make_shared<PipeReader>(io_, std::move(err_r), inst.err_log, clock_);
    if (log_line_) {
      inst.out_reader->observe([this, name = app.spec.name, index = inst.index](auto line) {
        if (log_line_) log_line_(name, index, false, line);
      });
      inst.err_reader->observe([this, name = app.spec.name, index = inst.index](auto line) {
        if (log_line_) log_line_(name, index, true, line);
      });
    }
    inst.out_reader->start();
    inst.err_reader->start();
    sampleSoon();
    if (app.watcher) app.watcher->settle();
    log_.info("{}[{}]: started pid {}", app.spec.name, inst.index, *pid);
    apply(app, inst, inst.machine.spawned());  // its ready probe decides when it is online
  }

  // Socket activation: tend binds the app's port itself, once, and every process of the app
  // gets the listening socket as fd 3, so a connection made while it boots (or restarts)
  // waits in the backlog instead of being refused. An on-demand app's socket is on
  // loopback (the gateway is its front); share_port: socket binds every address, as the
  // app itself would.
  std::string ensureActivationSocket(App& app, const Instance& inst) {
    if (app.activation_socket) return "";
    if (!inst.port) return "socket_activation needs the app's port";
    const bool any = app.spec.share_port == SharePort::Socket;
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(inst.port);
    addr.sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd.get(), SOMAXCONN) != 0)
      return fmt::format("cannot listen on {}:{} for {}: {}", any ? "0.0.0.0" : "127.0.0.1",
                         inst.port, any ? "share_port" : "socket activation", std::strerror(errno));
    app.activation_socket = std::move(fd);
    return "";
  }

  // ---- apps tend does not spawn (start / stop / check commands) ---------------------------

  // Not spawned by tend: a service with a start command, or a proxy-only route (nothing to
  // start at all: online at once, with no pid).
  static bool isExternal(const App& app) {
    return !app.spec.start_cmd.empty() || isRouteOnly(app.spec);
  }

  // `command` under /bin/sh -c with the app's cwd and env (an instance's helper commands).
  SpawnRequest shellRequest(const App& app, const Instance& inst,
                            const std::string& command) const {
    SpawnRequest req;
    req.argv = {"/bin/sh", "-c", command};
    req.cwd = app.spec.cwd;
    req.env = childEnv(app, inst);
    return req;
  }

  // What a helper command (runHelper) left besides its exit: whether it was killed for
  // running past its limit, and the last line it wrote to stderr.
  struct HelperTrace {
    bool timed_out = false;
    std::string last_err_line;
  };

  // Runs `command` under /bin/sh -c with the app's env, cwd, user and nice, its output in
  // the instance's logs. `done` gets its exit; a command still running after `limit` is
  // killed (`trace`, when given, then says so). Returns its pid, 0 when it could not start.
  pid_t runHelper(App& app, Instance& inst, const std::string& what, const std::string& command,
                  Duration limit, std::function<void(ExitStatus)> done,
                  std::shared_ptr<HelperTrace> trace = nullptr) {
    UniqueFd out_r, out_w, err_r, err_w;
    if (!makePipe(out_r, out_w) || !makePipe(err_r, err_w)) {
      done(ExitStatus{});
      return 0;
    }
    SpawnRequest req = shellRequest(app, inst, command);
    req.stdout_fd = out_w.get();
    req.stderr_fd = err_w.get();
    std::expected<pid_t, std::string> pid = std::unexpected(applyIdentity(app, req));
    if (pid.error().empty()) pid = ops_.spawn(req);  // else: why it cannot run as `user`
    out_w.reset();
    err_w.reset();
    if (!pid) {
      inst.err_log->write(fmt::format("tend: {} command: {}", what, pid.error()),
                          clock_.wallMillis());
      if (trace) trace->last_err_line = pid.error();
      done(ExitStatus{});
      return 0;
    }
    log_.info("{}: running its {} command (pid {})", app.spec.name, what, *pid);
    std::make_shared<PipeReader>(io_, std::move(out_r), inst.out_log, clock_)->start();
    auto err_reader = std::make_shared<PipeReader>(io_, std::move(err_r), inst.err_log, clock_);
    if (trace)
      err_reader->observe([trace](std::string_view line) {
        if (!trim(line).empty()) trace->last_err_line = printableText(line.substr(0, 300));
      });
    err_reader->start();
    auto timer = std::make_shared<asio::steady_timer>(io_, limit);
    pid_t p = *pid;
    timer->async_wait([this, p, trace](boost::system::error_code ec) {
      if (ec || !helpers_.count(p)) return;
      if (trace) trace->timed_out = true;
      ops_.signalGroup(p, SIGKILL);
    });
    helpers_[p] = [timer, done = std::move(done)](ExitStatus exit) {
      timer->cancel();
      done(exit);
    };
    return p;
  }

  // ---- lifecycle hooks (pre_start, post_start) -------------------------------------------

  // pre_start, before every spawn of the instance: the spawn goes on when it exits 0; any
  // other end leaves the instance errored with the reason. The instance is `starting`
  // meanwhile, with no process.
  void runPreStart(App& app, Instance& inst) {
    killHooks(inst);
    const uint64_t run = inst.run = ++runs_;
    auto trace = std::make_shared<HelperTrace>();
    auto current = [this, id = app.id, key = inst.key, run](App*& a) -> Instance* {
      Instance* i = findInstance(id, key, &a);
      if (!i || i->run != run || i->machine.status() != Status::Starting || i->running())
        return nullptr;
      return i;
    };
    auto finished = [this, current, trace](ExitStatus exit) {
      App* a = nullptr;
      Instance* i = current(a);
      if (!i) return;
      i->pre_start_pid = 0;
      if (exit.clean()) {
        i->pre_start_passed = true;
        spawn(*a, *i);
        return;
      }
      // Its last words may still be in its pipe: read them first (as exec probes do).
      auto grace = std::make_shared<asio::steady_timer>(io_, kProbeOutputGrace);
      grace->async_wait([this, current, trace, exit, grace](boost::system::error_code) {
        App* a = nullptr;
        Instance* i = current(a);
        if (!i) return;
        std::string why = trace->timed_out ? fmt::format("pre_start timed out after {}",
                                                         formatDuration(kHookTimeout))
                                           : fmt::format("pre_start {}", exit.describe());
        if (!trace->last_err_line.empty()) why += ": " + trace->last_err_line;
        refuse(*a, *i, why);
      });
    };
    inst.pre_start_pid =
        runHelper(app, inst, "pre_start", app.spec.pre_start, kHookTimeout, finished, trace);
  }

  // post_start, once the instance is online: its failure is logged, the app runs on.
  void runPostStart(App& app, Instance& inst) {
    if (inst.post_start_pid > 0 && helpers_.count(inst.post_start_pid))
      ops_.signalGroup(inst.post_start_pid, SIGKILL);
    auto trace = std::make_shared<HelperTrace>();
    const std::string who = fmt::format("{}[{}]", app.spec.name, inst.index);
    auto finished = [this, id = app.id, key = inst.key, run = inst.run, trace,
                     who](ExitStatus exit) {
      App* a = nullptr;
      Instance* i = findInstance(id, key, &a);
      if (i && i->run == run) i->post_start_pid = 0;
      if (exit.clean()) return;
      // Its last words may still be in its pipe: read them first.
      auto grace = std::make_shared<asio::steady_timer>(io_, kProbeOutputGrace);
      grace->async_wait([this, id, key, trace, who, exit, grace](boost::system::error_code) {
        std::string why = trace->timed_out ? fmt::format("post_start timed out after {}",
                                                         formatDuration(kHookTimeout))
                                           : fmt::format("post_start {}", exit.describe());
        if (!trace->last_err_line.empty()) why += ": " + trace->last_err_line;
        log_.warn("{}: {} (the app runs on)", who, why);
        App* a = nullptr;
        if (Instance* i = findInstance(id, key, &a))
          i->err_log->write("tend: " + why, clock_.wallMillis());
      });
    };
    inst.post_start_pid =
        runHelper(app, inst, "post_start", app.spec.post_start, kHookTimeout, finished, trace);
  }

  // Kills the instance's hook commands still running (it stops, restarts or goes away).
  void killHooks(Instance& inst, bool pre = true, bool post = true) {
    for (pid_t* p : {pre ? &inst.pre_start_pid : nullptr, post ? &inst.post_start_pid : nullptr}) {
      if (!p || *p <= 0) continue;
      if (helpers_.count(*p)) ops_.signalGroup(*p, SIGKILL);  // reaped with the helpers
      *p = 0;
    }
  }

  // Starting refused before the program ran (see InstanceMachine::refused). Posted, as
  // spawnFailed is.
  void refuse(App& app, Instance& inst, const std::string& why) {
    failStart(app, inst, why, /*refused=*/true);
  }

  // ---- probes ----------------------------------------------------------------------------

  void makeProbes(const App& app, Instance& inst) {
    const int64_t id = app.id;
    const int index = inst.index;  // what users see
    const int key = inst.key;      // what finds it (see kReplacementKey)
    auto withInstance = [this, id, key](auto fn) {
      return [this, id, key, fn](auto&&... args) {
        App* a = nullptr;
        if (Instance* i = findInstance(id, key, &a)) fn(*a, *i, args...);
      };
    };
    InstanceProbes::Hooks hooks;
    hooks.exec = [this, id, key](const std::string& command, Duration timeout, ProbeDone done) {
      App* a = nullptr;
      Instance* i = findInstance(id, key, &a);
      if (!i) return;
      runProbeCommand(*a, *i, command, timeout, std::move(done));
    };
    hooks.ready = withInstance([this](App& a, Instance& i) { apply(a, i, i.machine.ready()); });
    hooks.not_ready = withInstance([this](App& a, Instance& i, const std::string& why) {
      log_.warn("{}[{}]: {}", a.spec.name, i.index, why);
      apply(a, i, i.machine.notReady(why));
    });
    hooks.unhealthy = withInstance([this](App& a, Instance& i, const std::string& why) {
      log_.warn("{}[{}]: {}", a.spec.name, i.index, why);
      if (event_)
        event_({{"type", "health_failed"},
                {"event", "health_failed"},
                {"app", a.spec.name},
                {"instance", i.index},
                {"pid", i.pid},
                {"reason", why}});
      apply(a, i, i.machine.limitExceeded(why));
    });
    hooks.event = [this, name = app.spec.name, index](const json& e) {
      if (!event_) return;
      json out = e;
      out["type"] = "probe";
      out["app"] = name;
      out["instance"] = index;
      event_(out);
    };
    inst.probes = std::make_unique<InstanceProbes>(io_, clock_, std::move(hooks));
    if (!app.spec.ready || !app.spec.ready->notify || isExternal(app)) return;
    auto sock = NotifySocket::open(io_, fmt::format("tend-{}-{}-{}", ::getpid(), id, key),
                                   [this, id, key](pid_t sender, const NotifyMessage& message) {
                                     App* a = nullptr;
                                     Instance* i = findInstance(id, key, &a);
                                     // Only the instance's own processes (its process group) are
                                     // believed.
                                     if (!i || !i->running() || sender <= 0 ||
                                         (sender != i->pid && ::getpgid(sender) != i->pid))
                                       return;
                                     i->probes->notify(message);
                                   });
    if (sock)
      inst.notify = std::move(*sock);
    else
      log_.error("{}[{}]: {}", app.spec.name, index, sock.error());
  }

  void startReadyProbe(App& app, Instance& inst) {
    const ProbeSpec* spec = app.spec.ready ? &*app.spec.ready : nullptr;
    // A service tend does not spawn is ready when its start command succeeded, unless it
    // has a `ready` of its own.
    ProbeCheck check = isExternal(app) && !spec ? ProbeCheck{} : resolveProbe(spec, inst.port);
    // Only the instance's own listener makes it ready (not a predecessor's or a sibling's).
    if (!isExternal(app)) requireOwnListener(check, inst.port, inst.pid);
    inst.probes->startReady(check, spec ? spec->timeout : Duration(30s));
  }

  void startHealthProbes(App& app, Instance& inst) {
    std::optional<ProbeCheck> health;
    if (app.spec.health) health = resolveProbe(&*app.spec.health, inst.port);
    Duration watchdog = app.spec.ready && app.spec.ready->notify ? app.spec.ready->watchdog : 0ms;
    inst.probes->startOnline(health, app.spec.health ? &*app.spec.health : nullptr, watchdog);
  }

  // An exec check: /bin/sh -c under the app's cwd and env, in its own process group,
  // killed at `timeout`. A failure's message ends with the last line it printed (see
  // probeOutputLine). Reaped with the helpers (reapChildren).
  void runProbeCommand(App& app, Instance& inst, const std::string& command, Duration timeout,
                       ProbeDone done) {
    const std::string what = fmt::format("exec {}", shellQuote(command));
    UniqueFd out_r, out_w;
    SpawnRequest req = shellRequest(app, inst, command);
    std::expected<pid_t, std::string> pid =
        std::unexpected(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
    if (makePipe(out_r, out_w)) {
      req.stdout_fd = out_w.get();
      req.stderr_fd = out_w.get();
      if (std::string refused = applyIdentity(app, req); refused.empty())
        pid = ops_.spawn(req);
      else
        pid = std::unexpected(refused);
      out_w.reset();
    }
    if (!pid) {
      asio::post(io_, [done = std::move(done), why = what + ": " + pid.error()] {
        done({false, why});
      });
      return;
    }
    auto output = std::make_shared<ProbeOutput>(io_, std::move(out_r));
    output->start();
    auto timed_out = std::make_shared<bool>(false);
    auto timer = std::make_shared<asio::steady_timer>(io_, timeout);
    pid_t p = *pid;
    timer->async_wait([this, p, timed_out](boost::system::error_code ec) {
      if (ec || !helpers_.count(p)) return;
      *timed_out = true;
      ops_.signalGroup(p, SIGKILL);
    });
    helpers_[p] = [this, p, timer, timed_out, what, timeout, output,
                   done = std::move(done)](ExitStatus exit) mutable {
      timer->cancel();
      if (!*timed_out) ops_.signalGroup(p, SIGKILL);  // nothing it started outlives it
      std::string why = *timed_out     ? "timed out after " + formatDuration(timeout)
                        : exit.clean() ? ""
                                       : exit.describe();
      output->finish(kProbeOutputGrace, [what, why, done = std::move(done)](std::string out) {
        if (why.empty()) return done({true, ""});
        std::string line = probeOutputLine(out);
        done({false, fmt::format("{}: {}{}{}", what, why, line.empty() ? "" : ": ", line)});
      });
    };
  }

  // check (when given): already running means online at once; else start, online when it
  // succeeds. The gateway then waits for the target to accept connections.
  void startExternal(App& app, Instance& inst) {
    uint64_t run = inst.run = ++runs_;
    inst.started_at = clock_.now();
    inst.started_wall = clock_.wallMillis();
    Duration limit = app.spec.on_demand ? app.spec.on_demand->start_timeout : Duration(30s);
    auto whenCurrent = [this, id = app.id, key = inst.key, run](auto fn) {
      return [this, id, key, run, fn](ExitStatus exit) {
        App* a = nullptr;
        Instance* i = findInstance(id, key, &a);
        if (i && i->run == run && i->machine.status() == Status::Starting) fn(*a, *i, exit);
      };
    };
    auto started = whenCurrent([this](App& a, Instance& i, ExitStatus exit) {
      if (!exit.clean()) {
        spawnFailed(a, i, fmt::format("start command failed: {}", exit.describe()));
        return;
      }
      apply(a, i, i.machine.spawned());
    });
    if (isRouteOnly(app.spec)) {
      asio::post(io_, [started] { started(ExitStatus{0, 0}); });
      return;
    }
    auto runStart = [this, limit, started](App& a, Instance& i) {
      runHelper(a, i, "start", a.spec.start_cmd, limit, started);
    };
    if (app.spec.check_cmd.empty()) {
      runStart(app, inst);
      return;
    }
    runHelper(app, inst, "check", app.spec.check_cmd, limit,
              whenCurrent([this, runStart](App& a, Instance& i, ExitStatus exit) {
                if (!exit.clean()) {
                  runStart(a, i);
                  return;
                }
                log_.info("{}: already running (its check command succeeded)", a.spec.name);
                apply(a, i, i.machine.spawned());
              }));
  }

  void stopExternal(App& app, Instance& inst) {
    uint64_t run = inst.run = ++runs_;
    auto finished = [this, id = app.id, key = inst.key, run](ExitStatus exit) {
      App* a = nullptr;
      Instance* i = findInstance(id, key, &a);
      if (!i || i->run != run || i->machine.status() != Status::Stopping) return;
      if (!exit.clean()) log_.warn("{}: stop command failed: {}", a->spec.name, exit.describe());
      finishExit(*a, *i, exit);
    };
    if (app.spec.stop_cmd.empty()) {
      asio::post(io_, [finished] { finished(ExitStatus{0, 0}); });
      return;
    }
    runHelper(app, inst, "stop", app.spec.stop_cmd, app.spec.kill_timeout, finished);
  }

  void spawnFailed(App& app, Instance& inst, const std::string& why) {
    failStart(app, inst, why, /*refused=*/false);
  }

  // A start that failed before the program ran: said in the daemon's log and the instance's
  // err log, then handed to the machine (refused: errored at once; else a failed spawn, which
  // the restart policy retries). Posted, so that a failing spawn retried without delay
  // cannot recurse.
  void failStart(App& app, Instance& inst, const std::string& why, bool refused) {
    log_.error("{}[{}]: {}", app.spec.name, inst.index, why);
    inst.err_log->write(fmt::format("tend: {}", why), clock_.wallMillis());
    asio::post(io_, [this, id = app.id, key = inst.key, run = inst.run, why, refused] {
      App* a = nullptr;
      Instance* i = findInstance(id, key, &a);
      if (!i || i->run != run || i->running() || i->machine.status() != Status::Starting) return;
      apply(*a, *i, refused ? i->machine.refused(why) : i->machine.spawnFailed(clock_.now(), why));
    });
  }

  // The store's row of a reload's replacement: its own, beside the old instance's, so a
  // daemon that comes back knows both processes.
  static int replacementRow(int slot) { return kReplacementKey + slot; }

  std::expected<void, std::string> recordInstance(const App& app, const Instance& inst) {
    const int row_index = isReplacement(app, inst) ? replacementRow(inst.index) : inst.index;
    return store_.putInstance({app.id, row_index, inst.pid, inst.start_ticks, inst.port});
  }

  void persistInstance(const App& app, const Instance& inst) {
    if (auto r = recordInstance(app, inst); !r)
      log_.error("{}[{}]: cannot record instance: {}", app.spec.name, inst.index, r.error());
  }

  // ---- carrying out transitions ----------------------------------------------------------

  void apply(App& app, Instance& inst, const Transition& t) {
    if (t.changed)
      log_.info("{}[{}]: {}{}", app.spec.name, inst.index, statusName(t.status),
                t.reason.empty() ? "" : " (" + t.reason + ")");
    // Before the actions: a spawn applies the next transitions (and tells of them) itself.
    if (t.changed && event_) {
      json state{{"type", "state"},
                 {"app", app.spec.name},
                 {"instance", inst.index},
                 {"status", std::string(statusName(t.status))},
                 {"reason", t.reason},
                 {"pid", inst.pid},
                 {"replacement", isReplacement(app, inst)}};
      // The named events (webhooks, docs/API.md "Events") that a status change is.
      if (t.status == Status::Online) state["event"] = "online";
      if (t.status == Status::Stopped) state["event"] = "stopped";
      if (t.status == Status::Errored) state["event"] = "errored";
      event_(state);
      if (std::ranges::find(t.actions, Action::RecordRestart) != t.actions.end())
        event_({{"type", "restart"},
                {"event", "restart"},
                {"app", app.spec.name},
                {"instance", inst.index},
                {"pid", inst.pid},
                {"reason", t.reason}});
    }
    // Before the actions, which may start the next hook (a spawn runs pre_start at once,
    // and may come online, starting post_start, before this returns).
    if (t.changed) killHooks(inst, t.status != Status::Starting, t.status != Status::Online);
    for (Action action : t.actions) {
      switch (action) {
        case Action::Spawn:
          spawn(app, inst);
          break;
        case Action::SendStopSignal:
          sendStop(app, inst);
          break;
        case Action::ScheduleRestart:
          scheduleRestart(app, inst, t.delay);
          break;
        case Action::CancelRestart:
          inst.restart_timer.cancel();
          break;
        case Action::RecordRestart:
          // A limit restart is recorded before its stop: the last exit is an older one.
          recordRestart(app, inst, t.reason, /*with_exit=*/t.status != Status::Stopping);
          break;
        case Action::ProbeReady:
          startReadyProbe(app, inst);
          break;
        case Action::ProbeHealth:
          startHealthProbes(app, inst);
          break;
      }
    }
    if (t.changed && t.status != Status::Starting && t.status != Status::Online)
      inst.probes->stop();
    if (t.changed && t.status == Status::Online && t.from == Status::Starting &&
        inst.machine.status() == Status::Online && !app.spec.post_start.empty())
      runPostStart(app, inst);
    const bool before_ready = t.from == Status::Starting ||
                              (t.from == Status::Online && t.changed && !stableForWait(app, inst));
    if (before_ready && t.status != Status::Online && !t.reason.empty() &&
        !completedOneShot(app, inst)) {
      noteFailedStart(app, inst, t.reason);
      // Stopping: its ready check failed, or a limit restarts it (not a failure to tell);
      // else it exited.
      const bool stopping = t.status == Status::Stopping;
      if (start_failed_ &&
          !(stopping && std::ranges::find(t.actions, Action::RecordRestart) != t.actions.end()))
        start_failed_(
            app.spec.name,
            fmt::format("{}: {}", stopping ? "failed to start" : "exited before it was ready",
                        t.reason));
      if (!t.changed) checkWaiters();
    }
    if (t.changed) {
      if (t.status == Status::Online && app.watcher) app.watcher->settle();
      releaseHeldSoon();
      finishPendingIfStopped(app);
      if (app.reload)  // deferred: a reload's next step may apply transitions itself
        asio::post(io_, [this, id = app.id] {
          if (App* a = findById(id)) advanceReload(*a);
        });
      checkWaiters();
      if (t.status == Status::Online && instance_online_) instance_online_(app.spec.name);
    }
  }

  void recordRestart(App& app, Instance& inst, const std::string& reason, bool with_exit) {
    ++inst.restarts;
    StateStore::RestartRow row;
    row.app_id = app.id;
    row.index = inst.index;
    row.at_ms = clock_.wallMillis();
    row.reason = reason;
    if (inst.last_exit && with_exit) {
      row.exit_code = inst.last_exit->exit_code;
      row.signal = inst.last_exit->signal;
    }
    if (auto r = store_.addRestart(row); !r)
      log_.error("{}: cannot record restart: {}", app.spec.name, r.error());
  }

  void scheduleRestart(App& app, Instance& inst, Duration delay) {
    inst.restart_timer.expires_after(delay);
    inst.restart_timer.async_wait(
        [this, id = app.id, key = inst.key](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, key, &a);
          if (i) apply(*a, *i, i->machine.restartDue());
        });
  }

  void sendStop(App& app, Instance& inst) {
    if (isExternal(app)) {
      stopExternal(app, inst);
      return;
    }
    if (!inst.running()) {
      // Never spawned (held for its dependencies, or its spawn failed): nothing to wait for.
      inst.held.clear();
      asio::post(io_, [this, id = app.id, key = inst.key, run = inst.run] {
        App* a = nullptr;
        Instance* i = findInstance(id, key, &a);
        if (!i || i->run != run || i->running() || i->machine.status() != Status::Stopping) return;
        apply(*a, *i, i->machine.exited(clock_.now(), Duration(0), ExitStatus{}));
      });
      return;
    }
    ops_.signalGroup(inst.pid, app.spec.stop_signal);
    inst.kill_deadline = clock_.now() + app.spec.kill_timeout;
    inst.kill_timer.expires_after(app.spec.kill_timeout);
    inst.kill_timer.async_wait(
        [this, id = app.id, key = inst.key, run = inst.run](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, key, &a);
          if (!i || i->run != run || !i->running()) return;
          log_.warn("{}[{}]: still running {} after {}; sending SIGKILL to its group", a->spec.name,
                    i->index, i->pid, formatDuration(a->spec.kill_timeout));
          ops_.signalGroup(i->pid, SIGKILL);
        });
  }

  // ---- exits -----------------------------------------------------------------------------

  void waitForChildren() {
    sigchld_.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      reapChildren();
      waitForChildren();
    });
  }

  void reapChildren() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      ExitStatus exit;
      if (WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
      if (auto h = helpers_.find(pid); h != helpers_.end()) {
        auto done = std::move(h->second);
        helpers_.erase(h);
        done(exit);
        continue;
      }
      auto it = by_pid_.find(pid);
      if (it == by_pid_.end()) continue;  // an orphan we reaped as subreaper
      auto [app_id, index] = it->second;
      by_pid_.erase(it);
      App* app = nullptr;
      if (Instance* inst = findInstance(app_id, index, &app); inst && inst->pid == pid)
        leaderExited(*app, *inst, exit);
    }
  }

  void adoptIfAlive(Instance& inst, const StateStore::InstanceRow& row) {
    if (row.pid <= 0) return;
    if (processStartTicks(row.pid) != row.start_ticks) return;  // gone, or pid reused
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, row.pid, 0));
    inst.pid = row.pid;
    inst.start_ticks = row.start_ticks;
    inst.adopted = true;
    inst.run = ++runs_;
    inst.started_at = clock_.now();
    inst.machine.adoptRunning();
    if (fd >= 0)  // pidfd_open sets close-on-exec itself
      inst.pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  }

  // Arms the exit watch of adopted processes; called once their App is in apps_.
  void watchAdopted(App& app, Instance& inst) {
    if (!inst.pidfd) return;
    inst.pidfd->async_wait(
        asio::posix::stream_descriptor::wait_read,
        [this, id = app.id, key = inst.key, run = inst.run](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, key, &a);
          if (!i || i->run != run || !i->running()) return;
          i->pidfd.reset();
          leaderExited(*a, *i, ExitStatus{});
        });
  }

  // Processes this home's daemons started (kSupervisedByVariable) that no record names: a
  // daemon died between their spawn and its record. Their groups are stopped.
  void stopUnrecorded(const std::set<pid_t>& known_groups) {
    std::set<pid_t> stopped;
    for (pid_t pid : processesWithEnvironment(std::string(kSupervisedByVariable), paths_.home)) {
      if (pid == ::getpid()) continue;
      const pid_t group = ::getpgid(pid);
      if (group <= 0 || group == ::getpgrp() || known_groups.contains(group) ||
          stopped.contains(group))
        continue;
      log_.warn(
          "stopping process group {} (pid {}): started by a daemon of {} that died "
          "before it could record it",
          group, pid, paths_.home);
      killLeftover(group);
      stopped.insert(group);
    }
  }

  void killLeftover(pid_t pgid) {
    ops_.signalGroup(pgid, SIGTERM);
    auto timer = std::make_shared<asio::steady_timer>(io_, 5s);
    timer->async_wait([this, pgid, timer](boost::system::error_code) {
      if (ops_.groupAlive(pgid)) ops_.signalGroup(pgid, SIGKILL);
    });
  }

  void leaderExited(App& app, Instance& inst, const ExitStatus& exit) {
    inst.last_exit = exit;
    if (!ops_.groupAlive(inst.pid)) {
      finishExit(app, inst, exit);
      return;
    }
    if (inst.machine.status() == Status::Stopping) {
      waitForGroup(app, inst, exit);  // the rest of the group got the stop signal too
    } else {
      // The leader died on its own: nothing should outlive it into the next run.
      ops_.signalGroup(inst.pid, SIGKILL);
      finishExit(app, inst, exit);
    }
  }

  void waitForGroup(App& app, Instance& inst, const ExitStatus& exit) {
    if (!ops_.groupAlive(inst.pid)) {
      finishExit(app, inst, exit);
      return;
    }
    if (clock_.now() >= inst.kill_deadline) {
      ops_.signalGroup(inst.pid, SIGKILL);
      finishExit(app, inst, exit);
      return;
    }
    inst.group_timer.expires_after(kGroupPoll);
    inst.group_timer.async_wait(
        [this, id = app.id, key = inst.key, run = inst.run, exit](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, key, &a);
          if (i && i->run == run && i->running()) waitForGroup(*a, *i, exit);
        });
  }

  void finishExit(App& app, Instance& inst, const ExitStatus& exit) {
    Duration uptime = std::chrono::duration_cast<Duration>(clock_.now() - inst.started_at);
    by_pid_.erase(inst.pid);
    log_.info("{}[{}]: pid {} {} after {}", app.spec.name, inst.index, inst.pid, exit.describe(),
              humanDuration(uptime));
    // Nobody asked it to stop: a crash (told before the restart policy's answer).
    const Status before = inst.machine.status();
    if (event_ && (before == Status::Starting || before == Status::Online))
      event_({{"type", "crash"},
              {"event", "crash"},
              {"app", app.spec.name},
              {"instance", inst.index},
              {"pid", inst.pid},
              {"reason", fmt::format("{} after {}", exit.describe(), humanDuration(uptime))}});
    inst.pid = 0;
    inst.kill_timer.cancel();
    inst.group_timer.cancel();
    inst.pidfd.reset();
    inst.cpu = 0;
    inst.memory = 0;
    inst.probes->stop();
    persistInstance(app, inst);
    apply(app, inst, inst.machine.exited(clock_.now(), uptime, exit));
  }

  // ---- reload ------------------------------------------------------------------------------

 public:
  void reload(const std::string& target, Reply done) {
    auto targets = resolve(target);
    if (!targets) {
      done(std::unexpected(targets.error()));
      return;
    }
    if (targets->empty()) {  // `all` with no apps
      done(list());
      return;
    }
    auto pending = std::make_shared<size_t>(targets->size());
    auto errors = std::make_shared<std::vector<std::string>>();
    auto finish = [this, pending, errors, done = std::move(done)](std::vector<std::string> errs) {
      errors->insert(errors->end(), errs.begin(), errs.end());
      if (--*pending > 0) return;
      if (errors->empty())
        done(list());
      else
        done(std::unexpected(join(*errors, "; ")));
    };
    for (App* app : *targets) {
      if (isExternal(*app) || !app->desired_running || !anyOnline(*app)) {
        // Nothing serves that could be kept up: a reload is a (re)start, as with PM2.
        command("restart", app->spec.name, [finish](Result r) {
          finish(r ? std::vector<std::string>{} : std::vector<std::string>{r.error()});
        });
        continue;
      }
      if (app->reload) {  // one already runs: this one ends with it
        app->reload->done.push_back(finish);
        continue;
      }
      if (app->pending_spec || app->pending_delete) {
        finish({fmt::format("{}: cannot reload while its configuration changes", app->spec.name)});
        continue;
      }
      std::vector<int> slots;
      for (const auto& inst : app->instances) slots.push_back(inst->index);
      // A port of its own: a new process could not listen beside the old one.
      const bool in_place =
          app->spec.port.kind != PortSpec::Kind::None && app->spec.share_port == SharePort::None;
      auto job = std::make_unique<ReloadJob>(ReloadCoordinator(app->spec.name, std::move(slots),
                                                               app->spec.reload_batch, in_place,
                                                               app->spec.kill_timeout));
      job->done.push_back(finish);
      app->reload = std::move(job);
      log_.info("{}: reloading {} instance(s), {} at a time", app->spec.name, app->instances.size(),
                app->spec.reload_batch);
      advanceReload(*app);
    }
  }

  // Ports the gateway may send new requests to: online instances not being drained, and
  // online replacements of a reload.
  std::vector<uint16_t> servingPorts(const std::string& name) const {
    std::vector<uint16_t> out;
    for (const auto& s : servingInstances(name)) out.push_back(s.port);
    return out;
  }
  std::vector<Supervisor::ServingInstance> servingInstances(const std::string& name) const {
    std::vector<Supervisor::ServingInstance> out;
    auto add = [&out](const Instance& inst) {
      out.push_back({inst.port, inst.index, inst.cpu, inst.memory});
    };
    for (const auto& app : apps_) {
      if (app->spec.name != name) continue;
      const ReloadJob* job = app->reload.get();
      for (const auto& inst : app->instances)
        if (inst->port && inst->machine.status() == Status::Online &&
            !(job && job->coordinator.draining(inst->index)))
          add(*inst);
      if (job)
        for (const auto& [slot, fresh] : job->replacements)
          if (fresh->port && fresh->machine.status() == Status::Online &&
              job->coordinator.replacementServes(slot))
            add(*fresh);
    }
    return out;
  }

  void onServingChanged(std::function<void(const std::string&)> hook) {
    serving_changed_ = std::move(hook);
  }
  void countInFlight(std::function<size_t(const std::string&, uint16_t)> counter) {
    in_flight_ = std::move(counter);
  }

 private:
  // A reload's new instance, not yet in its slot.
  static bool isReplacement(const App& app, const Instance& inst) {
    return inst.index < static_cast<int>(app.instances.size()) &&
           app.instances[static_cast<size_t>(inst.index)].get() != &inst;
  }

  static bool anyOnline(const App& app) {
    return std::ranges::any_of(app.instances,
                               [](const auto& i) { return i->machine.status() == Status::Online; });
  }

  // Stops a reload where it is (see ReloadCoordinator::abort); its callers hear `why`.
  void abortReload(App& app, const std::string& why) {
    if (!app.reload) return;
    runReloadSteps(app, app.reload->coordinator.abort(why));
    servingChanged(app);
    // It ends at its next advance: once its replacements have stopped, or at once.
    asio::post(io_, [this, id = app.id] {
      if (App* a = findById(id)) advanceReload(*a);
    });
  }

  void servingChanged(const App& app) {
    if (serving_changed_) serving_changed_(app.spec.name);
  }

  // Moves a reload on; called after any transition of the app's instances and by the drain
  // poll. Idempotent.
  void advanceReload(App& app) {
    if (!app.reload) return;
    auto steps = app.reload->coordinator.advance(
        clock_.now(), [this, &app](int slot) { return reloadSlotView(app, slot); });
    runReloadSteps(app, steps);
    if (app.reload && app.reload->coordinator.finished()) {
      auto finished = std::move(app.reload);
      const auto& errors = finished->coordinator.errors();
      log_.info("{}: reload {}", app.spec.name, errors.empty() ? "done" : "failed");
      for (auto& done : finished->done) done(errors);
      servingChanged(app);
      checkWaiters();
    }
  }

  ReloadSlotView reloadSlotView(const App& app, int slot) const {
    ReloadSlotView v;
    v.exists = slot < static_cast<int>(app.instances.size());
    if (v.exists) {
      const Instance& old = *app.instances[static_cast<size_t>(slot)];
      v.old_status = old.machine.status();
      v.old_running = old.running();
      v.old_run = old.run;
      v.old_pid = old.pid;
      v.old_reason = old.machine.lastReason();
      // Requests in flight are counted by port: only a port of its own tells them apart.
      if (in_flight_ && old.port && app.spec.share_port == SharePort::None)
        v.in_flight = in_flight_(app.spec.name, old.port);
    }
    if (auto it = app.reload->replacements.find(slot); it != app.reload->replacements.end()) {
      v.new_status = it->second->machine.status();
      v.new_running = it->second->running();
      v.new_reason = it->second->machine.lastReason();
    }
    return v;
  }

  // Carries out what the coordinator decided. Transitions applied here post the next
  // advanceReload themselves.
  void runReloadSteps(App& app, const std::vector<ReloadStep>& steps) {
    using Kind = ReloadStep::Kind;
    for (const ReloadStep& step : steps) {
      ReloadJob& job = *app.reload;
      const int slot = step.slot;
      Instance* old = slot < static_cast<int>(app.instances.size())
                          ? app.instances[static_cast<size_t>(slot)].get()
                          : nullptr;
      auto found = job.replacements.find(slot);
      Instance* fresh = found == job.replacements.end() ? nullptr : found->second.get();
      switch (step.kind) {
        case Kind::RestartPlain:
          if (old->running()) ++old->restarts;
          apply(app, *old, old->machine.restart());
          break;
        case Kind::StartReplacement:
          startReplacement(app, *old);
          break;
        case Kind::Drain:
          if (fresh) {
            faultPoint("reload-both-running");
            log_.info("{}[{}]: reload: the new instance (pid {}) is online; draining pid {}",
                      app.spec.name, slot, fresh->pid, old->pid);
          } else {
            log_.info("{}[{}]: reload: draining pid {}, then restarting it on its port {}",
                      app.spec.name, slot, old->pid, old->port);
          }
          servingChanged(app);
          break;
        case Kind::Undrain:
          servingChanged(app);
          break;
        case Kind::PollDrain:
          if (job.poll_armed) break;
          job.poll_armed = true;
          {
            auto timer = std::make_shared<asio::steady_timer>(io_, kDrainPoll);
            timer->async_wait([this, id = app.id, timer](boost::system::error_code ec) {
              App* a = ec ? nullptr : findById(id);
              if (!a || !a->reload) return;
              a->reload->poll_armed = false;
              advanceReload(*a);
            });
          }
          break;
        case Kind::StopOld:
          apply(app, *old, old->machine.stop());
          break;
        case Kind::RestartInPlace:
          servingChanged(app);
          apply(app, *old, old->machine.limitExceeded("reload"));
          faultPoint("reload-restarting");
          break;
        case Kind::SwapIn:
          swapIn(app, slot);
          faultPoint("reload-swapped");
          break;
        case Kind::StopReplacement:
          if (fresh) apply(app, *fresh, fresh->machine.stop());
          break;
        case Kind::DiscardReplacement:
          if (!fresh) break;
          closeInstanceIo(*fresh);
          (void)store_.removeInstance(app.id, replacementRow(slot));
          job.replacements.erase(found);
          break;
      }
    }
  }

  // A new instance beside `old`, on the same port (a shared socket) or none, writing to the
  // same log files: one instance, one log.
  void startReplacement(App& app, const Instance& old) {
    const int slot = old.index;
    const int key = old.key >= kReplacementKey ? slot : slot + kReplacementKey;
    auto fresh = std::make_unique<Instance>(io_, app.spec, slot, key);
    fresh->out_log = old.out_log;
    fresh->err_log = old.err_log;
    makeProbes(app, *fresh);
    fresh->restarts = old.restarts;
    fresh->port = old.port;
    log_.info("{}[{}]: reload: starting a new instance beside pid {}", app.spec.name, slot,
              old.pid);
    Instance& started = *fresh;
    app.reload->replacements[slot] = std::move(fresh);
    apply(app, started, started.machine.start());
  }

  // The old instance stopped: the replacement takes its slot.
  void swapIn(App& app, int slot) {
    auto found = app.reload->replacements.find(slot);
    if (found == app.reload->replacements.end()) return;
    auto& place = app.instances[static_cast<size_t>(slot)];
    closeInstanceIo(*place);
    place = std::move(found->second);
    app.reload->replacements.erase(found);
    persistInstance(app, *place);  // first: the new pid is never unrecorded
    (void)store_.removeInstance(app.id, replacementRow(slot));
    recordRestart(app, *place, "reload", /*with_exit=*/false);
    if (event_)
      event_({{"type", "restart"},
              {"event", "restart"},
              {"app", app.spec.name},
              {"instance", slot},
              {"pid", place->pid},
              {"reason", "reload"}});
    log_.info("{}[{}]: reload: pid {} replaced the old instance", app.spec.name, slot, place->pid);
    servingChanged(app);
    appsChanged();
  }

  // ---- updates, deletes and replies ------------------------------------------------------

  static bool allStopped(const App& app) {
    for (const auto& inst : app.instances)
      if (inst->running() || !settledStatus(inst->machine.status())) return false;
    return replacementsSettled(app);
  }

  // No replacement of a reload is running or between states.
  static bool replacementsSettled(const App& app) {
    if (app.reload)
      for (const auto& [slot, fresh] : app.reload->replacements)
        if (fresh->running() || !settledStatus(fresh->machine.status())) return false;
    return true;
  }

  void finishPendingIfStopped(App& app) {
    if (!(app.pending_spec || app.pending_delete) || !allStopped(app)) return;
    int64_t id = app.id;
    // Deferred: this may run inside a loop over the app's own instances.
    asio::post(io_, [this, id] {
      App* a = findById(id);
      if (!a || !allStopped(*a)) return;
      if (a->pending_delete) {
        for (auto& inst : a->instances) {
          closeInstanceIo(*inst);
          (void)store_.removeInstance(a->id, inst->index);
        }
        if (auto r = store_.deleteApp(a->id); !r)
          log_.error("{}: cannot delete from the state database: {}", a->spec.name, r.error());
        ports_.release(a->spec.name);
        a->activation_socket.reset();
        a->watcher.reset();
        log_.info("{}: deleted", a->spec.name);
        std::erase_if(apps_, [id](const auto& p) { return p->id == id; });
        appsChanged();
      } else if (a->pending_spec) {
        for (auto& inst : a->instances) (void)store_.removeInstance(a->id, inst->index);
        a->spec = std::move(*a->pending_spec);
        a->pending_spec.reset();
        a->activation_socket.reset();
        a->watcher.reset();  // the watched paths may have changed: a new one when it runs
        ports_.release(a->spec.name);
        buildInstances(*a);
        if (a->start_after_update) {
          a->desired_running = false;
          startApp(*a);
        } else if (a->spec.on_demand) {
          allocatePorts(*a);
        }
        appsChanged();
      }
      checkWaiters();
    });
  }

  // Stopping a set of apps in dependency order: levels[next] is stopped once every app of
  // the levels before it has stopped.
  struct StopPlan {
    std::vector<std::vector<int64_t>> levels;
    size_t next = 0;  // the first level not yet asked to stop
    std::function<void(App&)> stop_one;
  };

  // A reply waits until its apps have settled: no instance stopping, and every starting
  // one has its process (its ready probe may still run). With `online` (start --wait) it
  // waits until they are online, and fails at the first start that fails.
  struct Waiter {
    std::set<int64_t> ids;
    std::vector<std::string> errors;
    Reply done;
    std::shared_ptr<asio::steady_timer> timer;
    bool online = false;
    std::vector<std::string> failed_starts;  // with `online`: "app[i]: why"
  };

  bool settled(const Waiter& w) {
    if (w.online && !w.failed_starts.empty()) return true;
    for (const auto& plan : stop_plans_)
      for (size_t l = plan->next; l < plan->levels.size(); ++l)
        for (int64_t id : plan->levels[l])
          if (w.ids.contains(id)) return false;
    for (int64_t id : w.ids) {
      App* app = findById(id);
      if (!app) continue;
      if (app->pending_spec || app->pending_delete || app->reload) return false;
      for (const auto& inst : app->instances) {
        Status s = inst->machine.status();
        if (s == Status::Stopping) return false;
        if (s == Status::Starting && (w.online || !inst->machine.awaitingReady())) return false;
        if (w.online && s == Status::Online && !stableForWait(*app, *inst)) {
          recheckWaitersAt(inst->started_at + app->spec.min_uptime);
          return false;
        }
      }
      if (!replacementsSettled(*app)) return false;
    }
    return true;
  }

  // An instance with no ready check of its own (no `ready`, no port, spawned by tend) is
  // online as soon as it runs: for --wait it counts once it has run for min_uptime, so an
  // app that exits at once fails the wait instead of passing it.
  bool stableForWait(const App& app, const Instance& inst) const {
    if (app.spec.ready || inst.port || isExternal(app)) return true;
    return clock_.now() - inst.started_at >= app.spec.min_uptime;
  }

  // A one-shot (autorestart false or on-failure) that exited with code 0: done as designed.
  static bool completedOneShot(const App& app, const Instance& inst) {
    return app.spec.autorestart != AutoRestart::Always &&
           inst.machine.status() == Status::Stopped && inst.last_exit && inst.last_exit->clean();
  }

  void recheckWaitersAt(TimePoint when) {
    if (recheck_armed_ && recheck_at_ <= when) return;
    recheck_armed_ = true;
    recheck_at_ = when;
    recheck_timer_.expires_after(
        std::max(Duration(1), std::chrono::duration_cast<Duration>(when - clock_.now())));
    recheck_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      recheck_armed_ = false;
      checkWaiters();
    });
  }

  // A start that ended other than online: a --wait reply fails with it.
  void noteFailedStart(const App& app, const Instance& inst, const std::string& why) {
    for (const auto& w : waiters_)
      if (w->online && w->ids.contains(app.id))
        w->failed_starts.push_back(fmt::format("{}[{}]: {}", app.spec.name, inst.index, why));
  }

  void replyWhenSettled(std::set<int64_t> ids, std::vector<std::string> errors, Reply done,
                        WaitFor what = {}) {
    const bool online = what.online;
    Duration longest = 0ms;
    for (int64_t id : ids)
      if (App* a = findById(id)) {
        Duration d = a->spec.kill_timeout * std::max(1, what.rounds);
        if (online) d += a->spec.kill_timeout + (a->spec.ready ? a->spec.ready->timeout : 30s);
        longest = std::max(longest, d);
      }
    auto waiter = std::make_shared<Waiter>();
    waiter->ids = std::move(ids);
    waiter->errors = std::move(errors);
    waiter->done = std::move(done);
    waiter->online = online;
    waiter->timer = std::make_shared<asio::steady_timer>(io_, longest + kReplySlack);
    waiters_.push_back(waiter);
    std::weak_ptr<Waiter> weak = waiter;
    waiter->timer->async_wait([this, weak](boost::system::error_code ec) {
      if (ec) return;
      if (auto w = weak.lock()) fire(w);
    });
    // Deferred, so that exits and posted work already queued are seen first.
    asio::post(io_, [this] { checkWaiters(); });
  }

  void checkWaiters() {
    advanceStopPlans();
    std::vector<std::shared_ptr<Waiter>> ready;
    for (const auto& w : waiters_)
      if (settled(*w)) ready.push_back(w);
    for (const auto& w : ready) fire(w);
  }

  void fire(const std::shared_ptr<Waiter>& w) {
    auto it = std::find(waiters_.begin(), waiters_.end(), w);
    if (it == waiters_.end()) return;
    waiters_.erase(it);
    w->timer->cancel();
    if (!w->errors.empty()) {
      w->done(std::unexpected(join(w->errors, "; ")));
      return;
    }
    if (w->online) {
      std::vector<std::string> failures = w->failed_starts;
      if (failures.empty())  // settled, or its time ran out: all must be online
        for (int64_t id : w->ids)
          if (App* a = findById(id))
            for (const auto& inst : a->instances)
              if (a->desired_running && inst->machine.status() != Status::Online &&
                  !completedOneShot(*a, *inst))
                failures.push_back(fmt::format(
                    "{}[{}]: {}{}", a->spec.name, inst->index, statusName(inst->machine.status()),
                    inst->machine.lastReason().empty() ? ""
                                                       : " (" + inst->machine.lastReason() + ")"));
      if (!failures.empty()) {
        w->done(std::unexpected(join(failures, "; ")));
        return;
      }
    }
    // A user's start whose spawn failed leaves the instance errored: say why.
    std::vector<std::string> failures;
    for (int64_t id : w->ids)
      if (App* a = findById(id))
        for (const auto& inst : a->instances)
          if (inst->machine.status() == Status::Errored && a->desired_running)
            failures.push_back(
                fmt::format("{}[{}]: {}", a->spec.name, inst->index, inst->machine.lastReason()));
    if (!failures.empty()) {
      w->done(std::unexpected(join(failures, "; ")));
      return;
    }
    w->done(list());
  }

  // ---- depends_on --------------------------------------------------------------------------
  // Starting an app starts what it needs first (startDependencies) and gates its spawns
  // (awaiting_deps) until every dependency meets its condition; instances held meanwhile
  // stay `starting` with the reason. Only starts are gated: a crash restart is not. The
  // order itself is DependencyGraph's.

  DependencyGraph graph() const {
    DependencyGraph g;
    for (const auto& a : apps_) g.set(a->spec.name, a->spec.depends_on);
    return g;
  }

  // Whether a dependency must be started for an app that needs it: not meant to run, or
  // failed. A one-shot task that completed stays completed.
  static bool needsStart(const App& dep) {
    if (dep.pending_delete) return false;
    if (!dep.desired_running) return true;
    return std::ranges::any_of(
        dep.instances, [](const auto& i) { return i->machine.status() == Status::Errored; });
  }

  void startDependencies(App& app) {
    if (app.spec.depends_on.empty()) return;
    app.awaiting_deps = true;
    for (const std::string& name : graph().startOrder(app.spec.name)) {
      App* dep = findByName(name);
      if (!dep || !needsStart(*dep)) continue;
      log_.info("{}: starting {}, which it depends on", app.spec.name, name);
      if (auto err = startApp(*dep); !err.empty())
        log_.warn("{}: cannot start {}: {}", app.spec.name, name, err);
      else
        dep->started_as_dependency = true;
    }
  }

  DependencyState dependencyState(const std::string& name) const {
    using Phase = DependencyState::Phase;
    const App* app = nullptr;
    for (const auto& a : apps_)
      if (a->spec.name == name) app = a.get();
    if (!app || app->pending_delete) return {Phase::Missing, ""};
    if (!app->desired_running) return {Phase::Stopped, ""};
    bool all_online = true, all_stopped = true, all_clean = true, any_spawned = false;
    std::string failure;
    for (const auto& inst : app->instances) {
      const Status s = inst->machine.status();
      if (s == Status::Errored) return {Phase::Failed, inst->machine.lastReason()};
      // Meant to run but not started yet (the daemon is starting its apps one by one).
      if (s == Status::Stopped && !inst->last_exit) return {Phase::Pending, ""};
      all_online = all_online && s == Status::Online;
      all_stopped = all_stopped && s == Status::Stopped;
      if (s == Status::Stopped && !(inst->last_exit && inst->last_exit->clean())) {
        all_clean = false;
        failure = inst->machine.lastReason();
      }
      any_spawned = any_spawned || inst->running() || s == Status::Online || s == Status::Waiting ||
                    (s == Status::Stopped && inst->last_exit);
    }
    if (app->instances.empty() || app->awaiting_deps) return {Phase::Pending, ""};
    if (all_online) return {Phase::Ready, ""};
    if (all_stopped) {
      if (all_clean) return {Phase::Completed, app->instances.front()->machine.lastReason()};
      return {Phase::Failed, failure};
    }
    return {any_spawned ? Phase::Started : Phase::Pending, ""};
  }

  // At a gated spawn: true when it may go ahead. Otherwise the instance is held (and spawned
  // by releaseHeld once things change) or, when a dependency failed, fails with the reason.
  bool dependenciesAllow(App& app, Instance& inst) {
    Gate gate = DependencyGraph::gate(
        app.spec.depends_on, [this](const std::string& name) { return dependencyState(name); });
    switch (gate.kind) {
      case Gate::Kind::Go:
        app.awaiting_deps = false;
        inst.held.clear();
        releaseHeldSoon();  // its other instances
        return true;
      case Gate::Kind::Wait:
        if (inst.held != gate.reason)
          log_.info("{}[{}]: {}", app.spec.name, inst.index, gate.reason);
        inst.held = gate.reason;
        return false;
      case Gate::Kind::Fail:
        // awaiting_deps stays set: the app's other instances fail at their gate too.
        inst.held.clear();
        spawnFailed(app, inst, fmt::format("not started: {}", gate.reason));
        return false;
    }
    return false;
  }

  // Deferred and coalesced: called on every status change.
  void releaseHeldSoon() {
    if (release_posted_) return;
    bool any = false;
    for (const auto& a : apps_)
      for (const auto& i : a->instances) any = any || !i->held.empty();
    if (!any) return;
    release_posted_ = true;
    asio::post(io_, [this] {
      release_posted_ = false;
      std::vector<std::pair<int64_t, int>> held;
      for (const auto& a : apps_)
        for (const auto& i : a->instances)
          if (!i->held.empty()) held.emplace_back(a->id, i->key);
      for (auto [id, key] : held) {
        App* a = nullptr;
        Instance* i = findInstance(id, key, &a);
        if (!i || i->held.empty()) continue;
        if (i->machine.status() != Status::Starting || i->running()) {
          i->held.clear();
          continue;
        }
        spawn(*a, *i);
      }
    });
  }

  // Apps created by one apply: dependencies first, so that each exists when it is needed.
  void sortByDependencies(std::vector<Supervisor::Apply>& items) const {
    DependencyGraph g = graph();
    std::vector<std::string> names;
    for (const auto& item : items) {
      g.set(item.spec.name, item.spec.depends_on);
      names.push_back(item.spec.name);
    }
    std::vector<std::string> order = g.sorted(names);
    std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
      return std::ranges::find(order, x.spec.name) < std::ranges::find(order, y.spec.name);
    });
  }

 public:
  // See Supervisor::stopIdle(): the app, then the dependencies started for it that nothing
  // else meant to run needs (transitively: a dependency of such a dependency too).
  void stopIdle(const std::string& name, Reply done) {
    App* app = findByName(name);
    if (!app || app->reload) {
      command("stop", name, std::move(done));
      return;
    }
    std::vector<App*> stopping{app};
    std::set<std::string> names{name};
    const DependencyGraph g = graph();
    for (bool grew = true; grew;) {
      grew = false;
      for (const std::string& dep_name : g.startOrder(name)) {
        App* dep = findByName(dep_name);
        if (!dep || names.contains(dep_name) || !dep->started_as_dependency ||
            !dep->desired_running || dep->reload)
          continue;
        // Needed by an app that stays: one meant to run, not being stopped here.
        bool needed = false;
        for (const auto& other : apps_) {
          if (names.contains(other->spec.name) || !other->desired_running) continue;
          for (const auto& d : other->spec.depends_on) needed = needed || d.app == dep_name;
        }
        if (needed) continue;
        // Only when an app of the set needs it (else it is not this stop's to make).
        bool of_the_set = false;
        for (App* s : stopping)
          for (const auto& d : s->spec.depends_on) of_the_set = of_the_set || d.app == dep_name;
        if (!of_the_set) continue;
        stopping.push_back(dep);
        names.insert(dep_name);
        grew = true;
      }
    }
    if (stopping.size() == 1) {
      command("stop", name, std::move(done));
      return;
    }
    std::set<int64_t> ids;
    for (App* a : stopping) {
      ids.insert(a->id);
      if (a != app)
        log_.info("{}: stopping {} with it (started for it, and nothing else needs it)", name,
                  a->spec.name);
    }
    int levels = stopInOrder(stopping, [this](App& a) {
      abortReload(a, "idle stop");
      setDesired(a, false);
      a.started_as_dependency = false;
      for (auto& inst : a.instances) apply(a, *inst, inst->machine.stop());
      finishPendingIfStopped(a);
    });
    replyWhenSettled(ids, {}, std::move(done), {.rounds = levels});
  }

 private:
  // Stops `apps` dependents first, a level at a time; returns the number of levels.
  int stopInOrder(const std::vector<App*>& apps, std::function<void(App&)> stop_one) {
    std::vector<std::string> names;
    for (App* a : apps) names.push_back(a->spec.name);
    auto plan = std::make_shared<StopPlan>();
    plan->stop_one = std::move(stop_one);
    for (const auto& level : graph().stopLevels(names)) {
      std::vector<int64_t> ids;
      for (const auto& name : level)
        if (App* a = findByName(name)) ids.push_back(a->id);
      plan->levels.push_back(std::move(ids));
    }
    const int levels = static_cast<int>(plan->levels.size());
    if (levels > 1)
      log_.info("stopping {} apps in {} levels, dependents first", names.size(), levels);
    stop_plans_.push_back(plan);
    advanceStopPlans();
    return levels;
  }

  void advanceStopPlans() {
    if (advancing_plans_) return;  // a stop below calls back here
    advancing_plans_ = true;
    for (size_t p = 0; p < stop_plans_.size();) {
      StopPlan& plan = *stop_plans_[p];
      while (plan.next < plan.levels.size()) {
        if (plan.next > 0) {
          bool stopped = true;
          for (int64_t id : plan.levels[plan.next - 1])
            if (App* a = findById(id)) stopped = stopped && allStopped(*a);
          if (!stopped) break;
        }
        const auto level = plan.levels[plan.next++];
        for (int64_t id : level)
          if (App* a = findById(id)) plan.stop_one(*a);
      }
      bool finished = plan.next == plan.levels.size();
      if (finished)
        stop_plans_.erase(stop_plans_.begin() + static_cast<std::ptrdiff_t>(p));
      else
        ++p;
    }
    advancing_plans_ = false;
  }

  // ---- watch -------------------------------------------------------------------------------
  // An app with `watch` has a FileWatcher while it should run. A debounced change restarts
  // its running instances (cause "watch: <path> changed"); errored ones are started again.

  void syncWatcher(App& app) {
    const bool wanted = !app.spec.watch.empty() && app.desired_running && !isExternal(app);
    if (!wanted) {
      app.watcher.reset();
      return;
    }
    if (app.watcher) return;
    FileWatcher::Options options;
    for (const auto& path : app.spec.watch)
      options.roots.push_back(absolutePath(path, app.spec.cwd));
    options.base = app.spec.cwd;
    options.ignore = WatchIgnore(app.spec.ignore_watch);
    for (const auto& inst : app.instances) {
      options.ignore.addExact(inst->out_log->path());
      options.ignore.addExact(inst->err_log->path());
    }
    app.watcher = std::make_unique<FileWatcher>(
        io_, clock_, log_, app.spec.name, std::move(options),
        [this, id = app.id](const std::string& cause) { watchTriggered(id, cause); });
    if (auto err = app.watcher->start(); !err.empty()) {
      log_.error("{}: {}", app.spec.name, err);
      app.watcher.reset();
    }
  }

  void watchTriggered(int64_t id, const std::string& cause) {
    App* app = findById(id);
    if (!app || !app->desired_running || app->pending_spec || app->pending_delete) return;
    // A restart in progress already picks up the change.
    for (const auto& inst : app->instances) {
      Status s = inst->machine.status();
      if (s == Status::Stopping || (s == Status::Starting && !inst->running())) return;
    }
    log_.info("{}: watch: {}; restarting", app->spec.name, cause);
    if (app->watcher) app->watcher->settle();
    for (auto& inst : app->instances) {
      if (inst->machine.status() == Status::Errored)
        apply(*app, *inst, inst->machine.start());
      else
        apply(*app, *inst, inst->machine.limitExceeded("watch: " + cause));
    }
  }

  // ---- views -----------------------------------------------------------------------------

  json instanceJson(const App& app, const Instance& inst) const {
    json j;
    j["name"] = app.spec.name;
    j["id"] = app.id;
    j["group"] = app.spec.group.empty() ? json(nullptr) : json(app.spec.group);
    j["instance"] = inst.index;
    j["pid"] = inst.pid;
    j["status"] = std::string(statusName(inst.machine.status()));
    j["restarts"] = inst.restarts;
    j["uptime_ms"] =
        inst.running()
            ? std::chrono::duration_cast<Duration>(clock_.now() - inst.started_at).count()
            : 0;
    j["cpu"] = inst.cpu;
    j["memory"] = inst.memory;
    j["port"] = inst.port ? json(inst.port) : json(nullptr);
    j["on_demand"] = app.spec.on_demand.has_value();
    // As PM2 users read it: "cluster" is several instances behind one shared port (Node's
    // cluster module); instances with a port each are separate "fork" processes.
    j["mode"] = isRouteOnly(app.spec)                    ? "route"
                : app.spec.on_demand                     ? "on-demand"
                : app.spec.share_port != SharePort::None ? "cluster"
                                                         : "fork";
    j["instances"] = app.instances.size();
    if (inst.last_exit) {
      j["last_exit_code"] = inst.last_exit->exit_code;
      j["last_exit_signal"] = inst.last_exit->signal ? signalName(inst.last_exit->signal) : "";
    }
    j["reason"] = inst.held.empty() ? inst.machine.lastReason() : inst.held;
    return j;
  }

  // A new process gets its first CPU and memory figures shortly, not a whole interval later.
  void sampleSoon() {
    if (sample_timer_.expiry() - asio::steady_timer::clock_type::now() > kFirstSample) {
      sample_timer_.cancel();
      scheduleSample(kFirstSample);
    }
  }

  void scheduleSample(Duration after = kSampleInterval) {
    sample_timer_.expires_after(after);
    sample_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      sample();
      scheduleSample();
    });
  }

  // ---- cron_restart -------------------------------------------------------------------------
  // One timer for every app's schedule, armed only while some app has one: it wakes just
  // after the soonest time any schedule fires (at least once a minute, so a change of the
  // wall clock is seen) and restarts the running instances of each app whose schedule fired
  // since the last wake, each restart recorded with its cause.

  void armCron() {
    const int64_t now_ms = clock_.wallMillis();
    const time_t now = static_cast<time_t>(now_ms / 1000);
    int64_t wait = 60'000;
    bool any = false;
    for (const auto& app : apps_) {
      if (app->spec.cron_restart.empty()) continue;
      any = true;
      auto schedule = CronSchedule::parse(app->spec.cron_restart);
      time_t when = schedule ? schedule->next(now) : -1;
      if (when > 0) wait = std::min<int64_t>(wait, when * 1000 - now_ms + 50);  // just past it
    }
    if (!any) {
      cron_timer_.cancel();
      cron_armed_ = false;
      return;
    }
    if (!cron_armed_) cron_checked_ = now;  // times before this arming are not due
    cron_armed_ = true;
    // Re-arming cancels the wait before (its handler sees operation_aborted and returns).
    cron_timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(wait, 1)));
    cron_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      cron_armed_ = false;
      cronTick();
      armCron();
    });
  }

  void cronTick() {
    const time_t now = static_cast<time_t>(clock_.wallMillis() / 1000);
    const time_t since = cron_checked_;
    cron_checked_ = now;
    if (now <= since) return;  // nothing new, or the wall clock went back: nothing is due
    for (auto& app : apps_) {
      if (app->spec.cron_restart.empty() || !app->desired_running) continue;
      auto schedule = CronSchedule::parse(app->spec.cron_restart);
      if (!schedule) continue;
      time_t due = schedule->next(since);
      if (due == -1 || due > now) continue;
      log_.info("{}: cron_restart '{}'", app->spec.name, app->spec.cron_restart);
      for (auto& inst : app->instances)
        apply(
            *app, *inst,
            inst->machine.limitExceeded(fmt::format("cron_restart '{}'", app->spec.cron_restart)));
    }
  }

  // CPU percent and RSS of each running instance's process tree.
  void sample() {
    bool any = false;
    for (auto& app : apps_)
      for (auto& inst : app->instances) any = any || inst->running();
    if (!any) return;
    recordUnrecorded();
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    ProcessTable table = ProcessTable::read();
    TimePoint now = clock_.now();
    for (auto& app : apps_) {
      for (auto& inst : app->instances) {
        if (!inst->running()) continue;
        ProcessTable::Usage u = table.treeUsage(inst->pid);
        inst->memory = u.rss_bytes;
        if (inst->last_ticks && now > inst->last_sample && u.cpu_ticks >= inst->last_ticks) {
          double secs = std::chrono::duration<double>(now - inst->last_sample).count();
          inst->cpu =
              static_cast<double>(u.cpu_ticks - inst->last_ticks) / ticks_per_second / secs * 100.0;
          inst->cpu = std::round(inst->cpu * 10) / 10;
        }
        inst->last_ticks = u.cpu_ticks;
        inst->last_sample = now;
        enforceMemoryLimit(*app, *inst);
      }
    }
  }

  // The processes spawned while the store could not be written get their rows now.
  void recordUnrecorded() {
    for (auto& app : apps_) {
      for (auto& inst : app->instances) {
        if (!inst->unrecorded || !inst->running()) continue;
        if (!recordInstance(*app, *inst)) return;  // still full: try at the next sample
        inst->unrecorded = false;
        log_.info("{}[{}]: pid {} is recorded in the state database now", app->spec.name,
                  inst->index, inst->pid);
      }
    }
  }

  // max_memory: an instance whose process tree uses more is restarted, with the cause kept.
  void enforceMemoryLimit(App& app, Instance& inst) {
    if (!app.spec.max_memory || inst.memory <= *app.spec.max_memory) return;
    if (inst.machine.status() != Status::Online && inst.machine.status() != Status::Starting)
      return;
    const std::string why = fmt::format("memory {} over max_memory {}", humanSize(inst.memory),
                                        humanSize(*app.spec.max_memory));
    if (event_)
      event_({{"type", "memory_limit"},
              {"event", "memory_limit"},
              {"app", app.spec.name},
              {"instance", inst.index},
              {"pid", inst.pid},
              {"reason", why},
              {"memory", inst.memory},
              {"max_memory", *app.spec.max_memory}});
    apply(app, inst, inst.machine.limitExceeded(why));
  }

  void closeInstanceIo(Instance& inst) {
    killHooks(inst);
    inst.probes->stop();
    inst.notify.reset();
    inst.restart_timer.cancel();
    inst.kill_timer.cancel();
    inst.group_timer.cancel();
    inst.pidfd.reset();
    if (inst.out_reader) inst.out_reader->close();
    if (inst.err_reader) inst.err_reader->close();
  }

 public:
  void armAdoptedWatches() {
    for (auto& app : apps_)
      for (auto& inst : app->instances)
        if (inst->adopted) watchAdopted(*app, *inst);
  }

 private:
  asio::io_context& io_;
  const Paths& paths_;
  StateStore& store_;
  ProcessOps& ops_;
  Logger& log_;
  Clock& clock_;
  PortAllocator ports_;
  asio::signal_set sigchld_;
  asio::steady_timer sample_timer_;
  asio::steady_timer cron_timer_;
  asio::steady_timer recheck_timer_;  // a --wait waiting for an instance to run min_uptime
  bool recheck_armed_ = false;
  TimePoint recheck_at_{};
  bool cron_armed_ = false;
  time_t cron_checked_ = 0;  // wall-clock second up to which schedules were looked at
  std::map<std::string, std::string> base_env_;
  std::vector<std::unique_ptr<App>> apps_;
  std::map<pid_t, std::pair<int64_t, int>> by_pid_;           // pid -> app id, instance key
  uint64_t runs_ = 0;                                         // spawns so far (Instance::run)
  std::map<pid_t, std::function<void(ExitStatus)>> helpers_;  // check/start/stop commands
  std::vector<std::shared_ptr<Waiter>> waiters_;
  std::vector<std::shared_ptr<StopPlan>> stop_plans_;
  bool advancing_plans_ = false;
  bool release_posted_ = false;
  std::function<void()> apps_changed_;
  std::function<void(const std::string&)> instance_online_;
  std::function<void(const std::string&, const std::string&)> start_failed_;
  std::function<void(const json&)> event_;
  std::function<void(const std::string&, int, bool, std::string_view)> log_line_;
  std::function<void(const std::string&)> serving_changed_;
  std::function<size_t(const std::string&, uint16_t)> in_flight_;
};

Supervisor::Supervisor(Deps deps) : impl_(std::make_unique<Impl>(deps)) {}
Supervisor::~Supervisor() = default;

void Supervisor::restore() {
  impl_->restore();
  impl_->armAdoptedWatches();
}
void Supervisor::apply(std::vector<Apply> apps, Reply done, bool wait) {
  impl_->applySpecs(std::move(apps), std::move(done), wait);
}
void Supervisor::start(const std::string& t, Reply done, bool wait) {
  impl_->command("start", t, std::move(done), wait);
}
void Supervisor::stop(const std::string& t, Reply done) {
  impl_->command("stop", t, std::move(done));
}
void Supervisor::stopIdle(const std::string& app, Reply done) {
  impl_->stopIdle(app, std::move(done));
}
void Supervisor::restart(const std::string& t, Reply done) {
  impl_->command("restart", t, std::move(done));
}
void Supervisor::reload(const std::string& t, Reply done) {
  impl_->reload(t, std::move(done));
}
std::vector<uint16_t> Supervisor::servingPorts(const std::string& app) const {
  return impl_->servingPorts(app);
}
std::vector<Supervisor::ServingInstance> Supervisor::servingInstances(
    const std::string& app) const {
  return impl_->servingInstances(app);
}
void Supervisor::onServingChanged(std::function<void(const std::string& app)> hook) {
  impl_->onServingChanged(std::move(hook));
}
void Supervisor::countInFlight(std::function<size_t(const std::string&, uint16_t)> counter) {
  impl_->countInFlight(std::move(counter));
}
void Supervisor::scale(const std::string& name, int instances, Reply done) {
  impl_->scale(name, instances, std::move(done));
}
void Supervisor::remove(const std::string& t, Reply done) {
  impl_->command("delete", t, std::move(done));
}
nlohmann::json Supervisor::list() const {
  return impl_->list();
}
Supervisor::Result Supervisor::describe(const std::string& t) const {
  return impl_->describe(t);
}
Supervisor::Result Supervisor::logFiles(const std::string& t) const {
  return impl_->logFiles(t);
}
nlohmann::json Supervisor::dump() const {
  return impl_->dump();
}
Supervisor::Result Supervisor::flush(const std::string& t) {
  return impl_->flush(t);
}
std::optional<Supervisor::AppSnapshot> Supervisor::snapshot(const std::string& name) const {
  return impl_->snapshot(name);
}
std::vector<Supervisor::AppSnapshot> Supervisor::snapshots() const {
  return impl_->snapshots();
}
std::optional<std::vector<Status>> Supervisor::statuses(const std::string& name) const {
  return impl_->statuses(name);
}
bool Supervisor::reloading(const std::string& name) const {
  return impl_->reloading(name);
}
void Supervisor::onInstanceOnline(std::function<void(const std::string& app)> hook) {
  impl_->onInstanceOnline(std::move(hook));
}
void Supervisor::onStartFailed(
    std::function<void(const std::string& app, const std::string& why)> hook) {
  impl_->onStartFailed(std::move(hook));
}
void Supervisor::onAppsChanged(std::function<void()> hook) {
  impl_->onAppsChanged(std::move(hook));
}
void Supervisor::onEvent(std::function<void(const nlohmann::json&)> event) {
  impl_->onEvent(std::move(event));
}
void Supervisor::onLogLine(
    std::function<void(const std::string&, int, bool, std::string_view)> log_line) {
  impl_->onLogLine(std::move(log_line));
}
void Supervisor::shutdown(bool forget, std::function<void()> done) {
  impl_->shutdown(forget, std::move(done));
}

}  // namespace tend
