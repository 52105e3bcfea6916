#include "cli/commands.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "api/scale_change.hpp"
#include "cli/client.hpp"
#include "cli/startup.hpp"
#include "cli/table.hpp"
#include "cli/targets.hpp"
#include "common/duration.hpp"
#include "common/files.hpp"
#include "common/paths.hpp"
#include "common/text.hpp"
#include "config/config.hpp"
#include "config/pm2.hpp"
#include "daemon/daemon.hpp"
#include "logs/json_line.hpp"
#include "logs/log_reader.hpp"
#include "supervisor/apply_plan.hpp"
#include "supervisor/dependency_graph.hpp"

namespace tend {
namespace {

using nlohmann::json;

int fail(const std::string& message) {
  std::fprintf(stderr, "tend: %s\n", printableText(message).c_str());
  return kExitFailed;
}

std::expected<Client, std::string> connected(bool autostart = true) {
  Client client(Paths::fromEnvironment());
  if (auto r = client.connect(autostart); !r) return std::unexpected(r.error());
  return client;
}

// Sends one request (starting the daemon when needed) and returns its data.
std::expected<json, std::string> call(const json& request, bool autostart = true) {
  auto client = connected(autostart);
  if (!client) return std::unexpected(client.error());
  return client->request(request);
}

void printJson(const json& data) {
  std::printf("%s\n", data.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

void printTable(const json& list) {
  std::fputs(renderAppTable(list, useColor(1)).c_str(), stdout);
}

// Prints the reply of a command that changed apps: the whole list, as PM2 does.
int printList(const std::expected<json, std::string>& data, bool as_json) {
  if (!data) return fail(data.error());
  if (as_json)
    printJson(*data);
  else
    printTable(*data);
  return kExitOk;
}

std::string formatErrors(const ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += e.format() + "\n";
  return out;
}

// The interpreter PM2 would pick for a script that is not executable itself.
std::vector<std::string> interpreterFor(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".js" || ext == ".mjs" || ext == ".cjs") return {"node"};
  if (ext == ".py") return {"python3"};
  if (ext == ".sh") return {"/bin/sh"};
  if (ext == ".rb") return {"ruby"};
  if (ext == ".pl") return {"perl"};
  if (ext == ".php") return {"php"};
  return {};
}

bool isNumber(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 10;
}

// This shell's environment, for the apps a start creates (as PM2 passes it). The daemon
// drops what an app must not inherit again. A variable whose name or value is not UTF-8
// cannot travel in JSON, and changing its bytes would hand the app another value than the
// shell has: it is left out, and the warning names it.
json callerEnvironment() {
  json env = json::object();
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(kv.substr(0, eq));
    if (!isUtf8(kv)) {
      if (isUtf8(name) && !inheritableVariable(name)) continue;  // dropped anyway
      std::fprintf(stderr,
                   "warning: the environment variable %s is not valid UTF-8; the apps started "
                   "from here do not get it\n",
                   printableText(name).c_str());
      continue;
    }
    if (inheritableVariable(name)) env[name] = std::string(kv.substr(eq + 1));
  }
  return env;
}

// The fields the options set, as the daemon's `set` takes them ({"port": 3002, ...}), or
// the usage error. Only what was given: the app keeps its other fields.
std::expected<json, std::string> optionChanges(const std::string& instances,
                                               const std::string& port,
                                               const std::vector<std::string>& env_options,
                                               const std::string& max_memory, bool watch,
                                               const std::string& cwd) {
  json set = json::object();
  if (!instances.empty())
    set["instances"] = isNumber(instances) ? json(std::stoi(instances)) : json(instances);
  if (!port.empty()) set["port"] = isNumber(port) ? json(std::stoi(port)) : json(port);
  if (!env_options.empty()) {
    json env = json::object();
    for (const auto& kv : env_options) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return std::unexpected(fmt::format("--env takes KEY=VALUE, got '{}'", kv));
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    set["env"] = env;
  }
  if (!max_memory.empty()) set["max_memory"] = max_memory;
  if (watch) set["watch"] = true;
  if (!cwd.empty()) set["cwd"] = absolutePath(cwd);
  return set;
}

std::expected<json, std::string> optionChanges(const StartOptions& o) {
  return optionChanges(o.instances, o.port, o.env, o.max_memory, o.watch, o.cwd);
}

int usage(const std::string& message) {
  std::fprintf(stderr, "tend: %s\n", printableText(message).c_str());
  return kExitUsage;
}

// A tend config, or a PM2 ecosystem file translated (its unsupported fields named in
// warnings). `pm2_env`: PM2's `--env NAME`, merging each app's env_NAME over its env.
// The `start` request that applies a config (or PM2 ecosystem) file; errors are printed.
std::optional<json> configStartRequest(const std::string& path, const std::string& pm2_env,
                                       const char* verb) {
  Pm2Options pm2;
  pm2.env_name = pm2_env;
  auto loaded = loadConfigOrEcosystem(path, pm2);
  if (!loaded) {
    std::fputs(formatErrors(loaded.error()).c_str(), stderr);
    fail(fmt::format("{} has {} error{}; nothing was {}", path, loaded.error().size(),
                     loaded.error().size() == 1 ? "" : "s", verb));
    return std::nullopt;
  }
  for (const auto& w : loaded->warnings) std::fprintf(stderr, "warning: %s\n", w.format().c_str());
  const ConfigFile& config = loaded->config;
  // An apply (not a stop or delete by the file's names) says what it opens to other machines.
  if (std::string_view(verb) != "changed")
    for (const auto& w : allInterfacesWarnings(config))
      std::fprintf(stderr, "warning: %s\n", printableText(w).c_str());
  json apps = json::array();
  for (const auto& app : config.apps) apps.push_back(toJson(app));
  json request{{"cmd", "start"}, {"apps", apps}, {"caller_env", callerEnvironment()}};
  if (config.gateway) {
    request["gateway"] = {{"listen", config.gateway->listen},
                          {"trusted_proxies", config.gateway->trusted_proxies}};
    if (config.gateway->max_connections)
      request["gateway"]["max_connections"] = *config.gateway->max_connections;
    if (const auto& log = config.gateway->access_log)
      request["gateway"]["access_log"] = {
          {"format", log->format}, {"max_size", log->max_size}, {"max_files", log->max_files}};
  }
  if (config.api)
    request["api"] = {{"listen", config.api->listen}, {"token_file", config.api->token_file}};
  if (config.webhooks) {
    json hooks = json::array();
    for (const auto& hook : *config.webhooks) hooks.push_back(toJson(hook));
    request["webhooks"] = std::move(hooks);
  }
  return request;
}

// Sends a start that brings apps (an apply: see apply_plan.hpp) and prints its plan, then
// the list; with --dry-run only the plan. `what` names the file or the app for the header.
int sendApply(json request, const StartOptions& o, const std::string& what) {
  request["plan"] = true;
  if (o.wait) request["wait"] = true;
  if (o.dry_run) request["dry_run"] = true;
  if (o.prune) request["prune"] = true;
  auto reply = call(request);
  if (!reply) return fail(reply.error());
  const json& plan = (*reply)["plan"];
  if (o.json) {
    printJson(o.dry_run ? plan : (*reply)["apps"]);
    return kExitOk;
  }
  std::printf("%s %s:\n%s", o.dry_run ? "Plan for" : "Applied", what.c_str(),
              formatPlan(plan).c_str());
  if (o.dry_run) {
    std::printf("(--dry-run: nothing was changed)\n");
    return kExitOk;
  }
  printTable((*reply)["apps"]);
  return kExitOk;
}

int startConfigFile(const std::string& path, const std::string& pm2_env, const StartOptions& o) {
  auto request = configStartRequest(path, pm2_env, "started");
  if (!request) return kExitFailed;
  return sendApply(std::move(*request), o, path);
}

bool isConfigFile(const std::string& target) {
  struct stat st {};
  return ::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         (formatFromPath(target) || isPm2FileName(target));
}

// `tend restart tend.yaml`: the file is read again, so a changed env, env_file or command
// takes effect (apps whose spec changed are restarted with the new one as `tend start`
// does); the file's other apps that were running are restarted as they are (`reload`:
// reloaded, with no downtime). `stop` and `delete` act on the file's apps by name.
int actionOnConfigFile(const std::string& verb, const std::string& path, bool as_json,
                       bool update_env = false) {
  const bool rerun = verb == "restart" || verb == "reload";
  auto request = configStartRequest(path, "", rerun ? "restarted" : "changed");
  if (!request) return kExitFailed;
  // --update-env: the file's existing apps take this shell's environment too (those whose
  // environment that changes are restarted by the apply itself).
  if (update_env) (*request)["update_env"] = true;
  std::vector<std::string> names;
  for (const auto& app : (*request)["apps"]) names.push_back(app.value("name", ""));
  if (verb == "stop" || verb == "delete") {
    // Dependents before what they depend on: each call returns once its app has stopped.
    DependencyGraph graph;
    for (const auto& app : (*request)["apps"]) {
      std::vector<Dependency> deps;
      if (app.contains("depends_on"))
        for (const auto& d : app["depends_on"]) {
          if (d.is_string()) deps.push_back({d.get<std::string>()});
          if (d.is_object())
            for (const auto& item : d.items()) deps.push_back({item.key()});
        }
      graph.set(app.value("name", ""), std::move(deps));
    }
    names = graph.sorted(names);
    std::reverse(names.begin(), names.end());
  }
  if (!rerun) {
    for (const auto& name : names) {
      auto r = call({{"cmd", verb}, {"target", name}});
      if (!r && r.error().find("no app") == std::string::npos) return fail(r.error());
    }
    return printList(call({{"cmd", "list"}}), as_json);
  }
  auto pidsOf = [](const json& list) {
    std::map<std::string, std::vector<int>> pids;
    for (const auto& i : list) pids[i.value("name", "")].push_back(i.value("pid", 0));
    return pids;
  };
  auto before = call({{"cmd", "list"}});
  if (!before) return fail(before.error());
  auto after = call(*request);
  if (!after) return fail(after.error());
  auto old_pids = pidsOf(*before), new_pids = pidsOf(*after);
  for (const auto& name : names) {
    auto it = old_pids.find(name);
    bool was_running =
        it != old_pids.end() && std::ranges::any_of(it->second, [](int pid) { return pid > 0; });
    if (!was_running || new_pids[name] != it->second) continue;  // new, stopped or restarted
    if (auto r = call({{"cmd", verb}, {"target", name}}); !r) return fail(r.error());
  }
  return printList(call({{"cmd", "list"}}), as_json);
}

// A script or command as an app named `name` (unless --name): created, or, when an app of
// that name runs the same command, started with the options' changes; an app of that name
// that runs something else is left alone unless --force (the daemon decides, atomically).
int startNew(const StartOptions& o, const std::string& cwd, json run, std::string name) {
  auto set = optionChanges(o);
  if (!set) return usage(set.error());
  json entry;
  entry["name"] = o.name.empty() ? name : o.name;
  entry["run"] = std::move(run);
  entry["cwd"] = cwd;
  for (const char* key : {"instances", "port", "env", "max_memory"})
    if (set->contains(key)) entry[key] = (*set)[key];
  if (o.watch) entry["watch"] = json::array({cwd});
  auto spec = validateApp(fromJson(entry), "", cwd);
  if (!spec) {
    std::fputs(formatErrors(spec.error()).c_str(), stderr);
    return kExitUsage;
  }
  json request{{"cmd", "start"},
               {"apps", json::array({toJson(*spec)})},
               {"script", true},
               {"set", *set},
               {"caller_env", callerEnvironment()}};
  if (o.force) request["force"] = true;
  return sendApply(std::move(request), o, spec->name);
}

// True when the daemon has an app of that name (an error reaching it counts as no).
bool appExists(const std::string& name) {
  auto apps = call({{"cmd", "list"}});
  return apps &&
         std::ranges::any_of(*apps, [&](const json& i) { return i.value("name", "") == name; });
}

// Whether `target` names something in `list` (the daemon's list): an app's name or id, a
// group, or all.
bool targetKnown(const json& list, const std::string& target) {
  if (target == "all") return true;
  return std::ranges::any_of(list, [&](const json& i) {
    return i.value("name", "") == target || std::to_string(i.value("id", int64_t{-1})) == target ||
           (i.contains("group") && i["group"].is_string() && i["group"] == target);
  });
}

// What a command acts on: the targets given, or (--status) every app in that status. An
// empty list with no error: nothing is in that status (said on stdout). nullopt: a usage
// error or a failure, already printed, with its exit status in `status`.
std::optional<std::vector<std::string>> selectTargets(const std::vector<std::string>& targets,
                                                      const std::string& status_filter,
                                                      const std::string& verb, int& status) {
  if (status_filter.empty()) {
    if (targets.empty()) {
      status = usage(fmt::format(
          "{} needs a target: an app's name or id, a group, all, a config file, or --status "
          "STATUS",
          verb));
      return std::nullopt;
    }
    return targets;
  }
  if (!targets.empty()) {
    status = usage("give app names or --status, not both");
    return std::nullopt;
  }
  if (std::ranges::find(instanceStatuses(), status_filter) == instanceStatuses().end()) {
    status = usage(fmt::format("--status takes one of {}; got '{}'", join(instanceStatuses(), ", "),
                               status_filter));
    return std::nullopt;
  }
  auto list = call({{"cmd", "list"}});
  if (!list) {
    status = fail(list.error());
    return std::nullopt;
  }
  auto names = appsInStatus(*list, status_filter);
  if (names.empty())
    std::printf("no app is %s; nothing to %s\n", status_filter.c_str(), verb.c_str());
  return names;
}

// Runs `one` for each target in turn. A target that fails is reported (its error names
// it) and the others still run, as PM2 does; the last list the daemon gave is printed.
// Exit status 1 when any failed.
int runEach(const std::vector<std::string>& targets, bool as_json,
            const std::function<std::expected<json, std::string>(const std::string&)>& one,
            const std::function<int(const std::string&)>& on_file) {
  std::optional<json> last;
  size_t failed = 0;
  for (const auto& t : targets) {
    if (on_file && isConfigFile(t)) {
      if (on_file(t) != kExitOk) ++failed;
      continue;
    }
    auto r = one(t);
    if (!r) {
      fail(r.error());
      ++failed;
      continue;
    }
    last = std::move(*r);
  }
  if (last) printList(*last, as_json);
  if (failed && targets.size() > 1)
    std::fprintf(stderr, "tend: %zu of %zu targets failed; the others were done\n", failed,
                 targets.size());
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

int cmdStart(const StartOptions& o) {
  if (o.target.empty()) {
    // `tend start` alone: the config file of this folder, as PM2 takes ecosystem.config.js.
    auto found = findDefaultConfig(".");
    if (!found) return usage(found.error());
    std::fprintf(stderr, "tend: using %s (found in %s)\n", found->c_str(),
                 printableText(absolutePath(".")).c_str());
    StartOptions with_file = o;
    with_file.target = *found;
    return cmdStart(with_file);
  }
  std::string cwd = absolutePath(o.cwd.empty() ? "." : o.cwd);
  struct stat st {};
  bool exists = ::stat(o.target.c_str(), &st) == 0;
  if (exists && S_ISREG(st.st_mode) && (formatFromPath(o.target) || isPm2FileName(o.target))) {
    // On a config file, `--env NAME` picks PM2's env_NAME blocks (as `pm2 start --env`).
    std::string pm2_env;
    if (o.env.size() == 1 && o.env[0].find('=') == std::string::npos) pm2_env = o.env[0];
    if (!o.name.empty() || !o.instances.empty() || !o.port.empty() ||
        (!o.env.empty() && pm2_env.empty()) || !o.args.empty() || o.force) {
      std::fprintf(stderr,
                   "tend: --name, -i, --port, --env K=V, --force and arguments apply to a "
                   "script, not to a config file; set them in the file\n");
      return kExitUsage;
    }
    return startConfigFile(o.target, pm2_env, o);
  }
  if (o.prune) {
    std::fprintf(stderr, "tend: --prune takes a config file ('%s' is not one)\n", o.target.c_str());
    return kExitUsage;
  }
  if (exists && S_ISREG(st.st_mode)) {
    std::string script = absolutePath(o.target);
    json run = json::array();
    if (::access(script.c_str(), X_OK) != 0)
      for (const auto& word : interpreterFor(script)) run.push_back(word);
    run.push_back(script);
    for (const auto& a : o.args) run.push_back(a);
    return startNew(o, cwd, run, std::filesystem::path(script).stem().string());
  }
  if (o.target.find_first_of(" \t") != std::string::npos) {
    std::string command = o.target;
    for (const auto& a : o.args) command += " " + shellQuote(a);
    std::string first = split(std::string(trim(o.target)), ' ').front();
    return startNew(o, cwd, command, std::filesystem::path(first).filename().string());
  }
  if (exists) return fail(fmt::format("{} is not a file", o.target));
  // A word: an app's name (or id) first, never taken for a command when an app has it.
  auto set = optionChanges(o);
  if (!set) return usage(set.error());
  const bool same_name = o.name.empty() || o.name == o.target;
  if (!o.args.empty() && same_name && !o.after_dashdash && set->empty() && !o.force && !o.dry_run) {
    // `tend start a b c`: several apps (or groups) that exist, each started in turn.
    auto list = call({{"cmd", "list"}});
    if (list && targetKnown(*list, o.target)) {
      std::vector<std::string> targets{o.target};
      targets.insert(targets.end(), o.args.begin(), o.args.end());
      return runEach(
          targets, o.json,
          [&](const std::string& t) {
            json request{{"cmd", "start"}, {"target", t}};
            if (o.wait) request["wait"] = true;
            return call(request);
          },
          nullptr);
    }
  }
  if (!o.args.empty() || !same_name) {
    if (appExists(o.target))
      return fail(fmt::format(
          "'{0}' is an app, not a program: `tend start {0}` starts it (--port, -i, --env, "
          "--max-memory, --watch, --cwd change those fields); give a path to run a program of "
          "that name",
          o.target));
    json run = json::array({o.target});
    for (const auto& a : o.args) run.push_back(a);
    return startNew(o, cwd, run, o.target);
  }
  if (o.dry_run)
    return fail(
        fmt::format("--dry-run takes a config file or a new script; '{}' is neither", o.target));
  json request{{"cmd", "start"}, {"target", o.target}};
  if (!set->empty()) request["set"] = *set;
  if (o.wait) request["wait"] = true;
  auto reply = call(request);
  if (!reply && (reply.error().starts_with("no app named") ||
                 reply.error().starts_with("no app or group named"))) {
    // Options (or --name) with a word that is no app: a program on PATH, as PM2 takes it.
    if (!set->empty() || !o.name.empty() || o.force)
      return startNew(o, cwd, json::array({o.target}), o.target);
    return fail(fmt::format("{}; and there is no file '{}' either", reply.error(), o.target));
  }
  return printList(reply, o.json);
}

int cmdAction(const std::string& verb, const ActionOptions& o) {
  int status = kExitOk;
  auto targets = selectTargets(o.targets, o.status, verb, status);
  if (!targets) return status;
  if (targets->empty()) return kExitOk;
  return runEach(
      *targets, o.json,
      [&](const std::string& t) {
        return call({{"cmd", verb}, {"target", t}});
      },
      [&](const std::string& file) { return actionOnConfigFile(verb, file, o.json); });
}

int cmdRestart(const RestartOptions& o) {
  auto set = optionChanges(o.instances, o.port, o.env, "", false, "");
  if (!set) return usage(set.error());
  int status = kExitOk;
  auto targets = selectTargets(o.targets, o.status, "restart", status);
  if (!targets) return status;
  if (targets->empty()) return kExitOk;
  if (!set->empty() && std::ranges::any_of(*targets, isConfigFile))
    return usage("--port, -i and --env change one app; set them in the file");
  return runEach(
      *targets, o.json,
      [&](const std::string& t) {
        json request{{"cmd", "restart"}, {"target", t}};
        if (!set->empty()) request["set"] = *set;
        if (o.update_env) request["caller_env"] = callerEnvironment();
        return call(request);
      },
      [&](const std::string& file) {
        return actionOnConfigFile("restart", file, o.json, o.update_env);
      });
}

int cmdScale(const std::string& target, const std::string& instances, bool as_json) {
  auto change = parseScaleArgument(instances);
  if (!change) return usage(change.error());
  json request{{"cmd", "scale"}, {"target", target}};
  if (change->relative)
    request["by"] = change->value;
  else
    request["instances"] = change->value;
  return printList(call(request), as_json);
}

int cmdList(bool as_json, const std::string& group) {
  json request{{"cmd", "list"}};
  if (!group.empty()) request["group"] = group;
  return printList(call(request), as_json);
}

namespace {

// A spec value as a person reads it: a string without JSON's quotes.
std::string plainText(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// A size that the spec gives in bytes ("209715200"), as the list shows sizes ("200.0mb").
std::string humanSizeText(const json& value) {
  const std::string text = plainText(value);
  uint64_t bytes = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bytes);
  if (ec != std::errc() || end != text.data() + text.size()) return text;
  return humanSize(bytes);
}

}  // namespace

int cmdDescribe(const std::string& target, bool as_json, bool show_env) {
  json request{{"cmd", "describe"}, {"target", target}};
  if (show_env) request["show_env"] = true;
  auto data = call(request);
  if (!data) return fail(data.error());
  if (as_json) {
    printJson(*data);
    return kExitOk;
  }
  bool color = useColor(1);
  for (const auto& app : *data) {
    std::vector<std::vector<Cell>> rows;
    auto row = [&](const std::string& k, const std::string& v, const char* c = nullptr) {
      rows.push_back({{k}, {v, c}});
    };
    row("name", app.value("name", ""));
    row("id", std::to_string(app.value("id", 0)));
    if (app.contains("group") && app["group"].is_string()) row("group", app.value("group", ""));
    row("desired state", app.value("desired", ""));
    row("command", app.value("command", ""));
    row("cwd", app.value("cwd", ""));
    row("env keys", join(app.value("env_keys", std::vector<std::string>{}), ", "));
    const json& spec = app["spec"];
    if (show_env) {
      // The values, which only the local socket gives: env (env_file merged in), then the
      // environment the app inherited from the shell that created it.
      for (const char* key : {"env", "inherited_env"}) {
        if (!spec.contains(key) || !spec[key].is_object()) continue;
        for (const auto& [name, value] : spec[key].items())
          row(key == std::string("env") ? "env" : "inherited env",
              printableText(name + "=" + (value.is_string() ? value.get<std::string>() : "")));
      }
    }
    row("autorestart", spec.contains("autorestart") ? plainText(spec["autorestart"]) : "true");
    for (const auto& inst : app["instances"]) {
      std::string p = fmt::format("[{}] ", inst.value("instance", 0));
      std::string status = inst.value("status", "");
      row(p + "status", status, status == "online" ? ansi::kGreen : ansi::kYellow);
      if (inst.value("pid", 0)) row(p + "pid", std::to_string(inst.value("pid", 0)));
      if (inst.contains("port") && inst["port"].is_number())
        row(p + "port", std::to_string(inst["port"].get<int>()));
      row(p + "restarts", std::to_string(inst.value("restarts", 0)));
      if (inst.value("pid", 0)) {
        row(p + "uptime", humanDuration(Duration(inst.value("uptime_ms", int64_t{0}))));
        if (inst.value("memory", uint64_t{0}) > 0) {  // sampled (shortly after the spawn)
          row(p + "cpu", fmt::format("{:.1f}%", inst.value("cpu", 0.0)));
          row(p + "memory", humanSize(inst.value("memory", uint64_t{0})));
        }
      }
      if (inst.contains("last_exit_code")) {
        std::string sig = inst.value("last_exit_signal", "");
        row(p + "last exit",
            sig.empty() ? fmt::format("code {}", inst.value("last_exit_code", 0)) : sig);
      }
      if (!inst.value("reason", "").empty()) row(p + "last event", inst.value("reason", ""));
      const json probes = inst.value("probes", json::object());
      if (probes.contains("ready") && probes["ready"].value("check", "") != "none") {
        const json& r = probes["ready"];
        std::string text = fmt::format("{}: {}", r.value("check", ""), r.value("state", ""));
        if (r.contains("took_ms"))
          text += fmt::format(" in {}", humanDuration(Duration(r.value("took_ms", int64_t{0}))));
        if (r.contains("last_error")) text += fmt::format(" ({})", r.value("last_error", ""));
        row(p + "ready", text, r.value("state", "") == "failed" ? ansi::kRed : nullptr);
      }
      if (probes.contains("health")) {
        const json& h = probes["health"];
        std::string text =
            fmt::format("{} every {}: ", h.value("check", ""), h.value("interval", ""));
        int fails = h.value("consecutive_failures", 0);
        if (h.value("last", "").empty())
          text += "not checked yet";
        else if (fails == 0)
          text += fmt::format("ok ({} checks)", h.value("checks", 0));
        else
          text += fmt::format("{} failure{} in a row ({})", fails, fails == 1 ? "" : "s",
                              h.value("last_error", ""));
        row(p + "health", text, fails ? ansi::kYellow : nullptr);
      }
      if (probes.contains("notify_status"))
        row(p + "notify status", probes.value("notify_status", ""));
      if (probes.contains("watchdog")) row(p + "watchdog", probes.value("watchdog", ""));
      row(p + "out log", inst.value("out_log", ""));
      row(p + "err log", inst.value("err_log", ""));
      if (inst.contains("log_error")) row(p + "log error", inst.value("log_error", ""), ansi::kRed);
    }
    if (spec.contains("on_demand")) {
      const json& od = spec["on_demand"];
      if (od.contains("hosts") && od["hosts"].is_array())
        row("routes (hosts)", join(od["hosts"].get<std::vector<std::string>>(), ", "));
      if (od.contains("listen") && od["listen"].is_array())
        row("routes (listen)", join(od["listen"].get<std::vector<std::string>>(), ", "));
      if (od.contains("idle_timeout")) row("idle timeout", plainText(od["idle_timeout"]));
      if (app.contains("gateway") && app["gateway"].contains("requests")) {
        const json& g = app["gateway"];
        row("open connections", fmt::format("{} requests, {} streams", g.value("in_flight", 0),
                                            g.value("open_streams", 0)));
        row("requests", fmt::format("{} ({} cold starts)", g.value("requests", uint64_t{0}),
                                    g.value("activations", uint64_t{0})));
        if (g.value("idle_ms", int64_t{0}) > 0)
          row("idle for", humanDuration(Duration(g.value("idle_ms", int64_t{0}))));
      }
    }
    if (spec.contains("max_memory")) row("max memory", humanSizeText(spec["max_memory"]));
    for (const auto& h : app["restart_history"])
      row("restart", fmt::format("{} [{}] {}", h.value("at", ""), h.value("instance", 0),
                                 h.value("reason", "")));
    std::fputs(renderTable({"key", "value"}, rows, color).c_str(), stdout);
  }
  return kExitOk;
}

namespace {
std::atomic<bool> g_interrupted{false};
void onInterrupt(int) {
  g_interrupted = true;
}
}  // namespace

int cmdLogs(const LogsOptions& o) {
  // Each target's files once; a target that fails is reported and the others shown.
  json files = json::array();
  bool failed = false;
  std::vector<std::string> targets = o.targets;
  if (targets.empty()) targets.push_back("all");
  for (const auto& target : targets) {
    auto some = call({{"cmd", "logs"}, {"target", target}});
    if (!some) {
      fail(some.error());
      failed = true;
      continue;
    }
    for (auto& f : *some)
      if (std::ranges::none_of(files, [&](const json& g) { return g["out"] == f["out"]; }))
        files.push_back(std::move(f));
  }
  if (failed && files.empty()) return kExitFailed;
  const int exit_status = failed ? kExitFailed : kExitOk;
  bool color = useColor(1);
  struct Line {
    std::string text;
    std::string label;
    bool err;
    size_t order;
  };
  std::vector<FollowedFile> followed;
  std::vector<Line> lines;
  for (const auto& f : files) {
    std::string label = fmt::format("{}[{}]", f.value("name", ""), f.value("instance", 0));
    for (bool err : {false, true}) {
      if ((err && o.out_only) || (!err && o.err_only)) continue;
      std::string path = f.value(err ? "err" : "out", "");
      followed.push_back({path, label, err});
      for (auto& text : tailLinesAcrossRotation(path, static_cast<size_t>(std::max(0, o.lines))))
        lines.push_back({o.raw ? std::move(text) : displayLogLine(text), label, err, lines.size()});
    }
  }
  // Interleaved by the time each line was written, across instances and streams.
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return writtenBefore(a.text, b.text); });
  auto print = [&](const std::string& label, bool err, const std::string& text) {
    if (o.json) {
      json j{{"app", label}, {"stream", err ? "err" : "out"}, {"line", text}};
      std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    } else if (color) {
      std::printf("%s%s %s|%s %s\n", err ? ansi::kRed : ansi::kGreen, label.c_str(),
                  err ? "err" : "out", ansi::kReset, text.c_str());
    } else {
      std::printf("%s %s| %s\n", label.c_str(), err ? "err" : "out", text.c_str());
    }
  };
  for (const auto& l : lines) print(l.label, l.err, l.text);
  std::fflush(stdout);
  if (!o.follow) return exit_status;
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  followFiles(
      followed,
      [&](const FollowedFile& f, const std::string& text) {
        print(f.label, f.is_err, o.raw ? text : displayLogLine(text));
        std::fflush(stdout);
      },
      [] { return !g_interrupted.load(); });
  return exit_status;
}

int cmdPing(bool as_json) {
  auto data = call({{"cmd", "ping"}});
  if (!data) return fail(data.error());
  if (as_json)
    printJson(*data);
  else
    std::printf("pong: daemon pid %d in %s\n", data->value("pid", 0),
                data->value("home", "").c_str());
  return kExitOk;
}

int cmdKill() {
  Paths paths = Paths::fromEnvironment();
  auto client = connected(/*autostart=*/false);
  if (!client) {
    std::printf("no daemon is running in %s\n", paths.home.c_str());
    return kExitOk;
  }
  auto reply = client->request({{"cmd", "kill"}});
  if (!reply) return fail(reply.error());
  // Return only once the daemon process has exited (not merely released its lock), so that
  // "tend kill" leaves nothing behind.
  if (!waitForExit(reply->value("pid", 0), std::chrono::seconds(10)))
    return fail("the daemon did not exit within 10s");
  std::printf("daemon stopped; every app was stopped\n");
  return kExitOk;
}

int cmdInit(const std::string& path, bool force) {
  struct stat st {};
  if (!force && ::stat(path.c_str(), &st) == 0)
    return fail(fmt::format("{} exists; use --force to overwrite it", path));
  auto r = writeFileAtomically(path, exampleConfig(), 0644);
  if (!r) return fail(r.error());
  std::printf("wrote %s; edit it, then run: tend start %s\n", path.c_str(), path.c_str());
  return kExitOk;
}

int cmdFlush(const std::vector<std::string>& targets) {
  std::vector<std::string> each = targets;
  if (each.empty()) each.push_back("all");
  size_t emptied = 0;
  bool failed = false;
  for (const auto& target : each) {
    auto data = call({{"cmd", "flush"}, {"target", target}});
    if (!data) {
      fail(data.error());
      failed = true;
      continue;
    }
    emptied += data->size();
  }
  std::printf("emptied %zu log files\n", emptied);
  return failed ? kExitFailed : kExitOk;
}

int cmdStartup(bool install, bool uninstall) {
  auto target = startupTargetForInvoker();
  if (!target) return fail(target.error());
  if (!install && !uninstall) {
    std::fputs(startupInstructions(*target).c_str(), stdout);
    return kExitOk;
  }
  auto report = install ? installStartup(*target) : uninstallStartup(*target);
  if (!report) return fail(report.error());
  for (const auto& f : report->written)
    std::printf("%s %s\n", install ? "wrote" : "removed", f.c_str());
  for (const auto& c : report->commands) std::printf("ran: %s\n", c.c_str());
  for (const auto& n : report->notes) std::printf("%s\n", n.c_str());
  return kExitOk;
}

int cmdSave(bool as_json) {
  auto data = call({{"cmd", "save"}});
  if (!data) return fail(data.error());
  if (as_json)
    printJson(*data);
  else
    std::printf("saved %d apps to %s\n", data->value("apps", 0), data->value("path", "").c_str());
  return kExitOk;
}

int cmdResurrect(bool as_json) {
  return printList(call({{"cmd", "resurrect"}}), as_json);
}

int cmdDaemon(bool background) {
  DaemonOptions options{Paths::fromEnvironment(), !background};
  return runDaemon(options);
}

}  // namespace tend
