// PM2 ecosystem files -> tend config trees. The translation works on ConfigNode trees, so
// positions in ecosystem.json / .yaml survive into warnings and errors; evaluateJsConfig
// turns ecosystem.config.js into such a tree by running node.

#include "config/pm2.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "common/duration.hpp"
#include "common/files.hpp"
#include "common/paths.hpp"
#include "common/run.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

namespace tend {
namespace {

using Kind = ConfigNode::Kind;

constexpr size_t kMaxJsOutput = 4u << 20;  // as for config files
constexpr size_t kMaxJsErrors = 64u << 10;

// ---- small tree builders ------------------------------------------------------------------

ConfigNode scalar(std::string text, Mark mark, bool quoted) {
  ConfigNode node;
  node.kind = Kind::Scalar;
  node.scalar = std::move(text);
  node.quoted = quoted;
  node.mark = mark;
  return node;
}

ConfigNode emptyMap(Mark mark) {
  ConfigNode node;
  node.kind = Kind::Map;
  node.mark = mark;
  return node;
}

// Sets `key` in a map node, replacing an earlier value.
void set(ConfigNode& map, const std::string& key, Mark key_mark, ConfigNode value) {
  for (auto& entry : map.map) {
    if (entry.key == key) {
      entry.value = std::move(value);
      return;
    }
  }
  map.map.push_back(ConfigNode::Entry{key, key_mark, std::move(value)});
}

ConfigNode* get(ConfigNode& map, const std::string& key) {
  for (auto& entry : map.map)
    if (entry.key == key) return &entry.value;
  return nullptr;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool isTrue(const ConfigNode* node) {
  return node && node->kind == Kind::Scalar && !node->quoted && node->scalar == "true";
}

std::string describe(const ConfigNode& node) {
  switch (node.kind) {
    case Kind::Null:
      return "nothing";
    case Kind::Map:
      return "a map";
    case Kind::Seq:
      return "a list";
    case Kind::Scalar:
      return node.quoted ? fmt::format("\"{}\"", node.scalar) : fmt::format("'{}'", node.scalar);
  }
  return "?";
}

// Shell-like words: blanks separate, '...' is literal, "..." keeps \" and \\, a backslash
// outside quotes escapes the next character. Enough for PM2's `args: "-a 13 --name 'x y'"`.
std::vector<std::string> splitWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      const size_t stop = end == std::string_view::npos ? text.size() : end;
      word.append(text.substr(i + 1, stop - i - 1));
      i = stop;
    } else if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\'))
          ++i;
        word += text[i];
      }
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// ---- what PM2 calls things ----------------------------------------------------------------

// PM2 keys tend translates, each alias mapped to the name used below.
const std::map<std::string, std::string, std::less<>> kSupported = {
    {"script", "script"},
    {"exec", "script"},
    {"name", "name"},
    {"namespace", "namespace"},
    {"cwd", "cwd"},
    {"args", "args"},
    {"interpreter", "interpreter"},
    {"exec_interpreter", "interpreter"},
    {"interpreter_args", "interpreter_args"},
    {"node_args", "interpreter_args"},
    {"interpreterArgs", "interpreter_args"},
    {"instances", "instances"},
    {"exec_mode", "exec_mode"},
    {"env", "env"},
    {"out_file", "out_file"},
    {"out", "out_file"},
    {"output", "out_file"},
    {"out_log", "out_file"},
    {"error_file", "error_file"},
    {"error", "error_file"},
    {"err", "error_file"},
    {"err_file", "error_file"},
    {"err_log", "error_file"},
    {"merge_logs", "merge_logs"},
    {"combine_logs", "merge_logs"},
    {"disable_logs", "disable_logs"},
    {"time", "time"},
    {"max_memory_restart", "max_memory_restart"},
    {"min_uptime", "min_uptime"},
    {"max_restarts", "max_restarts"},
    {"restart_delay", "restart_delay"},
    {"exp_backoff_restart_delay", "exp_backoff_restart_delay"},
    {"autorestart", "autorestart"},
    {"stop_exit_codes", "stop_exit_codes"},
    {"kill_timeout", "kill_timeout"},
    {"kill_signal", "kill_signal"},
    {"watch", "watch"},
    {"ignore_watch", "ignore_watch"},
    {"cron_restart", "cron_restart"},
    {"cron", "cron_restart"},
    {"port", "port"},
    {"uid", "user"},
    {"user", "user"},
    {"log_type", "log_type"},
};

// PM2 keys tend does not act on, with what to do instead where there is something.
const std::map<std::string, std::string, std::less<>> kUnsupportedHints = {
    {"log_file",
     "tend keeps stdout and stderr apart (logs.out, logs.err); `tend logs` shows "
     "them together"},
    {"log",
     "tend keeps stdout and stderr apart (logs.out, logs.err); `tend logs` shows them "
     "together"},
    {"log_date_format", "tend stamps lines with an ISO 8601 UTC time (logs.timestamps)"},
    {"wait_ready", "tend's `ready` probe (tcp, http, exec or notify) says when an instance is up"},
    {"listen_timeout", "see tend's `ready` probe and its timeout"},
    {"shutdown_with_message", "tend stops apps with a signal (stop_signal)"},
    {"instance_var", "each instance gets TEND_INSTANCE (0-based)"},
    {"increment_var", "each instance gets TEND_INSTANCE (0-based) and can get its own port"},
    {"watch_delay", "tend debounces watch restarts itself"},
    {"watch_options", "tend debounces watch restarts itself"},
    {"gid", "tend runs an app with its user's primary group and groups (user:)"},
    {"pid_file", "`tend list --json` shows each instance's pid"},
    {"pid", "`tend list --json` shows each instance's pid"},
};

// ---- the translation ----------------------------------------------------------------------

class Translator {
 public:
  Translator(std::string file, const Pm2Options& options)
      : file_(std::move(file)), options_(options) {}

