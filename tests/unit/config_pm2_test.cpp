// PM2 ecosystem files: translation into tend's keys, warnings for what tend does not
// support, and ecosystem.config.js through node. The files are shaped like the examples in
// PM2's documentation (application-declaration, environment variables, restart strategies).

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "config/config.hpp"
#include "config/pm2.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every warning's message, formatted as the CLI prints it.
std::string allWarnings(const std::vector<ConfigError>& warnings) {
  std::string out;
  for (const auto& w : warnings) out += w.format() + "\n";
  return out;
}

std::string allErrors(const ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += e.format() + "\n";
  return out;
}

std::string envValue(const AppSpec& spec, const std::string& key) {
  for (const auto& [k, v] : spec.env)
    if (k == key) return v;
  return "<unset>";
}

bool haveNode() {
  return std::system("command -v node >/dev/null 2>&1") == 0;
}

class Pm2 : public ::testing::Test {
 protected:
  tend::testing::TempDir temp;

  LoadedConfig load(const std::string& name, const std::string& text, Pm2Options options = {}) {
    const std::string path = temp.write(name, text);
    auto loaded = loadConfigOrEcosystem(path, options);
    if (!loaded) {
      ADD_FAILURE() << allErrors(loaded.error());
      return {};
    }
    return std::move(*loaded);
  }

  const AppSpec& app(const LoadedConfig& loaded, const std::string& name) {
    for (const auto& a : loaded.config.apps)
      if (a.name == name) return a;
    ADD_FAILURE() << "no app " << name;
    static AppSpec none;
    return none;
  }
};

// The JSON example of PM2's "Configuration File" page.
constexpr const char* kDocsJson = R"({
  "apps" : [{
    "name"        : "worker",
    "script"      : "./worker.js",
    "watch"       : true,
    "env": {
      "NODE_ENV": "development"
    },
    "env_production" : {
       "NODE_ENV": "production"
    }
  },{
    "name"       : "api-app",
    "script"     : "./api.js",
    "instances"  : 4,
    "exec_mode"  : "cluster"
  }]
}
)";

TEST_F(Pm2, TranslatesTheDocsJsonExample) {
  auto loaded = load("ecosystem.json", kDocsJson);
  EXPECT_TRUE(loaded.from_pm2);
  ASSERT_EQ(loaded.config.apps.size(), 2u);
  const AppSpec& worker = app(loaded, "worker");
  EXPECT_EQ(worker.argv, (std::vector<std::string>{"node", "./worker.js"}));
  EXPECT_FALSE(worker.run_shell);
  EXPECT_EQ(worker.cwd, temp.path());
  EXPECT_EQ(worker.watch, std::vector<std::string>{"."});
  EXPECT_EQ(envValue(worker, "NODE_ENV"), "development");
  EXPECT_EQ(worker.stop_signal, SIGINT);  // as PM2 stops apps
  const AppSpec& api = app(loaded, "api-app");
  EXPECT_EQ(api.instances, 4);
  // Cluster mode is named in a warning, with the file position of the value.
  const std::string warnings = allWarnings(loaded.warnings);
  EXPECT_TRUE(contains(warnings,
                       "ecosystem.json:16:20: app 'api-app': exec_mode 'cluster' is "
                       "not supported"))
      << warnings;
}

TEST_F(Pm2, EnvNameMergesThatSetOverEnv) {
  Pm2Options options;
  options.env_name = "production";
  auto loaded = load("ecosystem.json", kDocsJson, options);
  EXPECT_EQ(envValue(app(loaded, "worker"), "NODE_ENV"), "production");
  // api-app has no env_production: said so, and it runs with env alone.
  EXPECT_TRUE(contains(allWarnings(loaded.warnings), "app 'api-app': has no env_production"));
}

TEST_F(Pm2, AnEnvNameIsAnErrorForATendConfig) {
  const std::string path = temp.write("tend.yaml", "apps:\n  - name: a\n    run: sleep 100\n");
  Pm2Options options;
  options.env_name = "production";
  auto loaded = loadConfigOrEcosystem(path, options);
  ASSERT_FALSE(loaded);
  EXPECT_TRUE(contains(allErrors(loaded.error()), "--env production picks a PM2 env_production"));
}

