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
#include "common/text.hpp"
#include "config/config.hpp"
#include "logs/line_splitter.hpp"
#include "logs/log_writer.hpp"
#include "supervisor/instance_state.hpp"
#include "supervisor/proc_stat.hpp"

extern char** environ;

namespace tend {
namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr Duration kGroupPoll = 10ms;
constexpr Duration kSampleInterval = 2s;
constexpr Duration kFirstSample = 200ms;
constexpr Duration kReplySlack = 10s;  // beyond kill_timeout, before a reply is sent anyway

// Reads one child stream into its log file, line by line. Waits for readability and then
// reads into one buffer shared by every reader (the loop has one thread), so an idle
// instance costs no read buffer. Owns itself while a wait is pending (shared_from_this),
// so closing the instance never leaves a dangling handler.
class PipeReader : public std::enable_shared_from_this<PipeReader> {
 public:
  PipeReader(asio::io_context& io, UniqueFd fd, std::shared_ptr<LogWriter> writer, Clock& clock)
      : stream_(io, fd.release()), writer_(std::move(writer)), clock_(clock) {
    boost::system::error_code ignored;
    stream_.non_blocking(true, ignored);
  }

  void start() { doWait(); }
  // Also gets each line, after the log file did.
  void observe(std::function<void(std::string_view)> on_line) { on_line_ = std::move(on_line); }
  void close() {
    boost::system::error_code ignored;
    stream_.close(ignored);
  }

 private:
  static constexpr int kReadsPerWakeup = 16;  // then let other work run

  void doWait() {
    stream_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec) return;
                         self->onReadable();
                       });
  }

  void onReadable() {
    static std::array<char, 64 * 1024> buffer;
    const int64_t now = clock_.wallMillis();  // one stamp per read: a read takes microseconds
    auto sink = [this, now](std::string_view line) {
      writer_->append(line, now);
      if (on_line_) on_line_(line);
    };
    for (int i = 0; i < kReadsPerWakeup; ++i) {
      if (!stream_.is_open()) return;
      ssize_t n = ::read(stream_.native_handle(), buffer.data(), buffer.size());
      if (n > 0) {
        splitter_.feed(std::string_view(buffer.data(), static_cast<size_t>(n)), sink);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      splitter_.finish(sink);  // end of stream (or an error): nothing more will come
      writer_->flush(now);
      close();
      return;
    }
    writer_->flush(now);
    doWait();
  }

  asio::posix::stream_descriptor stream_;
  LineSplitter splitter_;
  std::shared_ptr<LogWriter> writer_;
  Clock& clock_;
  std::function<void(std::string_view)> on_line_;
};

struct Instance {
  Instance(asio::io_context& io, const AppSpec& spec, int idx)
      : index(idx), machine(spec), restart_timer(io), kill_timer(io), group_timer(io) {}

  int index;
  InstanceMachine machine;
  pid_t pid = 0;     // also its process group
  uint64_t run = 0;  // which spawn the pid belongs to; stale timer events are ignored
  uint64_t start_ticks = 0;
  TimePoint started_at{};
  int64_t started_wall = 0;
  uint16_t port = 0;
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  bool adopted = false;  // found running from before a daemon restart
  TimePoint kill_deadline{};
  asio::steady_timer restart_timer, kill_timer, group_timer;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::shared_ptr<PipeReader> out_reader, err_reader;
  std::shared_ptr<LogWriter> out_log, err_log;
  double cpu = 0;
  uint64_t memory = 0;
  uint64_t last_ticks = 0;
  TimePoint last_sample{};

  bool running() const { return pid > 0; }
};