  ConfigErrors errors;
  std::vector<ConfigError> warnings;

  std::optional<ConfigNode> app(const ConfigNode& node, size_t index);

 private:
  struct Field {
    const std::string* written = nullptr;  // the key as the file spells it
    Mark key_mark;
    const ConfigNode* value = nullptr;
  };

  void warn(Mark mark, std::string message) {
    warnings.push_back(ConfigError{file_, mark, std::move(message)});
  }
  void fail(Mark mark, std::string message) {
    errors.push_back(ConfigError{file_, mark, std::move(message)});
  }

  const ConfigNode* value(const std::string& key) const {
    auto it = fields_.find(key);
    return it == fields_.end() ? nullptr : it->second.value;
  }
  Mark keyMark(const std::string& key) const {
    auto it = fields_.find(key);
    return it == fields_.end() ? Mark{} : it->second.key_mark;
  }
  // As the file wrote it, for messages ("node_args" rather than "interpreter_args").
  std::string spelled(const std::string& key) const {
    auto it = fields_.find(key);
    return it == fields_.end() || !it->second.written ? key : *it->second.written;
  }

  void collect(const ConfigNode& node);
  std::optional<ConfigNode> run(std::string& derived_name);
  std::optional<std::vector<std::string>> words(const std::string& key);
  std::optional<ConfigNode> milliseconds(const std::string& key);
  std::optional<ConfigNode> env();
  void port(ConfigNode& out, ConfigNode* env_node);
  void instances(ConfigNode& out);
  void logs(ConfigNode& out);
  void restarts(ConfigNode& out);

