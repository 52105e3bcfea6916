#pragma once
// Reading and validating configs. Expected failures come back as ConfigErrors, never as
// exceptions: a config with any error starts nothing.

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "config/app_spec.hpp"
#include "config/config_node.hpp"

namespace tend {

struct ConfigError {
  std::string file;  // may be empty (spec from the control socket)
  Mark mark;
  std::string message;  // e.g. "unknown key 'restrat_delay' (did you mean 'restart_delay'?)"
  // "tend.yaml:12:5: unknown key ..." (file and position left out when unknown).
  std::string format() const;
};
using ConfigErrors = std::vector<ConfigError>;

enum class ConfigFormat { Yaml, Toml, Json };

// The format from the file name: .yaml/.yml, .toml, .json. nullopt otherwise.
std::optional<ConfigFormat> formatFromPath(const std::string& path);

// Every config format is UTF-8 text (YAML may be UTF-16 too; tend does not read that), and
// yaml-cpp would pass other bytes through into values that then could not become JSON: so
// a file is checked whole before it is parsed. The error at the first byte that is not
// UTF-8, or at a NUL byte; nullopt when the text is fine.
std::optional<ConfigError> notUtf8Text(const std::string& text, const std::string& file_name);

// Parses text into a tree (checked with notUtf8Text first). Syntax errors carry line and
// column.
std::expected<ConfigNode, ConfigErrors> parseConfigText(const std::string& text,
                                                        ConfigFormat format,
                                                        const std::string& file_name);

// Validates a whole config tree (keys `gateway`, `api`, `webhooks`, `apps`). Relative paths (cwd,
// env_file, log files) resolve against `base_dir`; env_file is read now. Collects every
// error rather than stopping at the first.
std::expected<ConfigFile, ConfigErrors> validateConfig(const ConfigNode& root,
                                                       const std::string& file_name,
                                                       const std::string& base_dir);

// Validates one app entry (the `apps` list item, or the canonical JSON of toJson).
std::expected<AppSpec, ConfigErrors> validateApp(const ConfigNode& node,
                                                 const std::string& file_name,
                                                 const std::string& base_dir);

// Validates a `webhooks` list (as in a config, or the canonical JSON of toJson(WebhookSpec)):
// each secret_file is read now, so a missing or unreadable one is an error here.
std::expected<std::vector<WebhookSpec>, ConfigErrors> validateWebhooks(const ConfigNode& node,
                                                                       const std::string& file_name,
                                                                       const std::string& base_dir);

// One line for each address of the config (gateway.listen, api.listen, an app's
// on_demand.listen) that is on every network interface (0.0.0.0, ::): a valid config, but
// one that people should know opens tend to other machines.
std::vector<std::string> allInterfacesWarnings(const ConfigFile& config);

// Reads, parses and validates a file.
std::expected<ConfigFile, ConfigErrors> loadConfigFile(const std::string& path);

// The nearest of `candidates` to `word` when it is close enough to be a likely typo.
std::string suggestNearest(const std::string& word, const std::vector<std::string>& candidates);
// Every likely meaning of a mistyped `word`, nearest first: candidates an edit or so away
// and those that `word` begins ("stat" -> start, status); else suggestNearest's one; else
// none.
std::vector<std::string> suggestSeveral(const std::string& word,
                                        const std::vector<std::string>& candidates);

// The commented example that `tend init` writes.
const std::string& exampleConfig();

}  // namespace tend