// The YAML example of the same page.
TEST_F(Pm2, TranslatesTheDocsYamlExample) {
  auto loaded = load("ecosystem.yaml", R"(apps:
  - script   : ./api.js
    name     : 'api-app'
    instances: 4
    exec_mode: cluster
  - script : ./worker.js
    name   : 'worker'
    watch  : true
    env    :
      NODE_ENV: development
    env_production:
      NODE_ENV: production
)");
  ASSERT_EQ(loaded.config.apps.size(), 2u);
  EXPECT_EQ(app(loaded, "api-app").instances, 4);
  EXPECT_EQ(app(loaded, "worker").argv, (std::vector<std::string>{"node", "./worker.js"}));
}

// A production-style file with the fields people actually set.
TEST_F(Pm2, TranslatesEveryFieldTendSupports) {
  auto loaded = load("ecosystem.json", R"({
  "apps": [{
    "name": "server",
    "script": "build/server.js",
    "args": ["--verbose", "--level", "3"],
    "node_args": "--max-old-space-size=4096 --enable-source-maps",
    "cwd": "srv",
    "instances": 1,
    "exec_mode": "fork",
    "autorestart": true,
    "watch": ["build", "config"],
    "ignore_watch": ["node_modules", "logs"],
    "time": true,
    "error_file": "logs/err.log",
    "out_file": "logs/out.log",
    "env": {"NODE_ENV": "production", "PORT": 5000, "LOG_LEVEL": "info", "DEBUG": false},
    "max_memory_restart": "500M",
    "min_uptime": "10s",
    "max_restarts": 10,
    "restart_delay": 5000,
    "exp_backoff_restart_delay": 100,
    "kill_timeout": 3000,
    "cron_restart": "0 0 * * *"
  }]
})");
  const AppSpec& s = app(loaded, "server");
  EXPECT_EQ(s.argv,
            (std::vector<std::string>{"node", "--max-old-space-size=4096", "--enable-source-maps",
                                      "build/server.js", "--verbose", "--level", "3"}));
  EXPECT_EQ(s.cwd, temp.path() + "/srv");
  EXPECT_EQ(s.autorestart, AutoRestart::Always);
  EXPECT_EQ(s.watch, (std::vector<std::string>{"build", "config"}));
  EXPECT_EQ(s.ignore_watch, (std::vector<std::string>{"node_modules", "logs"}));
  EXPECT_TRUE(s.logs.timestamps);
  EXPECT_EQ(s.logs.err_file, temp.path() + "/logs/err.log");
  EXPECT_EQ(s.logs.out_file, temp.path() + "/logs/out.log");
  // PORT from env becomes tend's port (tend sets PORT itself).
  EXPECT_EQ(s.port.kind, PortSpec::Kind::Fixed);
  EXPECT_EQ(s.port.first, 5000);
  EXPECT_EQ(envValue(s, "PORT"), "<unset>");
  EXPECT_EQ(envValue(s, "NODE_ENV"), "production");
  EXPECT_EQ(envValue(s, "DEBUG"), "false");
  ASSERT_TRUE(s.max_memory);
  EXPECT_EQ(*s.max_memory, 500ull << 20);
  EXPECT_EQ(s.min_uptime, 10s);
  EXPECT_EQ(s.max_restarts, 10);
  EXPECT_EQ(s.restart_delay, 5000ms);
  EXPECT_EQ(s.backoff.initial, 100ms);
  EXPECT_EQ(s.backoff.max, 15s);  // PM2's cap
  EXPECT_EQ(s.backoff.multiplier, 1.5);
  EXPECT_EQ(s.kill_timeout, 3000ms);
  EXPECT_EQ(s.cron_restart, "0 0 * * *");
  EXPECT_TRUE(loaded.warnings.empty()) << allWarnings(loaded.warnings);
}