  std::string file_;
  const Pm2Options& options_;
  std::string label_;  // "app 'api'" for messages
  Mark app_mark_;
  std::map<std::string, Field> fields_;
  std::map<std::string, Field> env_sets_;  // env_<name> -> its field
  int instance_count_ = 1;                 // 0 for "max"
};

// Sorts the app's keys into supported fields, env_<name> sets and warnings.
void Translator::collect(const ConfigNode& node) {
  fields_.clear();
  env_sets_.clear();
  for (const auto& entry : node.map) {
    Field field{&entry.key, entry.key_mark, &entry.value};
    if (auto it = kSupported.find(entry.key); it != kSupported.end()) {
      if (fields_.contains(it->second)) {
        warn(entry.key_mark, fmt::format("{}: '{}' repeats '{}' (PM2 reads them as one "
                                         "setting); this one is ignored",
                                         label_, entry.key, spelled(it->second)));
        continue;
      }
      fields_[it->second] = field;
    } else if (entry.key.starts_with("env_")) {
      env_sets_[entry.key.substr(4)] = field;
    } else if (auto hint = kUnsupportedHints.find(entry.key); hint != kUnsupportedHints.end()) {
      warn(entry.key_mark, fmt::format("{}: '{}' is not supported by tend and is ignored ({})",
                                       label_, entry.key, hint->second));
    } else {
      std::vector<std::string> known;
      for (const auto& [key, _] : kSupported) known.push_back(key);
      const std::string near = suggestNearest(entry.key, known);
      warn(entry.key_mark,
           fmt::format("{}: '{}' is not supported by tend and is ignored{}", label_, entry.key,
                       near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
    }
  }
}

// A string of words or a list of scalars.
std::optional<std::vector<std::string>> Translator::words(const std::string& key) {
  const ConfigNode* node = value(key);
  if (!node || node->kind == Kind::Null) return std::vector<std::string>{};
  if (node->kind == Kind::Scalar) return splitWords(node->scalar);
  if (node->kind == Kind::Seq) {
    std::vector<std::string> out;
    for (const auto& item : node->seq) {
      if (item.kind != Kind::Scalar) {
        fail(item.mark, fmt::format("{}: {}: expected a list of strings, got {} in it", label_,
                                    spelled(key), describe(item)));
        return std::nullopt;
      }
      out.push_back(item.scalar);
    }
    return out;
  }
  fail(node->mark, fmt::format("{}: {}: expected a string or a list, got {}", label_, spelled(key),
                               describe(*node)));
  return std::nullopt;
}

// The interpreter PM2 picks from a script's extension when none is given.
std::string interpreterForExtension(const std::string& script) {
  static const std::map<std::string, std::string, std::less<>> kByExtension = {
      {".js", "node"}, {".mjs", "node"},      {".cjs", "node"}, {".sh", "bash"}, {".py", "python3"},
      {".rb", "ruby"}, {".coffee", "coffee"}, {".php", "php"},  {".pl", "perl"}};
  const std::string ext = std::filesystem::path(script).extension().string();
  auto it = kByExtension.find(ext);
  return it == kByExtension.end() ? "" : it->second;
}

// script + interpreter + args -> tend's `run`, and the name PM2 would give the app.
std::optional<ConfigNode> Translator::run(std::string& derived_name) {
  const ConfigNode* script_node = value("script");
  if (!script_node || script_node->kind != Kind::Scalar || script_node->scalar.empty()) {
    fail(script_node ? script_node->mark : app_mark_,
         fmt::format("{}: {} (the program to run) is required{}", label_, spelled("script"),
                     script_node ? fmt::format(", got {}", describe(*script_node)) : ""));
    return std::nullopt;
  }
  const std::string script = script_node->scalar;
  const Mark mark = script_node->mark;
  auto args = words("args");
  auto interpreter_args = words("interpreter_args");
  if (!args || !interpreter_args) return std::nullopt;
  std::string interpreter;
  if (const ConfigNode* node = value("interpreter")) {
    if (node->kind != Kind::Scalar) {
      fail(node->mark, fmt::format("{}: {}: expected a program, got {}", label_,
                                   spelled("interpreter"), describe(*node)));
      return std::nullopt;
    }
    interpreter = node->scalar;
  }

  const bool command_line = script.find_first_of(" \t") != std::string::npos;
  const std::string program_word =
      command_line ? split(std::string(trim(script)), ' ').front() : script;
  derived_name = std::filesystem::path(program_word).stem().string();

  // "python app.py --debug" as script: a command line, run by the shell (as PM2 does).
  if (command_line && (interpreter.empty() || interpreter == "none")) {
    std::string text = script;
    if (const ConfigNode* a = value("args"); a && a->kind == Kind::Scalar)
      text += " " + a->scalar;
    else
      for (const auto& word : *args) text += " " + shellQuote(word);
    return scalar(std::move(text), mark, true);
  }

  std::vector<std::string> argv;
  if (interpreter.empty()) interpreter = interpreterForExtension(script);
  if (interpreter == "none") interpreter.clear();
  if (!interpreter.empty()) {
    argv.push_back(interpreter);
    argv.insert(argv.end(), interpreter_args->begin(), interpreter_args->end());
  } else if (!interpreter_args->empty()) {
    warn(keyMark("interpreter_args"),
         fmt::format("{}: {} is ignored: '{}' runs without an interpreter", label_,
                     spelled("interpreter_args"), script));
  }
  std::string program = script;
  // A bare name ("npm") is looked up in PATH; one that is a file in the app's folder runs
  // from there, as PM2 resolves it.
  if (interpreter.empty() && program.find('/') == std::string::npos && !options_.base_dir.empty()) {
    std::string cwd = options_.base_dir;
    if (const ConfigNode* c = value("cwd"); c && c->kind == Kind::Scalar)
      cwd = absolutePath(c->scalar, options_.base_dir);
    struct stat st {};
    if (::stat((cwd + "/" + program).c_str(), &st) == 0 && S_ISREG(st.st_mode))
      program = "./" + program;
  }
  argv.push_back(program);
  argv.insert(argv.end(), args->begin(), args->end());
  ConfigNode list;
  list.kind = Kind::Seq;
  list.mark = mark;
  for (auto& word : argv) list.seq.push_back(scalar(std::move(word), mark, true));
  return list;
}

// PM2 times are milliseconds: 5000 or "5000"; min_uptime also takes "5s", "2m", "1h".
std::optional<ConfigNode> Translator::milliseconds(const std::string& key) {
  const ConfigNode* node = value(key);
  if (node->kind == Kind::Scalar && allDigits(node->scalar))
    return scalar(node->scalar + "ms", node->mark, true);
  if (node->kind == Kind::Scalar && node->scalar.size() > 1 &&
      allDigits(std::string_view(node->scalar).substr(0, node->scalar.size() - 1)) &&
      std::string_view("hms").find(node->scalar.back()) != std::string_view::npos)
    return scalar(node->scalar, node->mark, true);
  fail(node->mark, fmt::format("{}: {}: expected milliseconds (a whole number such as 5000), "
                               "got {}",
                               label_, spelled(key), describe(*node)));
  return std::nullopt;
}

// env, with env_<name> merged over it when --env <name> is given.
std::optional<ConfigNode> Translator::env() {
  const ConfigNode* base = value("env");
  ConfigNode out = emptyMap(base ? base->mark : Mark{});
  auto merge = [&](const ConfigNode& node, const std::string& key) {
    if (node.kind == Kind::Null) return true;
    if (node.kind != Kind::Map) {
      fail(node.mark,
           fmt::format("{}: {}: expected a map of variables, got {}", label_, key, describe(node)));
      return false;
    }
    for (const auto& entry : node.map) set(out, entry.key, entry.key_mark, entry.value);
    return true;
  };
  if (base && !merge(*base, spelled("env"))) return std::nullopt;
  if (!options_.env_name.empty()) {
    auto it = env_sets_.find(options_.env_name);
    if (it == env_sets_.end()) {
      warn(app_mark_,
           fmt::format("{}: has no env_{}; it gets env alone", label_, options_.env_name));
    } else if (!merge(*it->second.value, "env_" + options_.env_name)) {
      return std::nullopt;
    }
  }
  return out;
}

void Translator::instances(ConfigNode& out) {
  instance_count_ = 1;
  if (const ConfigNode* mode = value("exec_mode")) {
    const std::string text = mode->kind == Kind::Scalar ? mode->scalar : "";
    if (text == "cluster" || text == "cluster_mode") {
      warn(mode->mark,
           fmt::format("{}: exec_mode 'cluster' is not supported: tend runs each instance as a "
                       "process of its own (fork mode), so instances do not share one port "
                       "through Node's cluster module",
                       label_));
    } else if (text != "fork" && text != "fork_mode") {
      warn(mode->mark, fmt::format("{}: exec_mode {} is not one PM2 knows (fork or cluster); "
                                   "it is ignored",
                                   label_, describe(*mode)));
    }
  }
  const ConfigNode* node = value("instances");
  if (!node) return;
  const Mark key_mark = keyMark("instances");
  if (node->kind == Kind::Scalar) {
    const std::string& text = node->scalar;
    if (text == "max" || text == "0") {
      instance_count_ = 0;
      set(out, "instances", key_mark, scalar("max", node->mark, true));
      return;
    }
    if (text.starts_with("-") && allDigits(std::string_view(text).substr(1))) {
      warn(node->mark, fmt::format("{}: instances {} (all cores but {}) is not supported; tend "
                                   "runs one instance per core (max)",
                                   label_, text, text.substr(1)));
      instance_count_ = 0;
      set(out, "instances", key_mark, scalar("max", node->mark, true));
      return;
    }
    if (allDigits(text)) {  // PM2 takes "4" as well as 4
      instance_count_ = text.size() > 4 ? 100000 : std::stoi(text);
      set(out, "instances", key_mark, scalar(text, node->mark, false));
      return;
    }
  }
  set(out, "instances", key_mark, *node);  // the validator says what is wrong
}

// `port`, else a numeric PORT in the environment (which tend then sets itself). With more
// than one instance, PM2's cluster mode shares one port; tend gives each its own.
void Translator::port(ConfigNode& out, ConfigNode* env_node) {
  const ConfigNode* node = value("port");
  Mark key_mark = keyMark("port");
  ConfigNode port_value;
  if (node) {
    port_value = *node;
  } else if (env_node) {
    if (ConfigNode* from_env = get(*env_node, "PORT");
        from_env && from_env->kind == Kind::Scalar && allDigits(from_env->scalar)) {
      port_value = scalar(from_env->scalar, from_env->mark, false);
      key_mark = from_env->mark;
    }
  }
  if (port_value.kind == Kind::Null) return;
  if (env_node)  // tend sets PORT (and TEND_PORT) from `port`
    std::erase_if(env_node->map, [](const ConfigNode::Entry& e) { return e.key == "PORT"; });
  if (port_value.kind == Kind::Scalar && allDigits(port_value.scalar) &&
      port_value.scalar.size() <= 5 && instance_count_ != 1) {
    const int first = std::stoi(port_value.scalar);
    const int count = instance_count_ == 0
                          ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                          : instance_count_;
    const std::string range = fmt::format("{}-{}", first, first + count - 1);
    warn(port_value.mark,
         fmt::format("{}: port {} with {} instances: tend gives each instance its own port, "
                     "{} (PORT={} for instance 0, and so on); put the tend gateway or a load "
                     "balancer in front to share one address",
                     label_, first, instance_count_ == 0 ? "'max'" : std::to_string(count), range,
                     first));
    port_value = scalar(range, port_value.mark, true);
  } else if (port_value.kind == Kind::Scalar && allDigits(port_value.scalar)) {
    port_value.quoted = false;
  }
  set(out, "port", key_mark, std::move(port_value));
}

void Translator::logs(ConfigNode& out) {
  ConfigNode logs = emptyMap(Mark{});
  if (isTrue(value("disable_logs"))) {
    set(logs, "out", keyMark("disable_logs"), scalar("/dev/null", Mark{}, true));
    set(logs, "err", keyMark("disable_logs"), scalar("/dev/null", Mark{}, true));
  }
  if (const ConfigNode* node = value("out_file")) set(logs, "out", keyMark("out_file"), *node);
  if (const ConfigNode* node = value("error_file")) set(logs, "err", keyMark("error_file"), *node);
  if (const ConfigNode* node = value("time")) set(logs, "timestamps", keyMark("time"), *node);
  // PM2's log_type: json writes JSON lines, as tend's logs.format: json does; its only
  // other value is the default.
  if (const ConfigNode* node = value("log_type");
      node && node->kind == Kind::Scalar && node->scalar == "json")
    set(logs, "format", keyMark("log_type"), scalar("json", node->mark, true));
  if (isTrue(value("merge_logs")) && instance_count_ != 1)
    warn(keyMark("merge_logs"),
         fmt::format("{}: {} is not supported: tend writes one log file per instance "
                     "(app-0-out.log, app-1-out.log, ...); `tend logs` shows them together",
                     label_, spelled("merge_logs")));
  if (!logs.map.empty()) set(out, "logs", Mark{}, std::move(logs));
}

void Translator::restarts(ConfigNode& out) {
  const ConfigNode* autorestart = value("autorestart");
  if (autorestart) set(out, "autorestart", keyMark("autorestart"), *autorestart);
  if (const ConfigNode* codes = value("stop_exit_codes")) {
    // [0] (or 0): restart unless the app exited cleanly, which is tend's on-failure.
    const bool only_zero = (codes->kind == Kind::Scalar && codes->scalar == "0") ||
                           (codes->kind == Kind::Seq && codes->seq.size() == 1 &&
                            codes->seq[0].kind == Kind::Scalar && codes->seq[0].scalar == "0");
    if (only_zero) {
      if (!autorestart || isTrue(autorestart))
        set(out, "autorestart", keyMark("stop_exit_codes"),
            scalar("on-failure", codes->mark, true));
    } else {
      warn(codes->mark, fmt::format("{}: stop_exit_codes other than [0] are not supported; "
                                    "tend restarts after any exit (or, with autorestart: "
                                    "on-failure, after a non-zero one)",
                                    label_));
    }
  }
  for (const char* key : {"restart_delay", "min_uptime", "kill_timeout"}) {
    if (!value(key)) continue;
    if (auto ms = milliseconds(key)) set(out, key, keyMark(key), std::move(*ms));
  }
  if (const ConfigNode* node = value("max_restarts")) {
    ConfigNode copy = *node;
    if (copy.kind == Kind::Scalar && allDigits(copy.scalar)) copy.quoted = false;
    set(out, "max_restarts", keyMark("max_restarts"), std::move(copy));
  }
  if (value("exp_backoff_restart_delay")) {
    // PM2 grows the delay by 1.5 per crash up to 15 s.
    if (auto initial = milliseconds("exp_backoff_restart_delay")) {
      const Mark mark = initial->mark;
      const std::string text = initial->scalar;
      const auto parsed = parseDuration(text);
      const bool over_cap = !parsed || *parsed > std::chrono::seconds(15);
      ConfigNode backoff = emptyMap(mark);
      set(backoff, "initial", mark, std::move(*initial));
      set(backoff, "max", mark, scalar(over_cap ? text : "15s", mark, true));
      set(backoff, "multiplier", mark, scalar("1.5", mark, false));
      set(out, "backoff", keyMark("exp_backoff_restart_delay"), std::move(backoff));
    }
  }
}

std::optional<ConfigNode> Translator::app(const ConfigNode& node, size_t index) {
  if (node.kind != Kind::Map) {
    fail(node.mark,
         fmt::format("apps[{}]: expected a map (one app), got {}", index, describe(node)));
    return std::nullopt;
  }
  const size_t errors_before = errors.size();
  app_mark_ = node.mark;
  const ConfigNode* name_node = node.find("name");
  label_ = name_node && name_node->kind == Kind::Scalar ? fmt::format("app '{}'", name_node->scalar)
                                                        : fmt::format("apps[{}]", index);
  collect(node);

  ConfigNode out = emptyMap(node.mark);
  std::string derived_name;
  auto run_node = run(derived_name);

  // name: PM2's default is the script's file name without its extension. tend's names are
  // letters, digits, '.', '_' and '-': anything else becomes '-'.
  Mark name_mark = node.mark;
  std::string name = derived_name;
  if (name_node && name_node->kind == Kind::Scalar) {
    name = name_node->scalar;
    name_mark = name_node->mark;
  }
  std::string clean = name;
  for (char& c : clean)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
  if (clean != name && !clean.empty())
    warn(name_mark,
         fmt::format("{}: the name '{}' becomes '{}' (tend names are letters, digits, '.', '_' "
                     "and '-')",
                     label_, name, clean));
  set(out, "name", keyMark("name"), scalar(clean, name_mark, true));
  if (run_node) set(out, "run", keyMark("script"), std::move(*run_node));
  // PM2's namespace is tend's group: `tend stop NAMESPACE` acts on its apps as pm2's does.
  if (const ConfigNode* ns = value("namespace")) set(out, "group", keyMark("namespace"), *ns);
  if (const ConfigNode* cwd = value("cwd")) set(out, "cwd", keyMark("cwd"), *cwd);
  // PM2's uid (or user): who the app runs as, as tend's user (a name or a uid).
  if (const ConfigNode* user = value("user")) {
    ConfigNode copy = *user;
    copy.quoted = true;  // a uid as written, 33, is still a user
    set(out, "user", keyMark("user"), std::move(copy));
  }

  instances(out);
  auto env_node = env();
  if (env_node) {
    port(out, &*env_node);
    if (!env_node->map.empty()) set(out, "env", keyMark("env"), std::move(*env_node));
  }

  restarts(out);
  // PM2 stops an app with SIGINT, and apps written for PM2 often handle only that.
  ConfigNode stop_signal = scalar("SIGINT", Mark{}, true);
  Mark stop_mark{};
  if (const ConfigNode* signal = value("kill_signal")) {
    stop_signal = *signal;
    stop_mark = keyMark("kill_signal");
  }
  set(out, "stop_signal", stop_mark, std::move(stop_signal));

  logs(out);
  if (const ConfigNode* node_value = value("max_memory_restart")) {
    ConfigNode copy = *node_value;
    copy.quoted = true;  // a size: 524288000 and "500M" alike
    set(out, "max_memory", keyMark("max_memory_restart"), std::move(copy));
  }
  if (const ConfigNode* watch = value("watch")) set(out, "watch", keyMark("watch"), *watch);
  if (const ConfigNode* ignore = value("ignore_watch"))
    set(out, "ignore_watch", keyMark("ignore_watch"), *ignore);
  if (const ConfigNode* cron = value("cron_restart"))
    set(out, "cron_restart", keyMark("cron_restart"), *cron);

  if (errors.size() != errors_before) return std::nullopt;
  return out;
}

// The app entries of a PM2 tree, wherever it keeps them.
std::vector<const ConfigNode*> pm2Apps(const ConfigNode& root) {
  std::vector<const ConfigNode*> apps;
  const ConfigNode* list = &root;
  if (root.kind == Kind::Map) {
    const ConfigNode* a = root.find("apps");
    if (!a) {
      if (root.find("script") || root.find("exec")) apps.push_back(&root);  // a single app
      return apps;
    }
    if (a->kind == Kind::Map) {
      apps.push_back(a);
      return apps;
    }
    list = a;
  }
  if (list->kind == Kind::Seq)
    for (const auto& item : list->seq) apps.push_back(&item);
  return apps;
}

void clearMarks(ConfigNode& node) {
  node.mark = Mark{};
  for (auto& entry : node.map) {
    entry.key_mark = Mark{};
    clearMarks(entry.value);
  }
  for (auto& item : node.seq) clearMarks(item);
}

std::string baseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

bool looksLikePm2(const ConfigNode& root) {
  // A section only tend has makes it a tend config, whatever its apps say.
  if (root.kind == Kind::Map)
    for (const char* key : {"gateway", "api", "webhooks"})
      if (root.find(key)) return false;
  bool pm2_app = false;
  for (const ConfigNode* app : pm2Apps(root)) {
    if (app->kind != Kind::Map) continue;
    // One app written the tend way makes it a tend config: a `script` elsewhere is then a
    // mistake in that app (the validator names it), not a sign of a PM2 file.
    if (app->find("run") || app->find("start")) return false;
    if (app->find("script") || app->find("exec")) pm2_app = true;
  }
  return pm2_app;
}

bool isJsConfigName(const std::string& path) {
  const std::string name = baseName(path);
  return name.ends_with(".config.js") || name.ends_with(".config.cjs") ||
         name.ends_with(".config.mjs") || (name.starts_with("ecosystem") && name.ends_with(".js"));
}

bool isPm2FileName(const std::string& path) {
  const std::string name = baseName(path);
  if (isJsConfigName(path)) return true;
  return name.starts_with("ecosystem") &&
         (name.ends_with(".json") || name.ends_with(".yaml") || name.ends_with(".yml"));
}

std::expected<Pm2Translation, ConfigErrors> translatePm2(const ConfigNode& root,
                                                         const std::string& file_name,
                                                         const Pm2Options& options) {
  Translator t(file_name, options);
  Pm2Translation result;
  result.config = emptyMap(root.mark);
  ConfigNode apps;
  apps.kind = Kind::Seq;

  const bool single_app =
      root.kind == Kind::Map && !root.find("apps") && (root.find("script") || root.find("exec"));
  if (root.kind == Kind::Map && !single_app) {
    for (const auto& entry : root.map) {
      if (entry.key == "apps") continue;
      t.warnings.push_back(ConfigError{
          file_name, entry.key_mark,
          entry.key == "deploy"
              ? std::string("'deploy' (PM2's deployment tool) is not supported by tend and is "
                            "ignored")
              : fmt::format("'{}' is not a section tend knows in a PM2 file; it is ignored",
                            entry.key)});
    }
  }
  const auto entries = pm2Apps(root);
  if (entries.empty()) {
    return std::unexpected(
        ConfigErrors{{file_name, root.mark,
                      "no apps: a PM2 ecosystem file has `apps: [...]` (or is a list of apps)"}});
  }
  for (size_t i = 0; i < entries.size(); ++i)
    if (auto app = t.app(*entries[i], i)) apps.seq.push_back(std::move(*app));
  if (!t.errors.empty()) return std::unexpected(std::move(t.errors));
  result.config.map.push_back(ConfigNode::Entry{"apps", Mark{}, std::move(apps)});
  result.warnings = std::move(t.warnings);
  return result;
}

// ---- node ---------------------------------------------------------------------------------

namespace {

// Loads the file as a module (CommonJS or ES) and prints its export as JSON.
constexpr const char* kEvaluateScript = R"js(
const file = process.argv[1];
import(require('url').pathToFileURL(file).href).then((m) => {
  let config = m.default !== undefined ? m.default : m;
  if (config && config.default !== undefined && Object.keys(config).length === 1)
    config = config.default;
  process.stdout.write(JSON.stringify(config === undefined ? null : config));
}).catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
)js";

}  // namespace

std::expected<ConfigNode, ConfigErrors> evaluateJsConfig(const std::string& path,
                                                         const NodeOptions& node) {
  auto error = [&](std::string message) {
    return std::unexpected(ConfigErrors{{path, Mark{}, std::move(message)}});
  };
  const std::string file = absolutePath(path);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    return error(fmt::format("cannot read the config: {}", std::strerror(errno)));
  // node would read bytes that are not UTF-8 as U+FFFD and hand the apps another text
  // than the file's: the file is checked as every config is.
  if (auto source = readFile(file, kMaxJsOutput); source)
    if (auto bad = notUtf8Text(*source, path)) return std::unexpected(ConfigErrors{*bad});
  const std::string dir = std::filesystem::path(file).parent_path().string();
  auto ran = runCapturing({node.program, "-e", kEvaluateScript, file}, dir, node.timeout,
                          kMaxJsOutput + 1, kMaxJsErrors);
  if (!ran) {
    if (ran.error() == std::strerror(ENOENT))
      return error(fmt::format(
          "this is a JavaScript config, which tend reads by running node, and '{}' is not "
          "installed (or not in PATH): install Node.js, or write the apps as ecosystem.json",
          node.program));
    return error(fmt::format("cannot run {} to read the config: {}", node.program, ran.error()));
  }
  if (!WIFEXITED(ran->status) || WEXITSTATUS(ran->status) != 0) {
    std::string why(trim(ran->err));
    if (why.empty())
      why = WIFSIGNALED(ran->status)
                ? fmt::format("killed by {}", signalName(WTERMSIG(ran->status)))
                : fmt::format("exit status {}", WEXITSTATUS(ran->status));
    // The first lines of node's message say what is wrong; the stack below is node's own.
    std::vector<std::string> lines = split(why, '\n');
    if (lines.size() > 8) lines.resize(8);
    return error(fmt::format("node could not load the config: {}", join(lines, "\n  ")));
  }
  if (ran->out.size() > kMaxJsOutput)
    return error(
        fmt::format("the config evaluates to more than {} KiB of JSON", kMaxJsOutput >> 10));
  auto root = parseConfigText(ran->out, ConfigFormat::Json, path);
  if (!root) return std::unexpected(std::move(root.error()));
  clearMarks(*root);  // positions in node's one-line output would point nowhere useful
  return std::move(*root);
}

std::expected<LoadedConfig, ConfigErrors> loadConfigOrEcosystem(const std::string& path,
                                                                const Pm2Options& options,
                                                                const NodeOptions& node) {
  LoadedConfig loaded;
  ConfigNode root;
  if (isJsConfigName(path)) {
    auto evaluated = evaluateJsConfig(path, node);
    if (!evaluated) return std::unexpected(std::move(evaluated.error()));
    root = std::move(*evaluated);
  } else {
    const auto format = formatFromPath(path);
    if (!format)
      return std::unexpected(ConfigErrors{
          {path, Mark{},
           "cannot tell the config format from the file name: use .yaml, .yml, .toml or .json "
           "(or .config.js for a PM2 ecosystem)"}});
    auto text = readFile(path, kMaxJsOutput);
    if (!text)
      return std::unexpected(
          ConfigErrors{{path, Mark{}, "cannot read the config: " + text.error()}});
    auto parsed = parseConfigText(*text, *format, path);
    if (!parsed) return std::unexpected(std::move(parsed.error()));
    root = std::move(*parsed);
  }
  const std::string base_dir = std::filesystem::path(absolutePath(path)).parent_path().string();
  const bool pm2_file = isJsConfigName(path) || looksLikePm2(root);
  if (!pm2_file && !options.env_name.empty())
    return std::unexpected(ConfigErrors{
        {path, Mark{},
         fmt::format("--env {} picks a PM2 env_{} set, and this is a tend config, not a PM2 "
                     "ecosystem file",
                     options.env_name, options.env_name)}});
  if (pm2_file) {
    Pm2Options pm2 = options;
    if (pm2.base_dir.empty()) pm2.base_dir = base_dir;
    auto translated = translatePm2(root, path, pm2);
    if (!translated) return std::unexpected(std::move(translated.error()));
    root = std::move(translated->config);
    loaded.warnings = std::move(translated->warnings);
    loaded.from_pm2 = true;
  }
  auto config = validateConfig(root, path, base_dir);
  if (!config) return std::unexpected(std::move(config.error()));
  loaded.config = std::move(*config);
  return loaded;
}

}  // namespace tend