struct App {
  int64_t id = 0;
  AppSpec spec;
  bool desired_running = false;
  std::vector<std::unique_ptr<Instance>> instances;
  UniqueFd activation_socket;  // on_demand.socket_activation: bound once, kept across restarts
  std::optional<AppSpec> pending_spec;  // replace the spec once every instance stopped
  bool start_after_update = false;
  bool pending_delete = false;
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
        cron_timer_(d.io) {
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
    // Processes recorded for instances that no longer exist: stop them, never orphan them.
    for (const auto& [key, row] : by_key) {
      if (row.pid > 0 && processStartTicks(row.pid) == row.start_ticks) {
        log_.warn("stopping leftover process {} (app id {}, instance {})", row.pid, row.app_id,
                  row.index);
        killLeftover(row.pid);
      }
      (void)store_.removeInstance(row.app_id, row.index);
    }
    for (auto& app : apps_) {
      App& a = *app;
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

  void applySpecs(std::vector<Supervisor::Apply> items, Reply done) {
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
      if (!(app->spec == item.spec)) {
        (void)store_.updateApp(app->id, toJson(item.spec), item.run);
        log_.info("{}: configuration changed", app->spec.name);
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
    replyWhenSettled(touched, std::move(errors), std::move(done));
  }

  void command(const std::string& verb, const std::string& target, Reply done) {
    auto targets = resolve(target);
    if (!targets) {
      done(std::unexpected(targets.error()));
      return;
    }
    std::set<int64_t> ids;
    std::vector<std::string> errors;
    for (App* app : *targets) {
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
    replyWhenSettled(ids, std::move(errors), std::move(done));
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
      a["desired"] = app->desired_running ? "running" : "stopped";
      a["spec"] = toJson(app->spec);
      a["command"] = app->spec.run_shell ? app->spec.argv.back() : [&] {
        std::vector<std::string> words;
        for (const auto& w : app->spec.argv) words.push_back(shellQuote(w));
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
  std::vector<uint16_t> servingPorts(const std::string& name) const {
    std::vector<uint16_t> out;
    for (const auto& app : apps_) {
      if (app->spec.name != name) continue;
      for (const auto& inst : app->instances)
        if (inst->machine.status() == Status::Online && inst->port) out.push_back(inst->port);
    }
    return out;
  }
  void onInstanceOnline(std::function<void(const std::string&)> hook) {
    instance_online_ = std::move(hook);
  }

  void onAppsChanged(std::function<void()> hook) { apps_changed_ = std::move(hook); }
  void onEvent(std::function<void(const json&)> hook) { event_ = std::move(hook); }
  void onLogLine(std::function<void(const std::string&, int, bool, std::string_view)> hook) {
    log_line_ = std::move(hook);
  }

  void shutdown(bool forget, std::function<void()> done) {
    std::set<int64_t> ids;
    for (auto& app : apps_) {
      ids.insert(app->id);
      if (forget) setDesired(*app, false);
      for (auto& inst : app->instances) apply(*app, *inst, inst->machine.stop());
    }
    replyWhenSettled(ids, {}, [done = std::move(done)](Result) { done(); });
  }

 private:
  static Supervisor::AppSnapshot snapshotOf(const App& app) {
    Supervisor::AppSnapshot snap;
    snap.spec = app.spec;
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
  Instance* findInstance(int64_t app_id, int index, App** app_out = nullptr) {
    App* app = findById(app_id);
    if (!app || index < 0 || index >= static_cast<int>(app->instances.size())) return nullptr;
    if (app_out) *app_out = app;
    return app->instances[static_cast<size_t>(index)].get();
  }

  std::expected<std::vector<App*>, std::string> resolve(const std::string& target) {
    std::vector<App*> out;
    if (target == "all") {
      for (auto& a : apps_) out.push_back(a.get());
      return out;
    }
    if (App* a = findByName(target)) return std::vector<App*>{a};
    if (!target.empty() && target.find_first_not_of("0123456789") == std::string::npos &&
        target.size() < 18) {
      if (App* a = findById(std::stoll(target))) return std::vector<App*>{a};
    }
    std::vector<std::string> names;
    for (auto& a : apps_) names.push_back(a->spec.name);
    std::string hint = suggestNearest(target, names);
    return std::unexpected(
        hint.empty() ? fmt::format("no app named '{}'", target)
                     : fmt::format("no app named '{}' (did you mean '{}'?)", target, hint));
  }

  // ---- building and starting -------------------------------------------------------------

  void buildInstances(App& app) {
    for (auto& inst : app.instances) closeInstanceIo(*inst);
    app.instances.clear();
    int count = instanceCount(app.spec);
    for (int i = 0; i < count; ++i) app.instances.push_back(makeInstance(app, i));
  }

  std::unique_ptr<Instance> makeInstance(const App& app, int i) {
    auto inst = std::make_unique<Instance>(io_, app.spec, i);
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
    app->spec = spec;
    (void)store_.updateApp(app->id, toJson(spec), app->desired_running);
    if (count > old) {
      for (int i = old; i < count; ++i) app->instances.push_back(makeInstance(*app, i));
      auto ports = ports_.allocate(name, spec.port, count);
      if (!ports) {
        app->instances.resize(static_cast<size_t>(old));
        done(std::unexpected(fmt::format("{}: {}", name, ports.error())));
        return;
      }
      for (int i = old; i < count; ++i)
        app->instances[static_cast<size_t>(i)]->port =
            ports->empty() ? 0 : (*ports)[static_cast<size_t>(i)];
      if (app->desired_running)
        for (int i = old; i < count; ++i)
          apply(*app, *app->instances[static_cast<size_t>(i)],
                app->instances[static_cast<size_t>(i)]->machine.start());
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
  std::string allocatePorts(App& app) {
    bool any_running = false;
    for (auto& inst : app.instances) any_running = any_running || inst->running();
    if (any_running) return "";  // they hold their ports already
    auto ports =
        ports_.allocate(app.spec.name, app.spec.port, static_cast<int>(app.instances.size()));
    if (!ports) return fmt::format("{}: {}", app.spec.name, ports.error());
    for (size_t i = 0; i < app.instances.size(); ++i)
      app.instances[i]->port = ports->empty() ? 0 : (*ports)[i];
    return "";
  }

  std::string startApp(App& app) {
    if (auto err = allocatePorts(app); !err.empty()) {
      log_.warn("{}", err);
      return err;
    }
    setDesired(app, true);
    for (auto& inst : app.instances) apply(app, *inst, inst->machine.start());
    return "";
  }

  void setDesired(App& app, bool running) {
    if (app.desired_running == running) return;
    app.desired_running = running;
    if (auto r = store_.setDesired(app.id, running); !r)
      log_.error("{}: cannot record desired state: {}", app.spec.name, r.error());
  }

  std::vector<std::string> childEnv(const App& app, const Instance& inst) const {
    std::map<std::string, std::string> env = base_env_;
    for (const auto& [k, v] : app.spec.env) env[k] = v;
    env["TEND_APP_NAME"] = app.spec.name;
    env["TEND_INSTANCE"] = std::to_string(inst.index);
    env["TEND_INSTANCES"] = std::to_string(app.instances.size());
    if (inst.port) {
      env["PORT"] = std::to_string(inst.port);
      env["TEND_PORT"] = std::to_string(inst.port);
    }
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
  }

  void spawn(App& app, Instance& inst) {
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
    if (app.spec.on_demand && app.spec.on_demand->socket_activation) {
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
    ++inst.run;
    inst.adopted = false;
    inst.start_ticks = processStartTicks(*pid).value_or(0);
    inst.started_at = clock_.now();
    inst.started_wall = clock_.wallMillis();
    inst.cpu = 0;
    inst.memory = 0;
    inst.last_ticks = 0;
    by_pid_[*pid] = {app.id, inst.index};
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
    persistInstance(app, inst);
    sampleSoon();
    log_.info("{}[{}]: started pid {}", app.spec.name, inst.index, *pid);
    apply(app, inst, inst.machine.spawned());
    // No readiness probe yet: an instance is online as soon as it runs.
    apply(app, inst, inst.machine.ready());
  }

  // Socket activation: tend binds the app's port itself, once, and every process of the app
  // gets the listening socket as fd 3, so a connection made while it boots (or restarts)
  // waits in the backlog instead of being refused.
  std::string ensureActivationSocket(App& app, const Instance& inst) {
    if (app.activation_socket) return "";
    if (!inst.port) return "socket_activation needs the app's port";
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(inst.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd.get(), SOMAXCONN) != 0)
      return fmt::format("cannot listen on 127.0.0.1:{} for socket activation: {}", inst.port,
                         std::strerror(errno));
    app.activation_socket = std::move(fd);
    return "";
  }

  // ---- apps tend does not spawn (start / stop / check commands) ---------------------------

  static bool isExternal(const App& app) { return !app.spec.start_cmd.empty(); }

  // Runs `command` under /bin/sh -c with the app's env and cwd, its output in the app's
  // logs. `done` gets its exit; a command still running after `limit` is killed.
  void runHelper(App& app, Instance& inst, const std::string& what, const std::string& command,
                 Duration limit, std::function<void(ExitStatus)> done) {
    UniqueFd out_r, out_w, err_r, err_w;
    if (!makePipe(out_r, out_w) || !makePipe(err_r, err_w)) {
      done(ExitStatus{});
      return;
    }
    SpawnRequest req;
    req.argv = {"/bin/sh", "-c", command};
    req.cwd = app.spec.cwd;
    req.env = childEnv(app, inst);
    req.stdout_fd = out_w.get();
    req.stderr_fd = err_w.get();
    auto pid = ops_.spawn(req);
    out_w.reset();
    err_w.reset();
    if (!pid) {
      inst.err_log->write(fmt::format("tend: {} command: {}", what, pid.error()),
                          clock_.wallMillis());
      done(ExitStatus{});
      return;
    }
    log_.info("{}: running its {} command (pid {})", app.spec.name, what, *pid);
    std::make_shared<PipeReader>(io_, std::move(out_r), inst.out_log, clock_)->start();
    std::make_shared<PipeReader>(io_, std::move(err_r), inst.err_log, clock_)->start();
    auto timer = std::make_shared<asio::steady_timer>(io_, limit);
    pid_t p = *pid;
    timer->async_wait([this, p](boost::system::error_code ec) {
      if (!ec && helpers_.count(p)) ops_.signalGroup(p, SIGKILL);
    });
    helpers_[p] = [timer, done = std::move(done)](ExitStatus exit) {
      timer->cancel();
      done(exit);
    };
  }

  // check (when given): already running means online at once; else start, online when it
  // succeeds. The gateway then waits for the target to accept connections.
  void startExternal(App& app, Instance& inst) {
    uint64_t run = ++inst.run;
    inst.started_at = clock_.now();
    inst.started_wall = clock_.wallMillis();
    Duration limit = app.spec.on_demand ? app.spec.on_demand->start_timeout : Duration(30s);
    auto whenCurrent = [this, id = app.id, index = inst.index, run](auto fn) {
      return [this, id, index, run, fn](ExitStatus exit) {
        App* a = nullptr;
        Instance* i = findInstance(id, index, &a);
        if (i && i->run == run && i->machine.status() == Status::Starting) fn(*a, *i, exit);
      };
    };
    auto started = whenCurrent([this](App& a, Instance& i, ExitStatus exit) {
      if (!exit.clean()) {
        spawnFailed(a, i, fmt::format("start command failed: {}", exit.describe()));
        return;
      }
      apply(a, i, i.machine.spawned());
      apply(a, i, i.machine.ready());
    });
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
                apply(a, i, i.machine.ready());
              }));
  }

  void stopExternal(App& app, Instance& inst) {
    uint64_t run = ++inst.run;
    auto finished = [this, id = app.id, index = inst.index, run](ExitStatus exit) {
      App* a = nullptr;
      Instance* i = findInstance(id, index, &a);
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
    log_.error("{}[{}]: {}", app.spec.name, inst.index, why);
    inst.err_log->write(fmt::format("tend: {}", why), clock_.wallMillis());
    // Posted, so that a failing spawn retried without delay cannot recurse.
    asio::post(io_, [this, id = app.id, index = inst.index, run = inst.run, why] {
      App* a = nullptr;
      Instance* i = findInstance(id, index, &a);
      if (!i || i->run != run || i->machine.status() != Status::Starting) return;
      apply(*a, *i, i->machine.spawnFailed(clock_.now(), why));
    });
  }

  void persistInstance(const App& app, const Instance& inst) {
    StateStore::InstanceRow row{app.id, inst.index, inst.pid, inst.start_ticks, inst.port};
    if (auto r = store_.putInstance(row); !r)
      log_.error("{}[{}]: cannot record instance: {}", app.spec.name, inst.index, r.error());
  }

  // ---- carrying out transitions ----------------------------------------------------------

  void apply(App& app, Instance& inst, const Transition& t) {
    if (t.changed)
      log_.info("{}[{}]: {}{}", app.spec.name, inst.index, statusName(t.status),
                t.reason.empty() ? "" : " (" + t.reason + ")");
    // Before the actions: a spawn applies the next transitions (and tells of them) itself.
    if (t.changed && event_) {
      event_({{"type", "state"},
              {"app", app.spec.name},
              {"instance", inst.index},
              {"status", std::string(statusName(t.status))},
              {"reason", t.reason},
              {"pid", inst.pid}});
      if (std::ranges::find(t.actions, Action::RecordRestart) != t.actions.end())
        event_({{"type", "restart"},
                {"app", app.spec.name},
                {"instance", inst.index},
                {"reason", t.reason}});
    }
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
      }
    }
    if (t.changed) {
      finishPendingIfStopped(app);
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
        [this, id = app.id, index = inst.index](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, index, &a);
          if (i) apply(*a, *i, i->machine.restartDue());
        });
  }

  void sendStop(App& app, Instance& inst) {
    if (isExternal(app)) {
      stopExternal(app, inst);
      return;
    }
    if (!inst.running()) return;
    ops_.signalGroup(inst.pid, app.spec.stop_signal);
    inst.kill_deadline = clock_.now() + app.spec.kill_timeout;
    inst.kill_timer.expires_after(app.spec.kill_timeout);
    inst.kill_timer.async_wait(
        [this, id = app.id, index = inst.index, run = inst.run](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, index, &a);
          if (!i || i->run != run || !i->running()) return;
          log_.warn("{}[{}]: still running {} after {}; sending SIGKILL to its group", a->spec.name,
                    index, i->pid, formatDuration(a->spec.kill_timeout));
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
    ++inst.run;
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
        [this, id = app.id, index = inst.index, run = inst.run](boost::system::error_code ec) {
          if (ec) return;
          App* a = nullptr;
          Instance* i = findInstance(id, index, &a);
          if (!i || i->run != run || !i->running()) return;
          i->pidfd.reset();
          leaderExited(*a, *i, ExitStatus{});
        });
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
    inst.group_timer.async_wait([this, id = app.id, index = inst.index, run = inst.run,
                                 exit](boost::system::error_code ec) {
      if (ec) return;
      App* a = nullptr;
      Instance* i = findInstance(id, index, &a);
      if (i && i->run == run && i->running()) waitForGroup(*a, *i, exit);
    });
  }

  void finishExit(App& app, Instance& inst, const ExitStatus& exit) {
    Duration uptime = std::chrono::duration_cast<Duration>(clock_.now() - inst.started_at);
    by_pid_.erase(inst.pid);
    log_.info("{}[{}]: pid {} {} after {}", app.spec.name, inst.index, inst.pid, exit.describe(),
              humanDuration(uptime));
    inst.pid = 0;
    inst.kill_timer.cancel();
    inst.group_timer.cancel();
    inst.pidfd.reset();
    inst.cpu = 0;
    inst.memory = 0;
    persistInstance(app, inst);
    apply(app, inst, inst.machine.exited(clock_.now(), uptime, exit));
  }

  // ---- updates, deletes and replies ------------------------------------------------------

  static bool allStopped(const App& app) {
    for (const auto& inst : app.instances)
      if (inst->running() || !settledStatus(inst->machine.status())) return false;
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
        log_.info("{}: deleted", a->spec.name);
        std::erase_if(apps_, [id](const auto& p) { return p->id == id; });
        appsChanged();
      } else if (a->pending_spec) {
        for (auto& inst : a->instances) (void)store_.removeInstance(a->id, inst->index);
        a->spec = std::move(*a->pending_spec);
        a->pending_spec.reset();
        a->activation_socket.reset();
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

  struct Waiter {
    std::set<int64_t> ids;
    std::vector<std::string> errors;
    Reply done;
    std::shared_ptr<asio::steady_timer> timer;
  };

  bool settled(const std::set<int64_t>& ids) {
    for (int64_t id : ids) {
      App* app = findById(id);
      if (!app) continue;
      if (app->pending_spec || app->pending_delete) return false;
      for (const auto& inst : app->instances)
        if (!settledStatus(inst->machine.status())) return false;
    }
    return true;
  }

  void replyWhenSettled(std::set<int64_t> ids, std::vector<std::string> errors, Reply done) {
    Duration longest = 0ms;
    for (int64_t id : ids)
      if (App* a = findById(id)) longest = std::max(longest, a->spec.kill_timeout);
    auto waiter = std::make_shared<Waiter>();
    waiter->ids = std::move(ids);
    waiter->errors = std::move(errors);
    waiter->done = std::move(done);
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
    std::vector<std::shared_ptr<Waiter>> ready;
    for (const auto& w : waiters_)
      if (settled(w->ids)) ready.push_back(w);
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

  // ---- views -----------------------------------------------------------------------------

  json instanceJson(const App& app, const Instance& inst) const {
    json j;
    j["name"] = app.spec.name;
    j["id"] = app.id;
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
    j["mode"] = app.spec.on_demand ? "on-demand" : (app.instances.size() > 1 ? "cluster" : "fork");
    if (inst.last_exit) {
      j["last_exit_code"] = inst.last_exit->exit_code;
      j["last_exit_signal"] = inst.last_exit->signal ? signalName(inst.last_exit->signal) : "";
    }
    j["reason"] = inst.machine.lastReason();
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
  // One timer for every app's schedule, armed only while some app has one: it wakes at each
  // whole minute of the wall clock and restarts the running instances of the apps whose
  // schedule matches that minute (each restart recorded with its cause).

  void armCron() {
    bool any =
        std::ranges::any_of(apps_, [](const auto& a) { return !a->spec.cron_restart.empty(); });
    if (!any || cron_armed_) return;
    cron_armed_ = true;
    const int64_t now = clock_.wallMillis();
    const int64_t wait = 60'000 - now % 60'000 + 50;  // just past the next whole minute
    cron_timer_.expires_after(std::chrono::milliseconds(wait));
    cron_timer_.async_wait([this](boost::system::error_code ec) {
      cron_armed_ = false;
      if (ec) return;
      cronTick();
      armCron();
    });
  }

  void cronTick() {
    const time_t minute = static_cast<time_t>(clock_.wallMillis() / 60'000 * 60);
    if (minute == cron_last_minute_) return;
    cron_last_minute_ = minute;
    std::tm local{};
    localtime_r(&minute, &local);
    for (auto& app : apps_) {
      if (app->spec.cron_restart.empty() || !app->desired_running) continue;
      auto schedule = CronSchedule::parse(app->spec.cron_restart);
      if (!schedule || !schedule->matches(local)) continue;
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

  // max_memory: an instance whose process tree uses more is restarted, with the cause kept.
  void enforceMemoryLimit(App& app, Instance& inst) {
    if (!app.spec.max_memory || inst.memory <= *app.spec.max_memory) return;
    if (inst.machine.status() != Status::Online && inst.machine.status() != Status::Starting)
      return;
    apply(app, inst,
          inst.machine.limitExceeded(fmt::format("memory {} over max_memory {}",
                                                 humanSize(inst.memory),
                                                 humanSize(*app.spec.max_memory))));
  }

  void closeInstanceIo(Instance& inst) {
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
  bool cron_armed_ = false;
  time_t cron_last_minute_ = 0;
  std::map<std::string, std::string> base_env_;
  std::vector<std::unique_ptr<App>> apps_;
  std::map<pid_t, std::pair<int64_t, int>> by_pid_;
  std::map<pid_t, std::function<void(ExitStatus)>> helpers_;  // check/start/stop commands
  std::vector<std::shared_ptr<Waiter>> waiters_;
  std::function<void()> apps_changed_;
  std::function<void(const std::string&)> instance_online_;
  std::function<void(const json&)> event_;
  std::function<void(const std::string&, int, bool, std::string_view)> log_line_;
};

Supervisor::Supervisor(Deps deps) : impl_(std::make_unique<Impl>(deps)) {}
Supervisor::~Supervisor() = default;

void Supervisor::restore() {
  impl_->restore();
  impl_->armAdoptedWatches();
}
void Supervisor::apply(std::vector<Apply> apps, Reply done) {
  impl_->applySpecs(std::move(apps), std::move(done));
}
void Supervisor::start(const std::string& t, Reply done) {
  impl_->command("start", t, std::move(done));
}
void Supervisor::stop(const std::string& t, Reply done) {
  impl_->command("stop", t, std::move(done));
}
void Supervisor::restart(const std::string& t, Reply done) {
  impl_->command("restart", t, std::move(done));
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
std::vector<uint16_t> Supervisor::servingPorts(const std::string& name) const {
  return impl_->servingPorts(name);
}
void Supervisor::onInstanceOnline(std::function<void(const std::string& app)> hook) {
  impl_->onInstanceOnline(std::move(hook));
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