TEST_F(Pm2, NamesEveryFieldTendDoesNotSupport) {
  auto loaded = load("ecosystem.json", R"({
  "apps": [{
    "name": "api",
    "script": "api.js",
    "instances": 2,
    "merge_logs": true,
    "log_date_format": "YYYY-MM-DD HH:mm Z",
    "wait_ready": true,
    "listen_timeout": 10000,
    "vizion": false,
    "max_memory_restrat": "1G",
    "stop_exit_codes": [3]
  }],
  "deploy": {"production": {"user": "node", "host": "212.83.163.1"}}
})");
  const std::string w = allWarnings(loaded.warnings);
  for (const char* field : {"merge_logs", "log_date_format", "wait_ready", "listen_timeout",
                            "vizion", "max_memory_restrat", "stop_exit_codes", "deploy"})
    EXPECT_TRUE(contains(w, field)) << field << " not named in:\n" << w;
  EXPECT_TRUE(contains(w, "(did you mean 'max_memory_restart'?)")) << w;
  EXPECT_TRUE(contains(w, "ecosystem.json:8:5: app 'api': 'wait_ready' is not supported")) << w;
  EXPECT_EQ(loaded.warnings.size(), 8u) << w;
}

TEST_F(Pm2, UidAndJsonLogsTranslate) {
  // Was: both named as unsupported ("run tend itself as that user").
  auto loaded = load("ecosystem.json", R"({"apps": [
    {"name": "web", "script": "web.js", "uid": "root", "gid": "root", "log_type": "json"},
    {"name": "job", "script": "job.js", "user": "0"}
  ]})");
  EXPECT_EQ(app(loaded, "web").user, "root");
  EXPECT_EQ(app(loaded, "web").logs.format, LogFormat::Json);
  EXPECT_EQ(app(loaded, "job").user, "0");
  EXPECT_EQ(app(loaded, "job").logs.format, LogFormat::Text);
  const std::string w = allWarnings(loaded.warnings);
  EXPECT_TRUE(contains(w, "'gid' is not supported")) << w;
  EXPECT_FALSE(contains(w, "uid")) << w;
  EXPECT_FALSE(contains(w, "log_type")) << w;
}

TEST_F(Pm2, RestartStrategiesTranslate) {
  auto loaded = load("ecosystem.json", R"({"apps": [
    {"name": "once", "script": "job.js", "autorestart": false},
    {"name": "clean-exit-ends-it", "script": "job.js", "stop_exit_codes": [0]},
    {"name": "slow-backoff", "script": "app.js", "exp_backoff_restart_delay": 20000},
    {"name": "minutes", "script": "app.js", "min_uptime": 3000}
  ]})");
  EXPECT_EQ(app(loaded, "once").autorestart, AutoRestart::Never);
  EXPECT_EQ(app(loaded, "clean-exit-ends-it").autorestart, AutoRestart::OnFailure);
  EXPECT_EQ(app(loaded, "slow-backoff").backoff.initial, 20s);
  EXPECT_EQ(app(loaded, "slow-backoff").backoff.max, 20s);  // never below initial
  EXPECT_EQ(app(loaded, "minutes").min_uptime, 3000ms);
}

TEST_F(Pm2, InterpretersFollowPm2) {
  temp.write("server", "#!/bin/sh\n");
  auto loaded = load("ecosystem.json", R"({"apps": [
    {"name": "py", "script": "./script.py", "interpreter": "/usr/bin/python3"},
    {"name": "py-default", "script": "echo.py"},
    {"name": "sh", "script": "run.sh", "args": "a 'b c'"},
    {"name": "binary", "script": "./bin/server", "interpreter": "none", "args": "-p 1"},
    {"name": "npm", "script": "npm", "args": "run start:prod"},
    {"name": "local", "script": "server"},
    {"name": "shell", "script": "python3 -m http.server", "args": "8080"},
    {"name": "bun", "script": "index.ts", "interpreter": "bun", "interpreter_args": ["--smol"]}
  ]})");
  EXPECT_EQ(app(loaded, "py").argv, (std::vector<std::string>{"/usr/bin/python3", "./script.py"}));
  EXPECT_EQ(app(loaded, "py-default").argv, (std::vector<std::string>{"python3", "echo.py"}));
  EXPECT_EQ(app(loaded, "sh").argv, (std::vector<std::string>{"bash", "run.sh", "a", "b c"}));
  EXPECT_EQ(app(loaded, "binary").argv, (std::vector<std::string>{"./bin/server", "-p", "1"}));
  EXPECT_EQ(app(loaded, "npm").argv, (std::vector<std::string>{"npm", "run", "start:prod"}));
  EXPECT_EQ(app(loaded, "local").argv, std::vector<std::string>{"./server"});
  const AppSpec& shell = app(loaded, "shell");
  EXPECT_TRUE(shell.run_shell);
  EXPECT_EQ(shell.argv.back(), "python3 -m http.server 8080");
  EXPECT_EQ(app(loaded, "bun").argv, (std::vector<std::string>{"bun", "--smol", "index.ts"}));
}

