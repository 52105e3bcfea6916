#pragma once
// PM2 ecosystem files: `tend start ecosystem.json` (or .yaml, or ecosystem.config.js through
// `node`). A PM2 tree is translated into the tree tend's validator takes, with a warning for
// every field tend does not act on: nothing PM2 users wrote is dropped without a word.
// docs/CONFIG.md ("Coming from PM2") lists the mapping.
//
// translatePm2 and looksLikePm2 are pure. evaluateJsConfig runs `node`.

#include <expected>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "config/config.hpp"

namespace tend {

struct Pm2Options {
  // `--env <name>`: each app's env_<name> is merged over its env. Empty: env alone.
  std::string env_name;
  // The folder of the ecosystem file. When set, a bare `script` such as "server" that is a
  // file in the app's cwd runs as ./server (as PM2 resolves it); otherwise it is looked up
  // in PATH (as "npm" is). Empty: no file-system look-up.
  std::string base_dir;
};

struct Pm2Translation {
  ConfigNode config;  // {apps: [...]} with tend's keys, for validateConfig
  // One per field tend does not support or translates with a difference, with the
  // field's position. Print them; they do not stop anything.
  std::vector<ConfigError> warnings;
};

// True when `root` is a PM2 ecosystem rather than a tend config: one of its apps (in
// `apps`, in a top-level list, or the top-level map itself) has `script` (or PM2's alias
// `exec`), none has tend's `run` or `start`, and there is no gateway, api or webhooks
// section.
bool looksLikePm2(const ConfigNode& root);

// True for the names PM2 reads as ecosystem files: ecosystem*.json / .yaml / .yml / .js,
// and *.config.js / .config.cjs / .config.mjs (which need node).
bool isPm2FileName(const std::string& path);
// True for the JavaScript ones, which evaluateJsConfig reads.
bool isJsConfigName(const std::string& path);

// Translates a PM2 ecosystem tree: `{apps: [...]}`, a top-level list of apps, or a single
// app. Errors (no apps, an app without `script`, a value that cannot be translated) carry
// the position of the offending node; anything the translation lets through is checked
// again by validateConfig.
std::expected<Pm2Translation, ConfigErrors> translatePm2(const ConfigNode& root,
                                                         const std::string& file_name,
                                                         const Pm2Options& options = {});

struct NodeOptions {
  std::string program = "node";  // looked up in PATH
  Duration timeout = std::chrono::seconds(10);
};

// Evaluates a JavaScript ecosystem file (module.exports = {...}, or export default) with
// `node`, in the file's folder and with tend's environment (so process.env works), and
// parses the JSON it yields. Errors: node missing ("... node is not installed ..."), the
// file throwing (node's message), not finishing within `timeout` (node is killed), output
// over 4 MiB.
std::expected<ConfigNode, ConfigErrors> evaluateJsConfig(const std::string& path,
                                                         const NodeOptions& node = {});

struct LoadedConfig {
  ConfigFile config;
  std::vector<ConfigError> warnings;  // from the PM2 translation; empty for tend configs
  bool from_pm2 = false;
};

// What `tend start <file>` needs: reads a tend config or a PM2 ecosystem file (JS through
// node; others by extension), translates it when looksLikePm2 says so, and validates it.
std::expected<LoadedConfig, ConfigErrors> loadConfigOrEcosystem(const std::string& path,
                                                                const Pm2Options& options = {},
                                                                const NodeOptions& node = {});

}  // namespace tend
