// The validator: one pass over a ConfigNode tree that fills AppSpecs and collects every
// error with the position of the node that caused it. Pure logic except env_file, which
// is read here so that its errors surface with the rest.

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "common/address.hpp"
#include "common/address_range.hpp"
#include "common/cron.hpp"
#include "common/duration.hpp"
#include "common/files.hpp"
#include "common/paths.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "common/user_account.hpp"
#include "config/config.hpp"
#include "config/http_check.hpp"

namespace tend {

std::string ConfigError::format() const {
  std::string out = printableText(file);
  if (mark.line > 0) {
    out += out.empty() ? fmt::format("{}", mark.line) : fmt::format(":{}", mark.line);
    if (mark.column > 0) out += fmt::format(":{}", mark.column);
  }
  if (!out.empty()) out += ": ";
  return out + printableText(message);
}

namespace {

using Kind = ConfigNode::Kind;

constexpr int kMaxInstances = 1024;
constexpr size_t kMaxEnvFileBytes = 1u << 20;

const std::vector<std::string> kTopKeys = {"apps", "gateway", "api", "webhooks"};
const std::vector<std::string> kWebhookKeys = {"url", "events", "secret_file", "timeout"};
// A webhook's secret is a key, not a document.
constexpr size_t kMaxWebhookSecretBytes = 64u << 10;
const std::vector<std::string> kGatewayKeys = {"listen", "trusted_proxies", "max_connections",
                                               "access_log"};
const std::vector<std::string> kAccessLogKeys = {"format", "max_size", "max_files"};
// The most open client connections gateway.max_connections may allow (each takes two file
// descriptors while relayed).
constexpr int64_t kMaxGatewayConnections = 1'000'000;
const std::vector<std::string> kApiKeys = {"listen", "token_file"};
// clang-format off
const std::vector<std::string> kAppKeys = {
    "name",    "run",          "start",          "stop",         "check",        "cwd",
    "env",     "env_file",     "instances",      "port",         "autorestart",  "restart_delay",
    "backoff", "max_restarts", "restart_window", "min_uptime",   "stop_signal",  "kill_timeout",
    "logs",    "max_memory",   "watch",          "ignore_watch", "cron_restart", "depends_on",
    "ready",   "health",       "on_demand",      "share_port",   "reload_batch", "group",
    "pre_start", "post_start", "nice", "user"};
// clang-format on
const std::vector<std::string> kBackoffKeys = {"initial", "max", "multiplier"};
const std::vector<std::string> kLogKeys = {"max_size", "max_files", "timestamps",
                                           "out",      "err",       "format"};
const std::vector<std::string> kReadyKeys = {"tcp",     "http",     "exec",   "notify", "expect",
                                             "timeout", "watchdog", "method", "body",   "insecure"};
const std::vector<std::string> kHealthKeys = {"tcp",     "http",     "exec",     "expect",
                                              "timeout", "interval", "failures", "method",
                                              "body",    "insecure"};
const std::vector<std::string> kOnDemandKeys = {"hosts",
                                                "listen",
                                                "target",
                                                "idle_timeout",
                                                "start_timeout",
                                                "loading_page",
                                                "socket_activation",
                                                "balance",
                                                "weights"};
const std::vector<std::string> kSignalNames = {
    "SIGHUP",  "SIGINT",  "SIGQUIT", "SIGKILL", "SIGUSR1",  "SIGUSR2", "SIGTERM",
    "SIGABRT", "SIGALRM", "SIGCONT", "SIGSTOP", "SIGWINCH", "SIGSEGV", "SIGPIPE",
    "SIGBUS",  "SIGFPE",  "SIGILL",  "SIGTRAP", "SIGPWR",   "SIGSYS"};

// PM2 spellings that people carry over, with the tend key that replaces them.
const std::map<std::string, std::string, std::less<>> kForeignKeys = {
    {"script", "run"},
    {"args", "run"},
    {"command", "run"},
    {"cmd", "run"},
    {"exec_mode", "instances"},
    {"max_memory_restart", "max_memory"},
    {"exp_backoff_restart_delay", "backoff"},
    {"kill_signal", "stop_signal"},
    {"cron", "cron_restart"},
    {"depends", "depends_on"},
    {"environment", "env"},
    {"working_dir", "cwd"},
    {"out_file", "logs.out"},
    {"error_file", "logs.err"},
    {"namespace", "group"}};

// The PM2 (or Compose) key nearest to a misspelt one, with the tend key that replaces it.
std::optional<std::pair<std::string, std::string>> nearestForeignKey(const std::string& key) {
  std::vector<std::string> names;
  for (const auto& [name, _] : kForeignKeys) names.push_back(name);
  const std::string near = suggestNearest(key, names);
  if (near.empty()) return std::nullopt;
  return std::pair{near, kForeignKeys.find(near)->second};
}

// What a node is, for "expected X, got Y" messages; long text is cut short.
std::string describe(const ConfigNode& node) {
  constexpr size_t kShown = 60;
  // Appended rather than `substr(...) + "..."`, which GCC 12 wrongly flags (-Warray-bounds)
  // once this function is inlined differently.
  std::string text = node.scalar.substr(0, kShown);
  if (node.scalar.size() > kShown) text += "...";
  switch (node.kind) {
    case Kind::Null:
      return "nothing";
    case Kind::Map:
      return "a map";
    case Kind::Seq:
      return "a list";
    case Kind::Scalar:
      if (node.quoted) return fmt::format("the string \"{}\"", text);
      return fmt::format("'{}'", text);
  }
  return "?";
}

std::string sub(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool looksLikeInteger(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return allDigits(s);
}

bool looksLikeNumber(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

std::optional<uint16_t> portNumber(std::string_view s) {
  if (!allDigits(s) || s.size() > 5) return std::nullopt;
  int value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

bool validAppName(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// "*.example.com", "api.localhost", "127.0.0.1": labels of letters, digits, '-' and '_'.
bool validHostPattern(std::string_view host) {
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.empty() || host.size() > 253) return false;
  for (const std::string& label : split(host, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
        return false;
  }
  return true;
}

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "127.0.0.1:8080", "localhost:8080", "[::1]:8080", "0.0.0.0:80".
std::optional<HostPort> parseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const auto port = portNumber(text.substr(colon + 1));
  if (!port) return std::nullopt;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
  } else {
    if (host.find(':') != std::string_view::npos) return std::nullopt;
    for (char c : host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
        return std::nullopt;
  }
  return HostPort{std::string(host), *port};
}

// What no key or value may hold: a NUL (a command, a path or an environment variable ends at
// the first one, so what runs would differ from what was written) or bytes that are not
// UTF-8 (specs travel and are stored as JSON text). "" or why, for a message.
std::string badText(std::string_view text) {
  const size_t nul = text.find('\0');
  const size_t bad = invalidUtf8At(text);
  if (nul != std::string_view::npos && nul <= bad)
    return "holds a NUL character (\\0), which no command, path or environment variable can "
           "carry";
  if (bad != std::string_view::npos)
    return fmt::format(
        "is not valid UTF-8 (byte 0x{:02X} after '{}'); tend reads configs, commands and "
        "environments as UTF-8 text",
        static_cast<unsigned char>(text[bad]),
        printableText(text.substr(0, std::min(bad, size_t{40}))));
  return "";
}

// Every key and scalar of the tree, checked with badText() before anything reads them, so
// that the errors name where the text is. `path` names the node ("apps[0].env.KEY").
// The folder relative paths resolve against: it becomes part of `cwd` and other paths.
void checkBaseDir(const std::string& base_dir, const std::string& file, ConfigErrors& errors) {
  if (std::string why = badText(base_dir); !why.empty())
    errors.push_back({file, Mark{},
                      fmt::format("the folder '{}' (relative paths resolve against it) {}",
                                  printableText(base_dir), why)});
}

void checkText(const ConfigNode& node, const std::string& path, const std::string& file,
               ConfigErrors& errors, size_t depth = 0) {
  if (depth > 64 || errors.size() >= 20) return;
  if (node.kind == ConfigNode::Kind::Scalar) {
    if (std::string why = badText(node.scalar); !why.empty())
      errors.push_back(
          {file, node.mark, fmt::format("{}: the value {}", path.empty() ? "config" : path, why)});
    return;
  }
  for (size_t i = 0; i < node.seq.size(); ++i)
    checkText(node.seq[i], fmt::format("{}[{}]", path, i), file, errors, depth + 1);
  for (const auto& entry : node.map) {
    std::string key_path =
        path.empty() ? printableText(entry.key) : path + "." + printableText(entry.key);
    if (std::string why = badText(entry.key); !why.empty()) {
      errors.push_back({file, entry.key_mark, fmt::format("{}: the key {}", key_path, why)});
      continue;
    }
    checkText(entry.value, key_path, file, errors, depth + 1);
  }
}

// Where each app's cross-checked values were written, for errors that involve two apps.
struct AppMarks {
  Mark node;
  Mark name;
  Mark port;
  Mark group;
  std::vector<Mark> depends_on;  // one per AppSpec::depends_on entry
  std::vector<Mark> hosts;       // one per on_demand host
  std::vector<Mark> listen;      // one per on_demand listen address
  Mark weights;                  // on_demand.weights
};

class Validator {
 public:
  Validator(std::string file, const std::string& base_dir) : file_(std::move(file)) {
    base_dir_ =
        base_dir.empty() ? std::filesystem::current_path().string() : absolutePath(base_dir);
    while (base_dir_.size() > 1 && base_dir_.back() == '/') base_dir_.pop_back();
  }

  ConfigErrors errors;
  // validateApp's canonical JSON (toJson) also carries `inherited_env`; a config file may
  // not set it.
  bool allow_inherited_env = false;

  std::optional<ConfigFile> config(const ConfigNode& root);
  // The top-level `webhooks` list (see WebhookSpec).
  std::optional<std::vector<WebhookSpec>> webhooks(const ConfigNode& node);
  // Fills `spec` with whatever could be read; true when the app has no error.
  bool app(const ConfigNode& node, AppMarks& marks, AppSpec& spec);

 private:
  void error(Mark mark, std::string message) {
    errors.push_back(ConfigError{file_, mark, std::move(message)});
  }

  std::string resolve(const std::string& path) const {
    std::string out = absolutePath(path, base_dir_);
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  }

  // --- structure ---------------------------------------------------------------------

  bool expectMap(const ConfigNode& node, const std::string& path) {
    if (node.kind == Kind::Map) return true;
    error(node.mark, fmt::format("{}: expected a map, got {}", path, describe(node)));
    return false;
  }

  // Reports an unknown key with the nearest known one; true when the key is known.
  bool knownKey(const ConfigNode::Entry& entry, const std::vector<std::string>& allowed,
                const std::string& where) {
    if (std::find(allowed.begin(), allowed.end(), entry.key) != allowed.end()) return true;
    std::string message = fmt::format("unknown key '{}'", entry.key);
    if (!where.empty()) message += " in " + where;
    const std::string near = suggestNearest(entry.key, allowed);
    if (!near.empty()) {
      message += fmt::format(" (did you mean '{}'?)", near);
    } else if (auto it = kForeignKeys.find(entry.key);
               &allowed == &kAppKeys && it != kForeignKeys.end()) {  // PM2 names: app level
      message += fmt::format(" (tend calls it '{}')", it->second);
    } else if (auto foreign = nearestForeignKey(entry.key); &allowed == &kAppKeys && foreign) {
      // A typo of another tool's name ("scirpt", "enviroment"): say both.
      message +=
          fmt::format(" (did you mean '{}'? tend calls it '{}')", foreign->first, foreign->second);
    } else if (allowed.size() <= 8) {
      message += fmt::format(" (expected one of: {})", join(allowed, ", "));
    }
    error(entry.key_mark, message);
    return false;
  }

  // --- scalars -----------------------------------------------------------------------

  const ConfigNode* scalarNode(const ConfigNode& node, const std::string& path,
                               std::string_view expected) {
    if (node.kind == Kind::Scalar) return &node;
    error(node.mark, fmt::format("{}: expected {}, got {}", path, expected, describe(node)));
    return nullptr;
  }

  std::optional<std::string> stringValue(const ConfigNode& node, const std::string& path,
                                         bool allow_empty = false) {
    const ConfigNode* n = scalarNode(node, path, "a string");
    if (!n) return std::nullopt;
    if (!allow_empty && n->scalar.empty()) {
      error(node.mark, fmt::format("{}: must not be empty", path));
      return std::nullopt;
    }
    if (n->scalar.find('\0') != std::string::npos) {
      error(node.mark, fmt::format("{}: must not contain a NUL character", path));
      return std::nullopt;
    }
    return n->scalar;
  }

  std::optional<int64_t> integer(const ConfigNode& node, const std::string& path, int64_t low,
                                 int64_t high) {
    const ConfigNode* n = scalarNode(node, path, "a whole number");
    if (!n) return std::nullopt;
    const std::string& text = n->scalar;
    if (n->quoted) {
      error(node.mark, looksLikeInteger(text)
                           ? fmt::format("{}: expected a number, got the string \"{}\" (remove "
                                         "the quotes)",
                                         path, text)
                           : fmt::format("{}: expected a whole number, got \"{}\"", path, text));
      return std::nullopt;
    }
    if (!looksLikeInteger(text)) {
      error(node.mark, fmt::format("{}: expected a whole number, got '{}'", path, text));
      return std::nullopt;
    }
    int64_t value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      error(node.mark, fmt::format("{}: {} is out of range ({} to {})", path, text, low, high));
      return std::nullopt;
    }
    if (value < low) {
      error(node.mark, fmt::format("{}: must be at least {}, got {}", path, low, value));
      return std::nullopt;
    }
    if (value > high) {
      error(node.mark, fmt::format("{}: must be at most {}, got {}", path, high, value));
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> number(const ConfigNode& node, const std::string& path) {
    const ConfigNode* n = scalarNode(node, path, "a number");
    if (!n) return std::nullopt;
    if (n->quoted || !looksLikeNumber(n->scalar)) {
      error(node.mark, fmt::format("{}: expected a number, got {}", path, describe(node)));
      return std::nullopt;
    }
    double value = 0;
    const std::string& text = n->scalar;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
      error(node.mark, fmt::format("{}: {} is out of range", path, text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const ConfigNode& node, const std::string& path) {
    const ConfigNode* n = scalarNode(node, path, "true or false");
    if (!n) return std::nullopt;
    const std::string& text = n->scalar;
    if (!n->quoted && text == "true") return true;
    if (!n->quoted && text == "false") return false;
    const std::string lower = toLower(text);
    std::string hint;
    if (lower == "true" || lower == "yes" || lower == "y" || lower == "on")
      hint = " (write true)";
    else if (lower == "false" || lower == "no" || lower == "n" || lower == "off")
      hint = " (write false)";
    if (n->quoted && (text == "true" || text == "false")) hint = " (remove the quotes)";
    error(node.mark,
          fmt::format("{}: expected true or false, got {}{}", path, describe(node), hint));
    return std::nullopt;
  }

  std::optional<Duration> duration(const ConfigNode& node, const std::string& path,
                                   bool allow_zero = true) {
    const ConfigNode* n = scalarNode(node, path, "a duration such as 500ms, 10s or 5m");
    if (!n) return std::nullopt;
    auto parsed = parseDuration(n->scalar);
    if (!parsed) {
      error(node.mark, fmt::format("{}: {}", path, parsed.error()));
      return std::nullopt;
    }
    if (!allow_zero && parsed->count() == 0) {
      error(node.mark, fmt::format("{}: must be longer than 0ms", path));
      return std::nullopt;
    }
    return *parsed;
  }

  std::optional<uint64_t> size(const ConfigNode& node, const std::string& path) {
    const ConfigNode* n = scalarNode(node, path, "a size such as 512M");
    if (!n) return std::nullopt;
    auto parsed = parseSize(n->scalar);
    if (!parsed) {
      error(node.mark, fmt::format("{}: {}", path, parsed.error()));
      return std::nullopt;
    }
    if (*parsed == 0) {
      error(node.mark, fmt::format("{}: must be more than 0 bytes", path));
      return std::nullopt;
    }
    return *parsed;
  }

  // A string or a list of strings; `marks` (when given) gets each item's position.
  std::optional<std::vector<std::string>> stringList(const ConfigNode& node,
                                                     const std::string& path,
                                                     std::vector<Mark>* marks = nullptr) {
    std::vector<std::string> out;
    if (node.kind == Kind::Scalar) {
      auto s = stringValue(node, path);
      if (!s) return std::nullopt;
      out.push_back(*s);
      if (marks) marks->push_back(node.mark);
      return out;
    }
    if (node.kind != Kind::Seq) {
      error(node.mark, fmt::format("{}: expected a string or a list of strings, got {}", path,
                                   describe(node)));
      return std::nullopt;
    }
    bool ok = true;
    for (size_t i = 0; i < node.seq.size(); ++i) {
      auto s = stringValue(node.seq[i], fmt::format("{}[{}]", path, i));
      if (!s) {
        ok = false;
        continue;
      }
      out.push_back(*s);
      if (marks) marks->push_back(node.seq[i].mark);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // --- app fields --------------------------------------------------------------------

  // A name as commands take it (tend stop NAME): an app's name, or a group's (written where
  // app names are, so it follows their rules). nullopt after reporting what is wrong.
  std::optional<std::string> targetName(const ConfigNode& node, const std::string& key) {
    auto text = stringValue(node, key);
    if (!text) return std::nullopt;
    if (text->size() > 64) {
      error(node.mark, fmt::format("{}: '{}' is longer than 64 characters", key, *text));
    } else if (!validAppName(*text)) {
      error(node.mark,
            fmt::format("{}: '{}' may only use letters, digits, '.', '_' and '-'", key, *text));
    } else if (allDigits(*text)) {
      error(node.mark,
            fmt::format("{}: '{}' is all digits and would be mistaken for an id", key, *text));
    } else if (*text == "all") {
      error(node.mark, fmt::format("{}: 'all' is reserved (tend stop all)", key));
    } else {
      return text;
    }
    return std::nullopt;
  }

  void name(const ConfigNode& node, AppSpec& spec) {
    if (auto text = targetName(node, "name")) spec.name = *text;
  }

  void group(const ConfigNode& node, AppSpec& spec) {
    if (auto text = targetName(node, "group")) spec.group = *text;
  }

  void run(const ConfigNode& node, AppSpec& spec) {
    if (node.kind == Kind::Scalar) {
      auto text = stringValue(node, "run");
      if (!text) return;
      if (trim(*text).empty()) {
        error(node.mark, "run: must not be empty");
        return;
      }
      spec.run_shell = true;
      spec.argv = {"/bin/sh", "-c", *text};
      return;
    }
    if (node.kind == Kind::Seq) {
      if (node.seq.empty()) {
        error(node.mark, "run: the argument list is empty; it needs at least the program");
        return;
      }
      auto items = stringList(node, "run");
      if (!items) return;
      spec.run_shell = false;
      spec.argv = std::move(*items);
      return;
    }
    error(node.mark, fmt::format("run: expected a command string or a list of arguments, got {}",
                                 describe(node)));
  }

  void env(const ConfigNode& node, AppSpec& spec) {
    if (!expectMap(node, "env")) return;
    for (const auto& entry : node.map) {
      const std::string path = sub("env", entry.key);
      if (entry.key.empty() || entry.key.find_first_of("=\0", 0, 2) != std::string::npos) {
        error(entry.key_mark, fmt::format("env: '{}' is not a valid variable name", entry.key));
        continue;
      }
      if (entry.value.kind == Kind::Null) {
        error(entry.value.mark,
              fmt::format("{}: has no value (write \"\" for an empty one)", path));
        continue;
      }
      auto value = stringValue(entry.value, path, true);
      if (value) spec.env.emplace_back(entry.key, *value);
    }
  }

  // Values as the caller's environment had them (empty ones too); variables that are not
  // an app's to inherit are dropped.
  void inheritedEnv(const ConfigNode& node, AppSpec& spec) {
    if (!expectMap(node, "inherited_env")) return;
    spec.inherited_env.emplace();
    for (const auto& entry : node.map) {
      if (entry.key.find_first_of("=\0", 0, 2) != std::string::npos) {
        error(entry.key_mark,
              fmt::format("inherited_env: '{}' is not a valid variable name", entry.key));
        continue;
      }
      if (!inheritableVariable(entry.key)) continue;
      std::string value = entry.value.kind == Kind::Null ? "" : entry.value.scalar;
      if (entry.value.kind != Kind::Null && entry.value.kind != Kind::Scalar) {
        error(entry.value.mark, fmt::format("inherited_env: {} must be a string", entry.key));
        continue;
      }
      spec.inherited_env->emplace_back(entry.key, std::move(value));
    }
  }

  // KEY=VALUE lines; '#' comments; optional "export "; values optionally in quotes.
  std::optional<std::vector<std::pair<std::string, std::string>>> envFile(const ConfigNode& node,
                                                                          AppSpec& spec) {
    auto text = stringValue(node, "env_file");
    if (!text) return std::nullopt;
    const std::string path = resolve(*text);
    spec.env_file = path;
    auto contents = readFile(path, kMaxEnvFileBytes);
    if (!contents) {
      error(node.mark, fmt::format("env_file: cannot read '{}': {}", path, contents.error()));
      return std::nullopt;
    }
    std::vector<std::pair<std::string, std::string>> out;
    bool ok = true;
    int line_number = 0;
    for (std::string line : split(*contents, '\n')) {
      ++line_number;
      auto fail = [&](const std::string& message) {
        errors.push_back(ConfigError{path, Mark{line_number, 1}, message});
        ok = false;
      };
      if (std::string why = badText(line); !why.empty()) {
        // The column of the first bad byte, in characters.
        size_t bad = std::min(line.find('\0'), invalidUtf8At(line));
        int column = 1;
        for (size_t i = 0; i < bad; ++i)
          if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++column;
        errors.push_back(ConfigError{path, Mark{line_number, column}, "this line " + why});
        ok = false;
        continue;
      }
      std::string_view rest = trim(line);
      if (rest.empty() || rest.front() == '#') continue;
      if (rest.starts_with("export ") || rest.starts_with("export\t")) rest = trim(rest.substr(7));
      const size_t eq = rest.find('=');
      if (eq == std::string_view::npos) {
        fail(fmt::format("expected KEY=VALUE, got '{}'", rest));
        continue;
      }
      const std::string key(trim(rest.substr(0, eq)));
      if (key.empty() || std::any_of(key.begin(), key.end(), [](char c) {
            return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' ||
                   c == '\0';
          })) {
        fail(fmt::format("'{}' is not a valid variable name", key));
        continue;
      }
      std::string_view raw = trim(rest.substr(eq + 1));
      std::string value;
      if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
        const char quote = raw.front();
        size_t i = 1;
        bool closed = false;
        for (; i < raw.size(); ++i) {
          const char c = raw[i];
          if (c == quote) {
            closed = true;
            break;
          }
          if (quote == '"' && c == '\\' && i + 1 < raw.size()) {
            const char e = raw[++i];
            switch (e) {
              case 'n':
                value += '\n';
                break;
              case 't':
                value += '\t';
                break;
              case 'r':
                value += '\r';
                break;
              default:
                value += e;
                break;  // \" \\ \$ and anything else: the character
            }
            continue;
          }
          value += c;
        }
        if (!closed) {
          fail(fmt::format("the value of {} has no closing {} (values are one line)", key, quote));
          continue;
        }
        std::string_view after = trim(raw.substr(i + 1));
        if (!after.empty() && after.front() != '#') {
          fail(fmt::format("unexpected text after the quoted value of {}", key));
          continue;
        }
      } else {
        // An unquoted value ends at a " #" comment.
        size_t hash = std::string_view::npos;
        for (size_t i = 1; i < raw.size(); ++i)
          if (raw[i] == '#' && std::isspace(static_cast<unsigned char>(raw[i - 1]))) {
            hash = i;
            break;
          }
        value = std::string(trim(raw.substr(0, hash)));
      }
      out.emplace_back(key, std::move(value));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void instances(const ConfigNode& node, AppSpec& spec) {
    if (node.kind == Kind::Scalar && node.scalar == "max") {
      spec.instances_max = true;
      spec.instances = 1;
      return;
    }
    if (node.kind == Kind::Scalar && !looksLikeInteger(node.scalar)) {
      error(node.mark, fmt::format("instances: expected a number from 1 to {} or \"max\", got {}",
                                   kMaxInstances, describe(node)));
      return;
    }
    if (auto n = integer(node, "instances", 1, kMaxInstances))
      spec.instances = static_cast<int>(*n);
  }

  void port(const ConfigNode& node, AppSpec& spec) {
    const ConfigNode* n = scalarNode(node, "port", "a port");
    if (!n) return;
    const std::string& text = n->scalar;
    auto bad = [&] {
      error(node.mark,
            fmt::format("port: expected a port (3001), a range (\"3001-3004\", one per instance), "
                        "\"auto\" or \"auto:4000-4100\", got {}",
                        describe(node)));
    };
    auto range = [&](std::string_view r, uint16_t& first, uint16_t& last) {
      const size_t dash = r.find('-');
      if (dash == std::string_view::npos) {
        bad();
        return false;
      }
      auto a = portNumber(r.substr(0, dash));
      auto b = portNumber(r.substr(dash + 1));
      if (!a || !b) {
        if (allDigits(r.substr(0, dash)) && allDigits(r.substr(dash + 1)))
          error(node.mark, fmt::format("port: '{}': ports go from 1 to 65535", text));
        else
          bad();
        return false;
      }
      if (*a > *b) {
        error(node.mark,
              fmt::format("port: the range {}-{} is backwards (write {}-{})", *a, *b, *b, *a));
        return false;
      }
      first = *a;
      last = *b;
      return true;
    };
    PortSpec port;
    if (text == "auto") {
      port.kind = PortSpec::Kind::Auto;
      port.first = PortSpec::kAutoFirst;
      port.last = PortSpec::kAutoLast;
    } else if (text.starts_with("auto:")) {
      port.kind = PortSpec::Kind::Auto;
      if (!range(std::string_view(text).substr(5), port.first, port.last)) return;
    } else if (allDigits(text)) {
      auto p = portNumber(text);
      if (!p) {
        error(node.mark, fmt::format("port: {} is not a port (1 to 65535)", text));
        return;
      }
      port.kind = PortSpec::Kind::Fixed;
      port.first = port.last = *p;
    } else if (text.find('-') != std::string::npos) {
      port.kind = PortSpec::Kind::Range;
      if (!range(text, port.first, port.last)) return;
    } else {
      bad();
      return;
    }
    spec.port = port;
  }

  void autorestart(const ConfigNode& node, AppSpec& spec) {
    if (node.kind == Kind::Scalar && node.scalar == "on-failure") {
      spec.autorestart = AutoRestart::OnFailure;
      return;
    }
    if (node.kind == Kind::Scalar && !node.quoted &&
        (node.scalar == "true" || node.scalar == "false")) {
      spec.autorestart = node.scalar == "true" ? AutoRestart::Always : AutoRestart::Never;
      return;
    }
    std::string hint;
    if (node.kind == Kind::Scalar) {
      const std::string near = suggestNearest(node.scalar, {"on-failure", "true", "false"});
      const std::string lower = toLower(node.scalar);
      if (lower == "yes" || lower == "on" || lower == "always" || lower == "true")
        hint = " (write true)";
      else if (lower == "no" || lower == "off" || lower == "never" || lower == "false")
        hint = " (write false)";
      else if (!near.empty())
        hint = fmt::format(" (did you mean {}?)", near);
    }
    error(node.mark, fmt::format("autorestart: expected true, false or on-failure, got {}{}",
                                 describe(node), hint));
  }

  void sharePort(const ConfigNode& node, AppSpec& spec) {
    if (node.kind == Kind::Scalar && node.scalar == "reuseport") {
      spec.share_port = SharePort::ReusePort;
      return;
    }
    if (node.kind == Kind::Scalar && node.scalar == "socket") {
      spec.share_port = SharePort::Socket;
      return;
    }
    std::string hint;
    if (node.kind == Kind::Scalar) {
      const std::string near = suggestNearest(node.scalar, {"reuseport", "socket"});
      if (!near.empty()) hint = fmt::format(" (did you mean {}?)", near);
    }
    error(node.mark,
          fmt::format("share_port: expected reuseport or socket, got {}{}", describe(node), hint));
  }

  void backoff(const ConfigNode& node, AppSpec& spec) {
    if (!expectMap(node, "backoff")) return;
    for (const auto& entry : node.map) {
      if (!knownKey(entry, kBackoffKeys, "backoff")) continue;
      const std::string path = sub("backoff", entry.key);
      if (entry.key == "initial") {
        if (auto d = duration(entry.value, path)) spec.backoff.initial = *d;
      } else if (entry.key == "max") {
        if (auto d = duration(entry.value, path)) spec.backoff.max = *d;
      } else if (entry.key == "multiplier") {
        if (auto m = number(entry.value, path)) {
          if (*m < 1 || *m > 1000)
            error(entry.value.mark,
                  fmt::format("{}: must be from 1 (no growth) to 1000, got {}", path, *m));
          else
            spec.backoff.multiplier = *m;
        }
      }
    }
    if (spec.backoff.initial > spec.backoff.max)
      error(node.mark,
            fmt::format("backoff: initial ({}) is longer than max ({})",
                        formatDuration(spec.backoff.initial), formatDuration(spec.backoff.max)));
  }

  void stopSignal(const ConfigNode& node, AppSpec& spec) {
    const ConfigNode* n = scalarNode(node, "stop_signal", "a signal name such as SIGTERM");
    if (!n) return;
    const int sig = signalFromName(n->scalar);
    if (sig == 0) {
      // Compared without the "SIG" they all share, which would make any word look close.
      std::string bare = n->scalar;
      for (char& c : bare) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (bare.starts_with("SIG")) bare.erase(0, 3);
      std::vector<std::string> bare_names;
      for (const std::string& name : kSignalNames) bare_names.push_back(name.substr(3));
      std::string near = suggestNearest(bare, bare_names);
      if (!near.empty()) near = "SIG" + near;
      error(node.mark,
            fmt::format("stop_signal: unknown signal '{}'{}", n->scalar,
                        near.empty() ? " (use a name such as SIGTERM, SIGINT, SIGQUIT or a number)"
                                     : fmt::format(" (did you mean {}?)", near)));
      return;
    }
    spec.stop_signal = sig;
  }

  void logs(const ConfigNode& node, AppSpec& spec) {
    if (!expectMap(node, "logs")) return;
    for (const auto& entry : node.map) {
      if (!knownKey(entry, kLogKeys, "logs")) continue;
      const std::string path = sub("logs", entry.key);
      if (entry.key == "max_size") {
        if (auto s = size(entry.value, path)) spec.logs.max_size = *s;
      } else if (entry.key == "max_files") {
        if (auto n = integer(entry.value, path, 1, 1000))
          spec.logs.max_files = static_cast<int>(*n);
      } else if (entry.key == "timestamps") {
        if (auto b = boolean(entry.value, path)) spec.logs.timestamps = *b;
      } else if (entry.key == "out") {
        if (auto s = stringValue(entry.value, path)) spec.logs.out_file = resolve(*s);
      } else if (entry.key == "err") {
        if (auto s = stringValue(entry.value, path)) spec.logs.err_file = resolve(*s);
      } else if (entry.key == "format") {
        if (auto s = stringValue(entry.value, path)) {
          if (*s == "text")
            spec.logs.format = LogFormat::Text;
          else if (*s == "json")
            spec.logs.format = LogFormat::Json;
          else
            error(entry.value.mark, fmt::format("{}: expected text or json, got '{}'", path, *s));
        }
      }
    }
  }

  // user: a name this machine knows (getpwnam), or a number that is its uid.
  void user(const ConfigNode& node, AppSpec& spec) {
    auto s = stringValue(node, "user");
    if (!s) return;
    if (!lookupUser(*s)) {
      error(node.mark, fmt::format("user: no user named '{}' on this machine", *s));
      return;
    }
    spec.user = *s;
  }

  void watch(const ConfigNode& node, const std::string& path, std::vector<std::string>& out) {
    // PM2's `watch: true` watches the working directory.
    if (node.kind == Kind::Scalar && !node.quoted && node.scalar == "true") {
      out = {"."};
      return;
    }
    if (node.kind == Kind::Scalar && !node.quoted && node.scalar == "false") {
      out.clear();
      return;
    }
    if (auto list = stringList(node, path)) out = std::move(*list);
  }

  // depends_on: a name, a list of names, a map of name: condition, or a list mixing names
  // and one-entry maps (`- migrate: completed`). A bare name waits for `ready`.
  void dependsOn(const ConfigNode& node, AppSpec& spec, std::vector<Mark>& marks) {
    auto add = [&](const std::string& name, DependencyCondition condition, Mark mark) {
      for (const Dependency& d : spec.depends_on) {
        if (d.app == name) {
          error(mark, fmt::format("depends_on: '{}' is listed twice", name));
          return;
        }
      }
      spec.depends_on.push_back({name, condition});
      marks.push_back(mark);
    };
    auto entry = [&](const ConfigNode::Entry& e, const std::string& path) {
      if (e.key.empty()) {
        error(e.key_mark, fmt::format("{}: an app name must not be empty", path));
        return;
      }
      if (auto c = dependencyCondition(e.value, sub(path, e.key))) add(e.key, *c, e.key_mark);
    };
    if (node.kind == Kind::Map) {
      for (const auto& e : node.map) entry(e, "depends_on");
      return;
    }
    if (node.kind == Kind::Seq) {
      for (size_t i = 0; i < node.seq.size(); ++i) {
        const ConfigNode& item = node.seq[i];
        const std::string path = fmt::format("depends_on[{}]", i);
        if (item.kind == Kind::Map && item.map.size() == 1) {
          entry(item.map.front(), path);
        } else if (item.kind == Kind::Map) {
          error(item.mark, fmt::format("{}: expected an app name or one 'name: condition', got "
                                       "a map of {} entries",
                                       path, item.map.size()));
        } else if (auto name = stringValue(item, path)) {
          add(*name, DependencyCondition::Ready, item.mark);
        }
      }
      return;
    }
    if (node.kind == Kind::Scalar) {
      if (auto name = stringValue(node, "depends_on"))
        add(*name, DependencyCondition::Ready, node.mark);
      return;
    }
    error(node.mark, fmt::format("depends_on: expected an app name, a list of them or a map of "
                                 "name: condition, got {}",
                                 describe(node)));
  }

  std::optional<DependencyCondition> dependencyCondition(const ConfigNode& node,
                                                         const std::string& path) {
    static const std::vector<std::string> kNames = {"started", "ready", "completed"};
    // process-compose's names, which people carry over.
    static const std::map<std::string, std::string, std::less<>> kForeign = {
        {"process_started", "started"},
        {"process_healthy", "ready"},
        {"process_completed_successfully", "completed"},
        {"process_completed", "completed"},
        {"service_healthy", "ready"},
        {"service_started", "started"},
        {"service_completed_successfully", "completed"}};
    auto text = stringValue(node, path);
    if (!text) return std::nullopt;
    if (*text == "started") return DependencyCondition::Started;
    if (*text == "ready") return DependencyCondition::Ready;
    if (*text == "completed") return DependencyCondition::Completed;
    std::string message = fmt::format(
        "{}: unknown condition '{}' (expected one of: started, ready, completed)", path, *text);
    if (auto it = kForeign.find(*text); it != kForeign.end()) {
      message =
          fmt::format("{}: unknown condition '{}' (tend calls it '{}')", path, *text, it->second);
    } else if (auto near = suggestNearest(*text, kNames); !near.empty()) {
      message = fmt::format("{}: unknown condition '{}' (did you mean '{}'?)", path, *text, near);
    }
    error(node.mark, message);
    return std::nullopt;
  }

  std::optional<ProbeSpec> probe(const ConfigNode& node, const std::string& path, bool health) {
    if (!expectMap(node, path)) return std::nullopt;
    ProbeSpec probe;
    const size_t errors_before = errors.size();
    std::vector<const ConfigNode::Entry*> kinds;
    const ConfigNode::Entry* expect = nullptr;
    const ConfigNode::Entry* watchdog = nullptr;
    std::vector<const ConfigNode::Entry*> http_only;  // method, body, insecure
    const ConfigNode::Entry* body = nullptr;
    const ConfigNode::Entry* insecure = nullptr;
    for (const auto& entry : node.map) {
      const std::string key_path = sub(path, entry.key);
      if (!health && (entry.key == "interval" || entry.key == "failures")) {
        error(entry.key_mark, fmt::format("{}: '{}' applies to health checks only; a ready "
                                          "check is retried until its timeout",
                                          path, entry.key));
        continue;
      }
      if (health && entry.key == "notify") {
        error(entry.key_mark,
              "health: notify is a ready check only; a health check uses tcp, http or exec");
        kinds.push_back(&entry);  // said what is wrong; "needs one of" would only repeat it
        continue;
      }
      if (!knownKey(entry, health ? kHealthKeys : kReadyKeys, path)) continue;
      if (entry.key == "tcp") {
        kinds.push_back(&entry);
        if (auto p = integer(entry.value, key_path, 1, 65535))
          probe.tcp = static_cast<uint16_t>(*p);
      } else if (entry.key == "http") {
        kinds.push_back(&entry);
        if (auto url = stringValue(entry.value, key_path)) {
          const bool https = url->starts_with("https://");
          if ((!url->starts_with("http://") || url->size() <= 7) && (!https || url->size() <= 8))
            error(entry.value.mark,
                  fmt::format("{}: expected a URL starting with http:// or https://, got '{}'",
                              key_path, *url));
          else
            probe.http = *url;
        }
      } else if (entry.key == "exec") {
        kinds.push_back(&entry);
        if (auto cmd = stringValue(entry.value, key_path)) probe.exec = *cmd;
      } else if (entry.key == "notify") {
        if (auto b = boolean(entry.value, key_path)) {
          probe.notify = *b;
          if (*b) kinds.push_back(&entry);
        }
      } else if (entry.key == "expect") {
        expect = &entry;
        if (const ConfigNode* n = scalarNode(entry.value, key_path, "an HTTP status such as 200")) {
          if (auto range = parseStatusRange(n->scalar); !range) {
            error(n->mark, fmt::format("{}: {}", key_path, range.error()));
          } else {
            probe.expect_status = range->first;
            probe.expect_last = range->last == range->first ? 0 : range->last;
          }
        }
      } else if (entry.key == "method") {
        http_only.push_back(&entry);
        if (auto m = stringValue(entry.value, key_path)) {
          std::string upper = *m;
          for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          if (!probeMethodAllowed(upper))
            error(entry.value.mark,
                  fmt::format("{}: expected {}, got '{}'", key_path, kProbeMethods, *m));
          else
            probe.method = upper;
        }
      } else if (entry.key == "body") {
        http_only.push_back(&entry);
        body = &entry;
        if (auto b = stringValue(entry.value, key_path, /*allow_empty=*/true)) probe.body = *b;
      } else if (entry.key == "insecure") {
        http_only.push_back(&entry);
        insecure = &entry;
        if (auto b = boolean(entry.value, key_path)) probe.insecure = *b;
      } else if (entry.key == "timeout") {
        if (auto d = duration(entry.value, key_path, false)) probe.timeout = *d;
      } else if (entry.key == "watchdog") {
        watchdog = &entry;
        if (auto d = duration(entry.value, key_path, false)) probe.watchdog = *d;
      } else if (entry.key == "interval") {
        if (auto d = duration(entry.value, key_path, false)) probe.interval = *d;
      } else if (entry.key == "failures") {
        if (auto n = integer(entry.value, key_path, 1, 1000)) probe.failures = static_cast<int>(*n);
      }
    }
    const std::string choices = health ? "tcp, http or exec" : "tcp, http, exec or notify";
    if (kinds.empty()) {
      error(node.mark, fmt::format("{}: needs one of {}", path, choices));
    } else if (kinds.size() > 1) {
      error(kinds[1]->key_mark,
            fmt::format("{}: takes only one of {} (also has '{}')", path, choices, kinds[0]->key));
    }
    if (expect && (kinds.size() != 1 || kinds[0]->key != "http"))
      error(expect->key_mark, fmt::format("{}: expect is the HTTP status for an http check", path));
    const bool is_http = kinds.size() == 1 && kinds[0]->key == "http";
    for (const auto* e : http_only)
      if (!is_http)
        error(e->key_mark, fmt::format("{}: {} applies to an http check only", path, e->key));
    if (is_http && body && probe.method != "POST" && probe.method != "PUT")
      error(body->key_mark,
            fmt::format("{}: a body is sent with method POST or PUT, not {}", path, probe.method));
    if (is_http && insecure && !probe.http.empty() && !probe.http.starts_with("https://"))
      error(insecure->key_mark,
            fmt::format("{}: insecure skips the certificate check of an https:// URL; {} is "
                        "plain http",
                        path, probe.http));
    if (watchdog && (kinds.size() != 1 || kinds[0]->key != "notify"))
      error(watchdog->key_mark,
            fmt::format("{}: watchdog is the WATCHDOG=1 interval of a notify check", path));
    if (errors.size() != errors_before) return std::nullopt;
    return probe;
  }

  std::optional<std::vector<WebhookSpec>> webhooksList(const ConfigNode& node) {
    if (node.kind == Kind::Null) return std::vector<WebhookSpec>{};
    if (node.kind != Kind::Seq) {
      error(node.mark, fmt::format("webhooks: expected a list (start each with '- url: ...'), "
                                   "got {}",
                                   describe(node)));
      return std::nullopt;
    }
    const size_t errors_before = errors.size();
    std::vector<WebhookSpec> out;
    std::vector<std::string> all_events;
    for (std::string_view e : kWebhookEvents) all_events.emplace_back(e);
    for (size_t i = 0; i < node.seq.size(); ++i) {
      const ConfigNode& item = node.seq[i];
      const std::string path = fmt::format("webhooks[{}]", i);
      if (!expectMap(item, path)) continue;
      WebhookSpec hook;
      bool has_url = false;
      for (const auto& entry : item.map) {
        if (!knownKey(entry, kWebhookKeys, path)) continue;
        const std::string key_path = sub(path, entry.key);
        if (entry.key == "url") {
          has_url = true;
          auto url = stringValue(entry.value, key_path);
          if (!url) continue;
          std::string_view rest = *url;
          if (rest.starts_with("http://"))
            rest.remove_prefix(7);
          else if (rest.starts_with("https://"))
            rest.remove_prefix(8);
          else
            rest = {};
          if (rest.empty() || rest.front() == '/' || rest.front() == ':' ||
              rest.find_first_of(" \t@") != std::string_view::npos) {
            error(entry.value.mark,
                  fmt::format("{}: expected a URL such as http://127.0.0.1:9000/tend or "
                              "https://hooks.example.com/tend, got '{}'",
                              key_path, *url));
            continue;
          }
          hook.url = *url;
        } else if (entry.key == "events") {
          std::vector<Mark> marks;
          auto list = stringList(entry.value, key_path, &marks);
          if (!list) continue;
          for (size_t k = 0; k < list->size(); ++k) {
            const std::string& name = (*list)[k];
            if (std::find(all_events.begin(), all_events.end(), name) == all_events.end()) {
              std::string near = suggestNearest(name, all_events);
              error(marks[k], fmt::format("{}: unknown event '{}'{} (events: {})", key_path, name,
                                          near.empty() ? "" : " (did you mean '" + near + "'?)",
                                          join(all_events, ", ")));
              continue;
            }
            if (std::find(hook.events.begin(), hook.events.end(), name) == hook.events.end())
              hook.events.push_back(name);
          }
        } else if (entry.key == "secret_file") {
          auto text = stringValue(entry.value, key_path);
          if (!text) continue;
          const std::string file = resolve(*text);  // "~/" is the user's home
          auto secret = readFile(file, kMaxWebhookSecretBytes);
          if (!secret) {
            error(entry.value.mark,
                  fmt::format("{}: cannot read '{}': {}", key_path, file, secret.error()));
            continue;
          }
          if (trim(*secret).empty()) {
            error(entry.value.mark,
                  fmt::format("{}: '{}' is empty; put the signing key in it", key_path, file));
            continue;
          }
          hook.secret_file = file;
        } else if (entry.key == "timeout") {
          if (auto d = duration(entry.value, key_path, false)) hook.timeout = *d;
        }
      }
      if (!has_url) error(item.mark, fmt::format("{}: needs a url", path));
      out.push_back(std::move(hook));
    }
    if (errors.size() != errors_before) return std::nullopt;
    return out;
  }

  std::optional<OnDemandSpec> onDemand(const ConfigNode& node, AppMarks& marks) {
    if (!expectMap(node, "on_demand")) return std::nullopt;
    OnDemandSpec od;
    const size_t errors_before = errors.size();
    for (const auto& entry : node.map) {
      if (!knownKey(entry, kOnDemandKeys, "on_demand")) continue;
      const std::string path = sub("on_demand", entry.key);
      if (entry.key == "hosts") {
        std::vector<Mark> host_marks;
        auto hosts = stringList(entry.value, path, &host_marks);
        if (!hosts) continue;
        for (size_t i = 0; i < hosts->size(); ++i) {
          const std::string host = toLower((*hosts)[i]);
          if (host.find(':') != std::string::npos &&
              validHostPattern(host.substr(0, host.find(':')))) {
            error(host_marks[i], fmt::format("{}: '{}': hosts match without the port; write '{}'",
                                             path, host, host.substr(0, host.find(':'))));
            continue;
          }
          if (!validHostPattern(host)) {
            error(host_marks[i],
                  fmt::format("{}: '{}' is not a host name (e.g. api.localhost or *.example.com)",
                              path, (*hosts)[i]));
            continue;
          }
          if (std::find(od.hosts.begin(), od.hosts.end(), host) != od.hosts.end()) {
            error(host_marks[i], fmt::format("{}: '{}' is listed twice", path, host));
            continue;
          }
          od.hosts.push_back(host);
          marks.hosts.push_back(host_marks[i]);
        }
      } else if (entry.key == "listen") {
        std::vector<Mark> listen_marks;
        auto list = stringList(entry.value, path, &listen_marks);
        if (!list) continue;
        for (size_t i = 0; i < list->size(); ++i) {
          if (!parseHostPort((*list)[i])) {
            error(listen_marks[i],
                  fmt::format("{}: expected host:port such as 127.0.0.1:3998, got '{}'", path,
                              (*list)[i]));
            continue;
          }
          od.listen.push_back((*list)[i]);
          marks.listen.push_back(listen_marks[i]);
        }
      } else if (entry.key == "target") {
        auto url = stringValue(entry.value, path);
        if (!url) continue;
        std::string_view rest = *url;
        bool ok = rest.starts_with("http://");
        if (ok) {
          rest.remove_prefix(7);
          if (rest.ends_with("/")) rest.remove_suffix(1);
          ok = parseHostPort(rest).has_value();
        }
        if (!ok)
          error(entry.value.mark,
                fmt::format("{}: expected http://host:port such as http://127.0.0.1:3001, got '{}'",
                            path, *url));
        else
          od.target = *url;
      } else if (entry.key == "idle_timeout") {
        if (auto d = duration(entry.value, path, false)) od.idle_timeout = *d;
      } else if (entry.key == "start_timeout") {
        if (auto d = duration(entry.value, path, false)) od.start_timeout = *d;
      } else if (entry.key == "loading_page") {
        if (auto b = boolean(entry.value, path)) od.loading_page = *b;
      } else if (entry.key == "socket_activation") {
        if (auto b = boolean(entry.value, path)) od.socket_activation = *b;
      } else if (entry.key == "balance") {
        auto mode = stringValue(entry.value, path);
        if (!mode) continue;
        std::vector<std::string> names(std::begin(kBalanceModeNames), std::end(kBalanceModeNames));
        auto it = std::find(names.begin(), names.end(), *mode);
        if (it != names.end()) {
          od.balance = static_cast<BalanceMode>(it - names.begin());
        } else {
          const std::string near = suggestNearest(*mode, names);
          error(entry.value.mark,
                fmt::format("{}: expected one of {}, got '{}'{}", path, join(names, ", "), *mode,
                            near.empty() ? "" : fmt::format(" (did you mean {}?)", near)));
        }
      } else if (entry.key == "weights") {
        marks.weights = entry.value.mark;
        if (entry.value.kind != Kind::Seq || entry.value.seq.empty()) {
          error(entry.value.mark,
                fmt::format("{}: expected a list of whole numbers, one per instance, such as "
                            "[3, 1]",
                            path));
          continue;
        }
        for (size_t i = 0; i < entry.value.seq.size(); ++i) {
          if (auto n = integer(entry.value.seq[i], fmt::format("{}[{}]", path, i), 1, 1000))
            od.weights.push_back(static_cast<uint32_t>(*n));
        }
      }
    }
    if (errors.size() != errors_before) return std::nullopt;
    if (od.hosts.empty() && od.listen.empty())
      error(node.mark, "on_demand: needs hosts (or listen) so that requests can reach the app");
    if (od.balance == BalanceMode::Weighted && od.weights.empty())
      error(node.mark, "on_demand: balance weighted needs weights, one per instance (e.g. [3, 1])");
    if (od.balance != BalanceMode::Weighted && !od.weights.empty())
      error(marks.weights, "on_demand.weights: only used with balance: weighted");
    return od;
  }

  std::string file_;
  std::string base_dir_;
};

bool Validator::app(const ConfigNode& node, AppMarks& marks, AppSpec& spec) {
  marks.node = node.mark;
  if (node.kind != Kind::Map) {
    error(node.mark, fmt::format("an app must be a map with name and run, got {}", describe(node)));
    return false;
  }
  const size_t errors_before = errors.size();
  spec.cwd = base_dir_;
  std::optional<std::vector<std::pair<std::string, std::string>>> file_env;
  const ConfigNode::Entry* run_entry = nullptr;
  const ConfigNode::Entry* start_entry = nullptr;
  const ConfigNode::Entry* port_entry = nullptr;
  const ConfigNode::Entry* share_port_entry = nullptr;
  const ConfigNode::Entry* on_demand_entry = nullptr;
  std::vector<const ConfigNode::Entry*> manage_entries;  // stop, check
  std::vector<Mark> depends_marks;

  for (const auto& entry : node.map) {
    if (entry.key == "inherited_env" && allow_inherited_env) {
      inheritedEnv(entry.value, spec);
      continue;
    }
    if (!knownKey(entry, kAppKeys, "")) continue;
    const std::string& key = entry.key;
    const ConfigNode& value = entry.value;
    if (key == "name") {
      marks.name = value.mark;
      name(value, spec);
    } else if (key == "group") {
      marks.group = value.mark;
      group(value, spec);
    } else if (key == "run") {
      run_entry = &entry;
      run(value, spec);
    } else if (key == "start") {
      start_entry = &entry;
      if (auto s = stringValue(value, key)) spec.start_cmd = *s;
    } else if (key == "stop") {
      manage_entries.push_back(&entry);
      if (auto s = stringValue(value, key)) spec.stop_cmd = *s;
    } else if (key == "check") {
      manage_entries.push_back(&entry);
      if (auto s = stringValue(value, key)) spec.check_cmd = *s;
    } else if (key == "cwd") {
      if (auto s = stringValue(value, key)) spec.cwd = resolve(*s);
    } else if (key == "env") {
      env(value, spec);
    } else if (key == "env_file") {
      file_env = envFile(value, spec);
    } else if (key == "instances") {
      instances(value, spec);
    } else if (key == "port") {
      port_entry = &entry;
      marks.port = value.mark;
      port(value, spec);
    } else if (key == "autorestart") {
      autorestart(value, spec);
    } else if (key == "share_port") {
      share_port_entry = &entry;
      sharePort(value, spec);
    } else if (key == "reload_batch") {
      if (auto n = integer(value, key, 1, kMaxInstances)) spec.reload_batch = static_cast<int>(*n);
    } else if (key == "restart_delay") {
      if (auto d = duration(value, key)) spec.restart_delay = *d;
    } else if (key == "backoff") {
      backoff(value, spec);
    } else if (key == "max_restarts") {
      if (auto n = integer(value, key, 0, std::numeric_limits<int>::max()))
        spec.max_restarts = static_cast<int>(*n);
    } else if (key == "restart_window") {
      if (auto d = duration(value, key, false)) spec.restart_window = *d;
    } else if (key == "min_uptime") {
      if (auto d = duration(value, key)) spec.min_uptime = *d;
    } else if (key == "stop_signal") {
      stopSignal(value, spec);
    } else if (key == "kill_timeout") {
      if (auto d = duration(value, key)) spec.kill_timeout = *d;
    } else if (key == "logs") {
      logs(value, spec);
    } else if (key == "max_memory") {
      if (auto s = size(value, key)) spec.max_memory = *s;
    } else if (key == "watch") {
      watch(value, key, spec.watch);
    } else if (key == "ignore_watch") {
      if (auto list = stringList(value, key)) spec.ignore_watch = std::move(*list);
    } else if (key == "cron_restart") {
      if (auto s = stringValue(value, key)) {
        if (auto cron = CronSchedule::parse(*s); !cron)
          error(value.mark, "cron_restart " + cron.error());
        else
          spec.cron_restart = *s;
      }
    } else if (key == "depends_on") {
      dependsOn(value, spec, depends_marks);
    } else if (key == "ready") {
      spec.ready = probe(value, key, false);
    } else if (key == "health") {
      spec.health = probe(value, key, true);
    } else if (key == "on_demand") {
      on_demand_entry = &entry;
      spec.on_demand = onDemand(value, marks);
    } else if (key == "pre_start") {
      if (auto s = stringValue(value, key)) spec.pre_start = *s;
    } else if (key == "post_start") {
      if (auto s = stringValue(value, key)) spec.post_start = *s;
    } else if (key == "nice") {
      if (auto n = integer(value, key, -20, 19)) spec.nice = static_cast<int>(*n);
    } else if (key == "user") {
      user(value, spec);
    }
  }

  // Checks that involve several keys.
  if (!node.find("name")) error(node.mark, "an app needs a 'name'");
  for (size_t i = 0; i < spec.depends_on.size(); ++i) {
    if (!spec.name.empty() && spec.depends_on[i].app == spec.name)
      error(depends_marks[i], fmt::format("depends_on: '{}' cannot depend on itself", spec.name));
  }
  marks.depends_on = depends_marks;
  if (run_entry && start_entry) {
    error(start_entry->key_mark,
          "an app has either 'run' (tend runs it) or 'start' (tend asks something else to), "
          "not both");
  } else if (!run_entry && !start_entry) {
    const ConfigNode* od = node.find("on_demand");
    if (od && od->find("target")) {
      // A proxy-only route: nothing to run or start, requests go to the target.
      if (spec.instances != 1 || spec.instances_max)
        error(node.mark,
              "an app that is only a route (on_demand.target, no 'run' or 'start') "
              "is one target: instances must be 1");
      if (port_entry)
        error(port_entry->key_mark,
              "an app that is only a route has no port of its own: "
              "on_demand.target says where requests go");
    } else {
      error(node.mark, fmt::format("app{} needs 'run' (the command to run), 'start' for a "
                                   "service tend does not spawn itself, or on_demand.target "
                                   "alone for a plain route",
                                   spec.name.empty() ? "" : " '" + spec.name + "'"));
    }
  }
  if (start_entry && !run_entry) {
    if (!node.find("on_demand") || !node.find("on_demand")->find("target")) {
      error(start_entry->key_mark,
            "'start' needs on_demand.target: where the service listens once started");
    }
    if (spec.instances != 1 || spec.instances_max)
      error(start_entry->key_mark, "an app with 'start' is one service: instances must be 1");
  }
  if (start_entry && spec.ready && spec.ready->notify) {
    error(start_entry->key_mark,
          "ready.notify needs a process tend spawns itself ('run'), not a 'start' command");
  }
  if (!start_entry) {
    for (const auto* entry : manage_entries)
      error(entry->key_mark,
            fmt::format("'{}' goes with 'start', for a service tend does not spawn itself",
                        entry->key));
  }
  if (share_port_entry && spec.share_port != SharePort::None) {
    if (spec.port.kind != PortSpec::Kind::Fixed)
      error(share_port_entry->key_mark,
            "share_port: the instances share one port, so 'port' must be a single port "
            "such as 3000");
    if (start_entry)
      error(share_port_entry->key_mark, "share_port: tend does not spawn an app with 'start'");
    if (spec.share_port == SharePort::Socket && spec.on_demand && spec.on_demand->socket_activation)
      error(share_port_entry->key_mark,
            "share_port: socket already passes the listening socket; drop "
            "on_demand.socket_activation");
  }
  if (port_entry && spec.port.kind == PortSpec::Kind::Fixed && !share_port_entry &&
      (spec.instances > 1 || spec.instances_max)) {
    const std::string count = spec.instances_max ? "\"max\"" : std::to_string(spec.instances);
    const std::string example =
        spec.instances_max ? "\"auto\""
                           : fmt::format("\"{}-{}\"", spec.port.first,
                                         std::min(65535, spec.port.first + spec.instances - 1));
    error(port_entry->value.mark,
          fmt::format("port {} is a single port but instances is {}: give each instance its "
                      "own port with a range such as {}, or share it with share_port: socket",
                      spec.port.first, count, example));
  }
  if (port_entry && spec.port.kind == PortSpec::Kind::Range && !spec.instances_max &&
      spec.port.last - spec.port.first + 1 < spec.instances) {
    error(port_entry->value.mark,
          fmt::format("port range {}-{} has {} port(s) but instances is {}", spec.port.first,
                      spec.port.last, spec.port.last - spec.port.first + 1, spec.instances));
  }
  if (spec.on_demand && !spec.on_demand->weights.empty() && !spec.instances_max &&
      spec.on_demand->weights.size() != static_cast<size_t>(spec.instances)) {
    error(marks.weights,
          fmt::format("on_demand.weights has {} weight(s) but instances is {}: give one weight "
                      "per instance",
                      spec.on_demand->weights.size(), spec.instances));
  }
  if (spec.on_demand && spec.on_demand->target.empty() && !start_entry &&
      spec.port.kind == PortSpec::Kind::None) {
    error(on_demand_entry->key_mark,
          "on_demand needs to know where the app listens: give the app a port or set "
          "on_demand.target");
  }

  if (file_env) {
    // env_file first, then env; a key in both takes env's value.
    std::vector<std::pair<std::string, std::string>> merged;
    auto set = [&merged](const std::string& key, const std::string& value) {
      for (auto& [k, v] : merged)
        if (k == key) {
          v = value;
          return;
        }
      merged.emplace_back(key, value);
    };
    for (const auto& [k, v] : *file_env) set(k, v);
    for (const auto& [k, v] : spec.env) set(k, v);
    spec.env = std::move(merged);
  }

  return errors.size() == errors_before;
}

// Ports that something in the file binds: apps' fixed ports and ranges, and the gateway's,
// API's and on_demand listen addresses.
struct PortClaim {
  uint16_t first;
  uint16_t last;
  std::string host;  // empty: an app, which may bind any address
  std::string owner;
  Mark mark;
};

bool claimsCollide(const PortClaim& a, const PortClaim& b) {
  if (a.last < b.first || b.last < a.first) return false;
  return isAllInterfacesHost(a.host) || isAllInterfacesHost(b.host) || a.host == b.host;
}

std::string portText(const PortClaim& c) {
  return c.first == c.last ? std::to_string(c.first) : fmt::format("{}-{}", c.first, c.last);
}

// " (line 12)" when the position is known.
std::string lineNote(Mark mark) {
  return mark.line > 0 ? fmt::format(" (line {})", mark.line) : "";
}

std::optional<std::vector<WebhookSpec>> Validator::webhooks(const ConfigNode& node) {
  return webhooksList(node);
}

std::optional<ConfigFile> Validator::config(const ConfigNode& root) {
  ConfigFile out;
  out.path = file_.empty() ? "" : absolutePath(file_);
  if (root.kind == Kind::Null) {
    error(root.mark, "the config is empty: it needs an 'apps' list");
    return std::nullopt;
  }
  if (root.kind != Kind::Map) {
    error(root.mark,
          fmt::format("the config must be a map with an 'apps' list, got {}", describe(root)));
    return std::nullopt;
  }
  std::vector<PortClaim> claims;
  const ConfigNode* apps = nullptr;
  bool apps_misspelt = false;  // already reported with a suggestion
  for (const auto& entry : root.map) {
    // "x-..." keys are free for YAML anchors, as in docker compose files.
    if (entry.key.starts_with("x-")) continue;
    if (std::find(kAppKeys.begin(), kAppKeys.end(), entry.key) != kAppKeys.end()) {
      error(entry.key_mark,
            fmt::format("'{}' is an app setting: put it under an entry of 'apps'", entry.key));
      continue;
    }
    if (!knownKey(entry, kTopKeys, "")) {
      if (suggestNearest(entry.key, kTopKeys) == "apps") apps_misspelt = true;
      continue;
    }
    if (entry.key == "apps") {
      apps = &entry.value;
    } else if (entry.key == "webhooks") {
      out.webhooks = webhooks(entry.value);
    } else if (entry.key == "gateway") {
      if (!expectMap(entry.value, "gateway")) continue;
      GatewaySpec gateway;
      for (const auto& g : entry.value.map) {
        if (!knownKey(g, kGatewayKeys, "gateway")) continue;
        if (g.key == "max_connections") {
          if (auto n = integer(g.value, "gateway.max_connections", 1, kMaxGatewayConnections))
            gateway.max_connections = *n;
          continue;
        }
        if (g.key == "access_log") {
          if (!expectMap(g.value, "gateway.access_log")) continue;
          AccessLogSpec log;
          for (const auto& a : g.value.map) {
            if (!knownKey(a, kAccessLogKeys, "gateway.access_log")) continue;
            const std::string path = "gateway.access_log." + a.key;
            if (a.key == "format") {
              auto format = stringValue(a.value, path);
              if (!format) continue;
              if (*format == "json" || *format == "combined") {
                log.format = *format;
              } else {
                const std::string near = suggestNearest(*format, {"json", "combined"});
                error(a.value.mark,
                      fmt::format("{}: expected json or combined, got '{}'{}", path, *format,
                                  near.empty() ? "" : fmt::format(" (did you mean {}?)", near)));
              }
            } else if (a.key == "max_size") {
              if (auto n = size(a.value, path)) log.max_size = *n;
            } else if (a.key == "max_files") {
              if (auto n = integer(a.value, path, 0, 1000)) log.max_files = static_cast<int>(*n);
            }
          }
          gateway.access_log = log;
          continue;
        }
        if (g.key == "trusted_proxies") {
          std::vector<Mark> marks;
          auto list = stringList(g.value, "gateway.trusted_proxies", &marks);
          if (!list) continue;
          for (size_t i = 0; i < list->size(); ++i) {
            if (auto range = parseAddressRange((*list)[i]); !range) {
              error(marks[i], fmt::format("gateway.trusted_proxies: {}", range.error()));
            } else {
              gateway.trusted_proxies.push_back((*list)[i]);
            }
          }
          continue;
        }
        std::vector<Mark> marks;
        auto list = stringList(g.value, "gateway.listen", &marks);
        if (!list) continue;
        for (size_t i = 0; i < list->size(); ++i) {
          auto hp = parseHostPort((*list)[i]);
          if (!hp) {
            error(marks[i], fmt::format("gateway.listen: expected host:port such as "
                                        "127.0.0.1:8080, got '{}'",
                                        (*list)[i]));
            continue;
          }
          gateway.listen.push_back((*list)[i]);
          claims.push_back(PortClaim{hp->port, hp->port, hp->host, "the gateway", marks[i]});
        }
      }
      out.gateway = gateway;
    } else if (entry.key == "api") {
      if (!expectMap(entry.value, "api")) continue;
      ApiSpec api;
      std::vector<std::pair<HostPort, Mark>> addresses;
      for (const auto& a : entry.value.map) {
        if (!knownKey(a, kApiKeys, "api")) continue;
        if (a.key == "token_file") {
          if (auto s = stringValue(a.value, "api.token_file")) api.token_file = resolve(*s);
          continue;
        }
        std::vector<Mark> marks;
        auto list = stringList(a.value, "api.listen", &marks);
        if (!list) continue;
        for (size_t i = 0; i < list->size(); ++i) {
          auto hp = parseHostPort((*list)[i]);
          if (!hp) {
            error(marks[i], fmt::format("api.listen: expected host:port such as "
                                        "127.0.0.1:9615, got '{}'",
                                        (*list)[i]));
            continue;
          }
          api.listen.push_back((*list)[i]);
          addresses.emplace_back(*hp, marks[i]);
          claims.push_back(PortClaim{hp->port, hp->port, hp->host, "the API", marks[i]});
        }
      }
      if (api.token_file.empty()) {
        for (const auto& [hp, mark] : addresses)
          if (apiListenNeedsTokenFile(hp.host))
            error(mark, fmt::format("api.listen: {}:{} is reachable from other machines; set "
                                    "api.token_file so that requests need a token",
                                    hp.host, hp.port));
      }
      out.api = api;
    }
  }

  if (!apps) {
    if (!apps_misspelt) error(root.mark, "the config needs an 'apps' list");
  } else if (apps->kind != Kind::Seq) {
    error(apps->mark, fmt::format("apps: expected a list (start each app with '- name: ...'), "
                                  "got {}",
                                  describe(*apps)));
  } else if (apps->seq.empty()) {
    error(apps->mark, "apps: the list is empty; add at least one app");
  } else {
    std::vector<AppMarks> all_marks;
    std::vector<bool> valid;
    for (const ConfigNode& item : apps->seq) {
      // Keep what could be read even from an app with errors, so that other apps'
      // references to it are not reported as well.
      AppMarks marks;
      AppSpec spec;
      valid.push_back(app(item, marks, spec));
      out.apps.push_back(std::move(spec));
      all_marks.push_back(std::move(marks));
    }

    std::map<std::string, size_t> by_name;
    for (size_t i = 0; i < out.apps.size(); ++i) {
      const AppSpec& a = out.apps[i];
      if (a.name.empty()) continue;
      auto [it, inserted] = by_name.emplace(a.name, i);
      if (!inserted)
        error(all_marks[i].name,
              fmt::format("duplicate app name '{}'{}", a.name,
                          all_marks[it->second].name.line > 0
                              ? fmt::format(" (first at line {})", all_marks[it->second].name.line)
                              : ""));
    }

    // A group and an app of the same name would make `tend stop NAME` ambiguous.
    for (size_t i = 0; i < out.apps.size(); ++i) {
      const AppSpec& a = out.apps[i];
      if (a.group.empty()) continue;
      if (auto it = by_name.find(a.group); it != by_name.end())
        error(all_marks[i].group,
              fmt::format("group: '{}' is the name of an app{}; a group needs a name of its own",
                          a.group,
                          all_marks[it->second].name.line > 0
                              ? fmt::format(" (line {})", all_marks[it->second].name.line)
                              : ""));
    }

    std::vector<std::string> names;
    for (const auto& [n, i] : by_name) names.push_back(n);
    for (size_t i = 0; i < out.apps.size(); ++i) {
      const AppSpec& a = out.apps[i];
      if (!valid[i]) continue;
      for (size_t d = 0; d < a.depends_on.size(); ++d) {
        const std::string& dep = a.depends_on[d].app;
        if (dep == a.name || by_name.contains(dep)) continue;
        const std::string near = suggestNearest(dep, names);
        error(all_marks[i].depends_on[d],
              fmt::format("depends_on: there is no app named '{}' in this file{}", dep,
                          near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
      }
    }

    // Dependency cycles, each reported once, at the edge that closes it.
    std::vector<int> state(out.apps.size(), 0);  // 0 new, 1 on the path, 2 done
    std::vector<size_t> path;
    std::function<void(size_t)> visit = [&](size_t i) {
      state[i] = 1;
      path.push_back(i);
      const AppSpec& a = out.apps[i];
      for (size_t d = 0; d < a.depends_on.size(); ++d) {
        auto it = by_name.find(a.depends_on[d].app);
        if (it == by_name.end() || it->second == i || !valid[it->second]) continue;
        const size_t j = it->second;
        if (state[j] == 1) {
          std::vector<std::string> cycle;
          auto start = std::find(path.begin(), path.end(), j);
          for (auto p = start; p != path.end(); ++p) cycle.push_back(out.apps[*p].name);
          cycle.push_back(out.apps[j].name);
          error(all_marks[i].depends_on[d],
                fmt::format("depends_on: dependency cycle {}", join(cycle, " -> ")));
        } else if (state[j] == 0) {
          visit(j);
        }
      }
      path.pop_back();
      state[i] = 2;
    };
    for (size_t i = 0; i < out.apps.size(); ++i)
      if (valid[i] && state[i] == 0) visit(i);

    std::map<std::string, std::pair<std::string, Mark>> host_owner;
    for (size_t i = 0; i < out.apps.size(); ++i) {
      const AppSpec& a = out.apps[i];
      if (!valid[i]) continue;
      const std::string owner = fmt::format("app '{}'", a.name);
      if (a.port.kind == PortSpec::Kind::Fixed || a.port.kind == PortSpec::Kind::Range)
        claims.push_back({a.port.first, a.port.last, "", owner, all_marks[i].port});
      if (!a.on_demand) continue;
      for (size_t h = 0; h < a.on_demand->hosts.size(); ++h) {
        const std::string& host = a.on_demand->hosts[h];
        auto [it, inserted] = host_owner.emplace(host, std::pair(a.name, all_marks[i].hosts[h]));
        if (!inserted)
          error(all_marks[i].hosts[h],
                fmt::format("on_demand.hosts: '{}' already routes to app '{}'{}", host,
                            it->second.first, lineNote(it->second.second)));
      }
      for (size_t l = 0; l < a.on_demand->listen.size(); ++l) {
        auto hp = parseHostPort(a.on_demand->listen[l]);
        if (hp)
          claims.push_back({hp->port, hp->port, hp->host,
                            fmt::format("on_demand.listen of app '{}'", a.name),
                            all_marks[i].listen[l]});
      }
    }
    for (size_t i = 0; i < claims.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (!claimsCollide(claims[j], claims[i])) continue;
        error(claims[i].mark,
              fmt::format(
                  "port {} is already taken by {} (port {}{})", portText(claims[i]),
                  claims[j].owner, portText(claims[j]),
                  claims[j].mark.line > 0 ? fmt::format(", line {}", claims[j].mark.line) : ""));
        break;
      }
    }
  }

  if (!errors.empty()) return std::nullopt;
  return out;
}

}  // namespace

namespace {

// What every entry point does: the text checks, then `run` (Validator& -> optional<T>, empty
// after it reported errors), and no exception out of it (a bug becomes an error message).
template <typename T, typename Run>
std::expected<T, ConfigErrors> validateWith(const ConfigNode& node, const std::string& file_name,
                                            const std::string& base_dir, std::string_view what,
                                            Run&& run) {
  try {
    ConfigErrors text_errors;
    checkText(node, "", file_name, text_errors);
    checkBaseDir(base_dir, file_name, text_errors);
    if (!text_errors.empty()) return std::unexpected(std::move(text_errors));
    Validator validator(file_name, base_dir);
    std::optional<T> result = run(validator);
    if (!result) return std::unexpected(std::move(validator.errors));
    return std::move(*result);
  } catch (const std::exception& e) {
    return std::unexpected(ConfigErrors{
        {file_name, Mark{}, fmt::format("cannot validate the {}: {}", what, e.what())}});
  }
}

}  // namespace

std::expected<ConfigFile, ConfigErrors> validateConfig(const ConfigNode& root,
                                                       const std::string& file_name,
                                                       const std::string& base_dir) {
  return validateWith<ConfigFile>(root, file_name, base_dir, "config",
                                  [&](Validator& v) { return v.config(root); });
}

std::expected<std::vector<WebhookSpec>, ConfigErrors> validateWebhooks(
    const ConfigNode& node, const std::string& file_name, const std::string& base_dir) {
  return validateWith<std::vector<WebhookSpec>>(node, file_name, base_dir, "webhooks",
                                                [&](Validator& v) { return v.webhooks(node); });
}

std::expected<AppSpec, ConfigErrors> validateApp(const ConfigNode& node,
                                                 const std::string& file_name,
                                                 const std::string& base_dir) {
  return validateWith<AppSpec>(node, file_name, base_dir, "app",
                               [&](Validator& v) -> std::optional<AppSpec> {
                                 v.allow_inherited_env = true;
                                 AppMarks marks;
                                 AppSpec spec;
                                 if (!v.app(node, marks, spec)) return std::nullopt;
                                 return spec;
                               });
}

std::vector<std::string> allInterfacesWarnings(const ConfigFile& config) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& who, const std::string& address) {
    if (std::string warning = allInterfacesWarning(who, address); !warning.empty())
      out.push_back(std::move(warning));
  };
  if (config.gateway)
    for (const auto& address : config.gateway->listen) add("the gateway", address);
  if (config.api)
    for (const auto& address : config.api->listen) add("the API", address);
  for (const auto& app : config.apps)
    if (app.on_demand)
      for (const auto& address : app.on_demand->listen)
        add(fmt::format("the gateway (app '{}')", app.name), address);
  return out;
}

}  // namespace tend