TEST_F(Pm2, NameDefaultsToTheScriptAndIsMadeValid) {
  auto loaded = load("ecosystem.json", R"({"apps": [
    {"script": "./api/server.js"},
    {"name": "library-server:production", "script": "build/server.js"}
  ]})");
  ASSERT_EQ(loaded.config.apps.size(), 2u);
  EXPECT_EQ(loaded.config.apps[0].name, "server");
  EXPECT_EQ(loaded.config.apps[1].name, "library-server-production");
  EXPECT_TRUE(contains(allWarnings(loaded.warnings),
                       "the name 'library-server:production' becomes 'library-server-production'"));
}

TEST_F(Pm2, ClusterInstancesOnOnePortGetOnePortEach) {
  auto loaded = load("ecosystem.json", R"({"apps": [
    {"name": "api", "script": "api.js", "instances": 4, "exec_mode": "cluster", "port": 3000},
    {"name": "all-cores", "script": "api.js", "instances": "max"},
    {"name": "zero-is-max", "script": "api.js", "instances": 0},
    {"name": "minus-one", "script": "api.js", "instances": -1}
  ]})");
  const AppSpec& api = app(loaded, "api");
  EXPECT_EQ(api.port.kind, PortSpec::Kind::Range);
  EXPECT_EQ(api.port.first, 3000);
  EXPECT_EQ(api.port.last, 3003);
  const std::string w = allWarnings(loaded.warnings);
  EXPECT_TRUE(contains(w,
                       "port 3000 with 4 instances: tend gives each instance its own port, "
                       "3000-3003"))
      << w;
  EXPECT_TRUE(app(loaded, "all-cores").instances_max);
  EXPECT_TRUE(app(loaded, "zero-is-max").instances_max);
  EXPECT_TRUE(app(loaded, "minus-one").instances_max);
  EXPECT_TRUE(contains(w, "instances -1 (all cores but 1) is not supported")) << w;
}

TEST_F(Pm2, DisableLogsSendsBothStreamsToDevNull) {
  auto loaded = load("ecosystem.json",
                     R"({"apps": [{"name": "quiet", "script": "a.js", "disable_logs": true}]})");
  EXPECT_EQ(app(loaded, "quiet").logs.out_file, "/dev/null");
  EXPECT_EQ(app(loaded, "quiet").logs.err_file, "/dev/null");
}

TEST_F(Pm2, ErrorsNameTheAppAndThePosition) {
  const std::string path = temp.write("ecosystem.json", R"({"apps": [
    {"name": "no-script", "args": "x"},
    {"name": "bad-delay", "script": "a.js", "restart_delay": "5 seconds"}
  ]})");
  auto loaded = loadConfigOrEcosystem(path);
  ASSERT_FALSE(loaded);
  const std::string e = allErrors(loaded.error());
  EXPECT_TRUE(contains(e,
                       "ecosystem.json:2:5: app 'no-script': script (the program to run) is "
                       "required"))
      << e;
  EXPECT_TRUE(contains(e,
                       "ecosystem.json:3:62: app 'bad-delay': restart_delay: expected "
                       "milliseconds"))
      << e;
}

TEST_F(Pm2, AnEcosystemWithoutAppsIsAnError) {
  ConfigNode root;
  root.kind = ConfigNode::Kind::Map;
  auto translated = translatePm2(root, "ecosystem.json");
  ASSERT_FALSE(translated);
  EXPECT_TRUE(contains(allErrors(translated.error()), "no apps"));
}

TEST_F(Pm2, ValuesTheValidatorRejectsAreStillReported) {
  const std::string path = temp.write(
      "ecosystem.json", R"({"apps": [{"name": "a", "script": "a.js", "cron_restart": "0 0"}]})");
  auto loaded = loadConfigOrEcosystem(path);
  ASSERT_FALSE(loaded);
  EXPECT_TRUE(contains(allErrors(loaded.error()), "cron_restart '0 0' has 2 fields"));
}

TEST_F(Pm2, TellsPm2FilesFromTendConfigs) {
  auto parse = [](const std::string& json) {
    return *parseConfigText(json, ConfigFormat::Json, "x.json");
  };
  EXPECT_TRUE(looksLikePm2(parse(R"({"apps": [{"script": "a.js"}]})")));
  EXPECT_TRUE(looksLikePm2(parse(R"([{"script": "a.js"}])")));
  EXPECT_TRUE(looksLikePm2(parse(R"({"script": "a.js", "name": "a"})")));
  EXPECT_TRUE(looksLikePm2(parse(R"({"apps": {"exec": "a.js"}})")));
  EXPECT_FALSE(looksLikePm2(parse(R"({"apps": [{"name": "a", "run": "a"}]})")));
  EXPECT_FALSE(looksLikePm2(parse(R"({"apps": [{"name": "a", "run": "a", "script": "x"}]})")));
  EXPECT_FALSE(looksLikePm2(parse(R"({"gateway": {}})")));
  // One app written the tend way makes a tend config, even when another uses PM2's key:
  // that app's `script` is the mistake to point at, not the apps that use `run`.
  EXPECT_FALSE(looksLikePm2(
      parse(R"({"apps": [{"name": "a", "run": "a"}, {"name": "b", "script": "b.js"}]})")));
  EXPECT_FALSE(looksLikePm2(
      parse(R"({"apps": [{"name": "b", "script": "b.js"}, {"name": "c", "start": "c"}]})")));
  EXPECT_FALSE(looksLikePm2(parse(R"({"gateway": {}, "apps": [{"script": "a.js"}]})")));

  EXPECT_TRUE(isPm2FileName("/srv/ecosystem.json"));
  EXPECT_TRUE(isPm2FileName("ecosystem.prod.yaml"));
  EXPECT_TRUE(isPm2FileName("ecosystem.config.js"));
  EXPECT_TRUE(isPm2FileName("pm2.config.cjs"));
  EXPECT_FALSE(isPm2FileName("tend.yaml"));
  EXPECT_FALSE(isPm2FileName("server.js"));
  EXPECT_TRUE(isJsConfigName("ecosystem.config.js"));
  EXPECT_FALSE(isJsConfigName("ecosystem.json"));
}

TEST_F(Pm2, ATendConfigWhereOneAppUsesScriptPointsAtThatApp) {
  const std::string text =
      "apps:\n"
      "  - name: a\n"
      "    run: sleep 100\n"
      "  - name: b\n"
      "    script: b.js\n";
  auto loaded = loadConfigOrEcosystem(temp.write("tend.yaml", text), {});
  ASSERT_FALSE(loaded.has_value());
  const std::string errors = allErrors(loaded.error());
  EXPECT_NE(errors.find("tend.yaml:5:5: unknown key 'script' (tend calls it 'run')"),
            std::string::npos)
      << errors;
  EXPECT_EQ(errors.find("'a'"), std::string::npos) << errors;
}

TEST_F(Pm2, ATendConfigLoadsAsBefore) {
  auto loaded = load("tend.yaml", "apps:\n  - name: a\n    run: sleep 100\n");
  EXPECT_FALSE(loaded.from_pm2);
  ASSERT_EQ(loaded.config.apps.size(), 1u);
  EXPECT_EQ(loaded.config.apps[0].stop_signal, SIGTERM);
}

// ---- ecosystem.config.js through node --------------------------------------------------

TEST_F(Pm2, ReadsEcosystemConfigJsThroughNode) {
  if (!haveNode()) GTEST_SKIP() << "node is not installed";
  ::setenv("TEND_PM2_TEST_PORT", "4321", 1);
  auto loaded = load("ecosystem.config.js", R"(
const base = { autorestart: true, max_restarts: 5 };
module.exports = {
  apps: [{
    ...base,
    name: "app",
    script: "./app.js",
    env: { NODE_ENV: "development", PORT: process.env.TEND_PM2_TEST_PORT },
    env_production: { NODE_ENV: "production" },
    instances: require("os").cpus().length > 0 ? 2 : 1,
  }],
  deploy: { production: { user: "node" } },
};
)",
                     Pm2Options{"production", ""});
  ::unsetenv("TEND_PM2_TEST_PORT");
  EXPECT_TRUE(loaded.from_pm2);
  const AppSpec& a = app(loaded, "app");
  EXPECT_EQ(a.max_restarts, 5);
  EXPECT_EQ(envValue(a, "NODE_ENV"), "production");
  EXPECT_EQ(a.instances, 2);
  EXPECT_EQ(a.port.kind, PortSpec::Kind::Range);
  EXPECT_EQ(a.port.first, 4321);
  EXPECT_TRUE(contains(allWarnings(loaded.warnings), "'deploy'"));
}

TEST_F(Pm2, ReadsAnEsModuleConfig) {
  if (!haveNode()) GTEST_SKIP() << "node is not installed";
  auto loaded = load("ecosystem.config.mjs",
                     "export default { apps: [{ name: 'esm', script: 'index.js' }] };\n");
  EXPECT_EQ(app(loaded, "esm").argv, (std::vector<std::string>{"node", "index.js"}));
}

TEST_F(Pm2, ReportsNodesErrorForABrokenConfig) {
  if (!haveNode()) GTEST_SKIP() << "node is not installed";
  const std::string path = temp.write("ecosystem.config.js", "module.exports = { apps: [ ;\n");
  auto loaded = loadConfigOrEcosystem(path);
  ASSERT_FALSE(loaded);
  const std::string e = allErrors(loaded.error());
  EXPECT_TRUE(contains(e, "node could not load the config")) << e;
  EXPECT_TRUE(contains(e, "SyntaxError")) << e;
}

TEST_F(Pm2, StopsAConfigThatNeverFinishes) {
  if (!haveNode()) GTEST_SKIP() << "node is not installed";
  const std::string path = temp.write("ecosystem.config.js", "while (true) {}\n");
  NodeOptions node;
  node.timeout = 500ms;
  const auto started = std::chrono::steady_clock::now();
  auto loaded = loadConfigOrEcosystem(path, {}, node);
  ASSERT_FALSE(loaded);
  EXPECT_TRUE(contains(allErrors(loaded.error()), "did not finish within 500 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(Pm2, SaysPlainlyWhenNodeIsMissing) {
  const std::string path = temp.write("ecosystem.config.js", "module.exports = {apps: []};\n");
  NodeOptions node;
  node.program = "tend-no-such-node-binary";
  auto loaded = loadConfigOrEcosystem(path, {}, node);
  ASSERT_FALSE(loaded);
  const std::string e = allErrors(loaded.error());
  EXPECT_TRUE(contains(e, "'tend-no-such-node-binary' is not installed")) << e;
  EXPECT_TRUE(contains(e, "write the apps as ecosystem.json")) << e;
}

TEST_F(Pm2, NamespaceBecomesTheGroup) {
  LoadedConfig loaded = load("ecosystem.json", R"({"apps": [
    {"name": "api", "script": "api.js", "namespace": "backend"},
    {"name": "web", "script": "web.js"}]})");
  EXPECT_EQ(app(loaded, "api").group, "backend");
  EXPECT_EQ(app(loaded, "web").group, "");
  EXPECT_FALSE(contains(allWarnings(loaded.warnings), "namespace")) << allWarnings(loaded.warnings);
}

}  // namespace
}  // namespace tend
