// Validation of whole configs and single apps: every error path, positions in all three
// formats, suggestions, env_file, the canonical JSON round trip and the shipped examples.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/duration.hpp"
#include "config/config.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using namespace std::chrono_literals;

std::expected<ConfigFile, ConfigErrors> check(const std::string& text,
                                              ConfigFormat format = ConfigFormat::Yaml,
                                              const std::string& base_dir = "/base") {
  auto root = parseConfigText(text, format, "tend.yaml");
  if (!root) return std::unexpected(root.error());
  return validateConfig(*root, "tend.yaml", base_dir);
}

std::vector<std::string> errorsOf(const std::string& text, ConfigFormat format = ConfigFormat::Yaml,
                                  const std::string& base_dir = "/base") {
  auto result = check(text, format, base_dir);
  std::vector<std::string> out;
  if (!result)
    for (const auto& e : result.error()) out.push_back(e.format());
  return out;
}

// Exactly one error, with this text (file:line:col: message).
void expectError(const std::string& text, const std::string& expected,
                 ConfigFormat format = ConfigFormat::Yaml) {
  const auto errors = errorsOf(text, format);
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], expected);
}

// A config with one app named "a" running "x"; each line of `body` is indented under it,
// so the body's first line is line 4 and its keys start at column 5.
std::string oneApp(const std::string& body) {
  std::string out = "apps:\n  - name: a\n    run: x\n";
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    out += "    " + body.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

AppSpec appOf(const std::string& body, const std::string& base_dir = "/base") {
  auto result = check(oneApp(body), ConfigFormat::Yaml, base_dir);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().front().format());
  return result ? result->apps.at(0) : AppSpec{};
}

using tend::testing::TempDir;

// --- the config as a whole ----------------------------------------------------------------

TEST(ConfigValidation, ReadsAMinimalAppWithDefaults) {
  const AppSpec app = appOf("");
  EXPECT_EQ(app.name, "a");
  EXPECT_EQ(app.argv, (std::vector<std::string>{"/bin/sh", "-c", "x"}));
  EXPECT_TRUE(app.run_shell);
  EXPECT_EQ(app.cwd, "/base");
  EXPECT_EQ(app.instances, 1);
  EXPECT_EQ(app.port.kind, PortSpec::Kind::None);
  EXPECT_EQ(app.autorestart, AutoRestart::Always);
  EXPECT_EQ(app.stop_signal, SIGTERM);
  EXPECT_EQ(app.kill_timeout, 5s);
  EXPECT_EQ(app.logs, LogSpec{});
  EXPECT_FALSE(app.ready);
  EXPECT_FALSE(app.on_demand);
}

TEST(ConfigValidation, RefusesAnEmptyConfig) {
  expectError("", "tend.yaml: the config is empty: it needs an 'apps' list");
}

TEST(ConfigValidation, RefusesATopLevelThatIsNotAMap) {
  expectError("- a\n", "tend.yaml:1:1: the config must be a map with an 'apps' list, got a list");
}

TEST(ConfigValidation, RequiresApps) {
  expectError("gateway:\n  listen: 127.0.0.1:8080\n",
              "tend.yaml:1:1: the config needs an 'apps' list");
}

TEST(ConfigValidation, RequiresAppsToBeAList) {
  expectError(
      "apps:\n  a: 1\n",
      "tend.yaml:2:3: apps: expected a list (start each app with '- name: ...'), got a map");
}

TEST(ConfigValidation, RequiresAtLeastOneApp) {
  expectError("apps: []\n", "tend.yaml:1:7: apps: the list is empty; add at least one app");
}

TEST(ConfigValidation, UnknownTopLevelKeySuggestsTheNearMiss) {
  expectError("app:\n  - name: a\n    run: x\n",
              "tend.yaml:1:1: unknown key 'app' (did you mean 'apps'?)");
}

TEST(ConfigValidation, AnAppKeyAtTheTopSaysWhereItBelongs) {
  expectError("port: 3000\n" + oneApp(""),
              "tend.yaml:1:1: 'port' is an app setting: put it under an entry of 'apps'");
}

TEST(ConfigValidation, IgnoresXKeysKeptForAnchors) {
  auto result = check(
      "x-common: &common\n  kill_timeout: 9s\n"
      "apps:\n  - name: a\n    run: x\n    <<: *common\n");
  ASSERT_TRUE(result) << result.error().front().format();
  EXPECT_EQ(result->apps[0].kill_timeout, 9s);
}

TEST(ConfigValidation, ReadsGatewayAndApi) {
  auto result = check(
      "gateway:\n  listen: 127.0.0.1:8080\n"
      "api:\n  listen: [127.0.0.1:9615, \"[::1]:9615\"]\n"
      "  token_file: secrets/api.token\n" +
      oneApp(""));
  ASSERT_TRUE(result) << result.error().front().format();
  ASSERT_TRUE(result->gateway);
  EXPECT_EQ(result->gateway->listen, (std::vector<std::string>{"127.0.0.1:8080"}));
  ASSERT_TRUE(result->api);
  EXPECT_EQ(result->api->listen.size(), 2u);
  EXPECT_EQ(result->api->token_file, "/base/secrets/api.token");
}

TEST(ConfigValidation, RefusesAMalformedListenAddress) {
  expectError("gateway:\n  listen: 8080\n" + oneApp(""),
              "tend.yaml:2:11: gateway.listen: expected host:port such as 127.0.0.1:8080, got "
              "'8080'");
  expectError("gateway:\n  listen: localhost:99999\n" + oneApp(""),
              "tend.yaml:2:11: gateway.listen: expected host:port such as 127.0.0.1:8080, got "
              "'localhost:99999'");
}

TEST(ConfigValidation, RefusesUnknownKeysInGatewayAndApi) {
  expectError("gateway:\n  lisen: 127.0.0.1:8080\n" + oneApp(""),
              "tend.yaml:2:3: unknown key 'lisen' in gateway (did you mean 'listen'?)");
  expectError("api:\n  token: x\n" + oneApp(""),
              "tend.yaml:2:3: unknown key 'token' in api (expected one of: listen, token_file)");
}

TEST(ConfigValidation, ReadsTheGatewaysTrustedProxiesAndConnectionCap) {
  auto result = check(
      "gateway:\n  listen: 127.0.0.1:8080\n  max_connections: 500\n"
      "  trusted_proxies: [127.0.0.1, 10.0.0.0/8, \"fd00::/8\"]\n" +
      oneApp(""));
  ASSERT_TRUE(result) << result.error().front().format();
  ASSERT_TRUE(result->gateway);
  EXPECT_EQ(result->gateway->max_connections, 500);
  EXPECT_EQ(result->gateway->trusted_proxies,
            (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8", "fd00::/8"}));
  auto plain = check("gateway:\n  listen: 127.0.0.1:8080\n" + oneApp(""));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->gateway->max_connections);
  EXPECT_TRUE(plain->gateway->trusted_proxies.empty());
  // A single address is a one-item list, as for listen.
  auto one = check("gateway:\n  trusted_proxies: 192.168.0.0/16\n" + oneApp(""));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->gateway->trusted_proxies, std::vector<std::string>{"192.168.0.0/16"});
}

TEST(ConfigValidation, RefusesABadTrustedProxyOrConnectionCap) {
  expectError("gateway:\n  trusted_proxies: [127.0.0.1, proxy.local]\n" + oneApp(""),
              "tend.yaml:2:32: gateway.trusted_proxies: 'proxy.local' is not an IP address or "
              "CIDR block (such as 10.0.0.0/8 or ::1)");
  expectError("gateway:\n  trusted_proxies: 10.0.0.0/40\n" + oneApp(""),
              "tend.yaml:2:20: gateway.trusted_proxies: '10.0.0.0/40': the prefix must be 0 to 32 "
              "for an IPv4 address");
  expectError("gateway:\n  max_connections: 0\n" + oneApp(""),
              "tend.yaml:2:20: gateway.max_connections: must be at least 1, got 0");
  expectError("gateway:\n  max_connections: \"100\"\n" + oneApp(""),
              "tend.yaml:2:20: gateway.max_connections: expected a number, got the string \"100\" "
              "(remove the quotes)");
  expectError("gateway:\n  max_conections: 10\n" + oneApp(""),
              "tend.yaml:2:3: unknown key 'max_conections' in gateway (did you mean "
              "'max_connections'?)");
}

TEST(ConfigValidation, RefusesAGatewayThatIsNotAMap) {
  expectError("gateway: 127.0.0.1:8080\n" + oneApp(""),
              "tend.yaml:1:10: gateway: expected a map, got '127.0.0.1:8080'");
}

TEST(ConfigValidation, RequiresATokenFileForAnApiReachableFromOtherMachines) {
  expectError("api:\n  listen: 0.0.0.0:9615\n" + oneApp(""),
              "tend.yaml:2:11: api.listen: 0.0.0.0:9615 is reachable from other machines; set "
              "api.token_file so that requests need a token");
  EXPECT_TRUE(check("api:\n  listen: 0.0.0.0:9615\n  token_file: /t\n" + oneApp("")));
  EXPECT_TRUE(check("api:\n  listen: localhost:9615\n" + oneApp("")));
}

TEST(ConfigValidation, CollectsEveryErrorRatherThanStoppingAtTheFirst) {
  const auto errors = errorsOf(
      "apps:\n"
      "  - name: a\n"
      "    run: x\n"
      "    instances: 0\n"
      "    restart_delay: 5\n"
      "  - name: b\n"
      "    colour: red\n");
  ASSERT_EQ(errors.size(), 4u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], "tend.yaml:4:16: instances: must be at least 1, got 0");
  EXPECT_EQ(errors[1], "tend.yaml:5:20: restart_delay: duration '5' has no unit (write 5ms or 5s)");
  EXPECT_EQ(errors[2], "tend.yaml:7:5: unknown key 'colour'");
  EXPECT_EQ(errors[3],
            "tend.yaml:6:5: app 'b' needs 'run' (the command to run), 'start' for a service "
            "tend does not spawn itself, or on_demand.target alone for a plain route");
}

// --- keys, suggestions and positions in every format --------------------------------------

TEST(ConfigValidation, UnknownKeySuggestsTheNearMiss) {
  expectError(oneApp("restrat_delay: 1s"),
              "tend.yaml:4:5: unknown key 'restrat_delay' (did you mean 'restart_delay'?)");
}

TEST(ConfigValidation, UnknownNestedKeySaysWhereAndSuggests) {
  expectError(oneApp("backoff: { inital: 1s }"),
              "tend.yaml:4:16: unknown key 'inital' in backoff (did you mean 'initial'?)");
  expectError(oneApp("logs: { rotate: true }"),
              "tend.yaml:4:13: unknown key 'rotate' in logs (expected one of: max_size, "
              "max_files, timestamps, out, err, format)");
}

TEST(ConfigValidation, APm2KeyNamesItsTendSpelling) {
  expectError(oneApp("max_memory_restart: 1G"),
              "tend.yaml:4:5: unknown key 'max_memory_restart' (tend calls it 'max_memory')");
  expectError(oneApp("script: app.js"),
              "tend.yaml:4:5: unknown key 'script' (tend calls it 'run')");
}

TEST(ConfigValidation, AMisspeltPm2KeyGetsBothSpellings) {
  expectError(oneApp("scirpt: app.js"),
              "tend.yaml:4:5: unknown key 'scirpt' (did you mean 'script'? tend calls it 'run')");
  expectError(oneApp("enviroment: { A: '1' }"),
              "tend.yaml:4:5: unknown key 'enviroment' (did you mean 'environment'? tend calls "
              "it 'env')");
}

TEST(ConfigValidation, ReportsPositionsInToml) {
  const auto errors = errorsOf(
      "[[apps]]\n"
      "name = \"a\"\n"
      "run = \"x\"\n"
      "restrat_delay = \"1s\"\n"
      "instances = 0\n"
      "backoff = { initial = \"1s\", multiplier = 0.5 }\n",
      ConfigFormat::Toml);
  ASSERT_EQ(errors.size(), 3u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0],
            "tend.yaml:4:1: unknown key 'restrat_delay' (did you mean 'restart_delay'?)");
  EXPECT_EQ(errors[1], "tend.yaml:5:13: instances: must be at least 1, got 0");
  EXPECT_EQ(errors[2],
            "tend.yaml:6:42: backoff.multiplier: must be from 1 (no growth) to 1000, got 0.5");
}

TEST(ConfigValidation, ReportsPositionsInJson) {
  const auto errors = errorsOf(
      "{\"apps\": [\n"
      "  {\"name\": \"a\", \"run\": \"x\",\n"
      "   \"restrat_delay\": \"1s\",\n"
      "   \"instances\": 0, \"autorestart\": \"yes\"}\n"
      "]}\n",
      ConfigFormat::Json);
  ASSERT_EQ(errors.size(), 3u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0],
            "tend.yaml:3:4: unknown key 'restrat_delay' (did you mean 'restart_delay'?)");
  EXPECT_EQ(errors[1], "tend.yaml:4:17: instances: must be at least 1, got 0");
  EXPECT_EQ(errors[2],
            "tend.yaml:4:35: autorestart: expected true, false or on-failure, got the string "
            "\"yes\" (write true)");
}

TEST(ConfigValidation, ReportsPositionsInYamlFlowAndBlockStyles) {
  const auto errors = errorsOf(
      "apps:\n"
      "  - { name: a, run: x, instances: -1 }\n"
      "  - name: b\n"
      "    run: y\n"
      "    logs:\n"
      "      max_files: 0\n");
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], "tend.yaml:2:35: instances: must be at least 1, got -1");
  EXPECT_EQ(errors[1], "tend.yaml:6:18: logs.max_files: must be at least 1, got 0");
}

// --- name and run --------------------------------------------------------------------------

TEST(AppValidation, RefusesAnAppThatIsNotAMap) {
  expectError("apps:\n  - just text\n",
              "tend.yaml:2:5: an app must be a map with name and run, got 'just text'");
}

TEST(AppValidation, RequiresAName) {
  expectError("apps:\n  - run: x\n", "tend.yaml:2:5: an app needs a 'name'");
}

TEST(AppValidation, RefusesNamesThatCannotBeTyped) {
  expectError("apps:\n  - name: my app\n    run: x\n",
              "tend.yaml:2:11: name: 'my app' may only use letters, digits, '.', '_' and '-'");
  expectError("apps:\n  - name: 123\n    run: x\n",
              "tend.yaml:2:11: name: '123' is all digits and would be mistaken for an id");
  expectError("apps:\n  - name: all\n    run: x\n",
              "tend.yaml:2:11: name: 'all' is reserved (tend stop all)");
  expectError("apps:\n  - name: \"\"\n    run: x\n", "tend.yaml:2:11: name: must not be empty");
  expectError("apps:\n  - name: " + std::string(65, 'n') + "\n    run: x\n",
              "tend.yaml:2:11: name: '" + std::string(65, 'n') + "' is longer than 64 characters");
  expectError("apps:\n  - name: [a]\n    run: x\n",
              "tend.yaml:2:11: name: expected a string, got a list");
  EXPECT_TRUE(check("apps:\n  - name: My_app-2.v1\n    run: x\n"));
  EXPECT_TRUE(check("apps:\n  - name: " + std::string(64, 'n') + "\n    run: x\n"));
}

TEST(AppValidation, RefusesDuplicateAppNames) {
  expectError("apps:\n  - name: a\n    run: x\n  - name: a\n    run: y\n",
              "tend.yaml:4:11: duplicate app name 'a' (first at line 2)");
}

TEST(AppValidation, RunsAStringUnderTheShell) {
  const AppSpec app = appOf("");
  EXPECT_TRUE(app.run_shell);
  EXPECT_EQ(app.argv.back(), "x");
}

TEST(AppValidation, RunsAListDirectly) {
  auto result = check("apps:\n  - name: a\n    run: [python3, -m, http.server, 8000]\n");
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->apps[0].run_shell);
  EXPECT_EQ(result->apps[0].argv,
            (std::vector<std::string>{"python3", "-m", "http.server", "8000"}));
}

TEST(AppValidation, RefusesAnEmptyOrMalformedRun) {
  expectError("apps:\n  - name: a\n    run: \"  \"\n", "tend.yaml:3:10: run: must not be empty");
  expectError("apps:\n  - name: a\n    run: []\n",
              "tend.yaml:3:10: run: the argument list is empty; it needs at least the program");
  expectError("apps:\n  - name: a\n    run: [a, \"\"]\n",
              "tend.yaml:3:14: run[1]: must not be empty");
  expectError("apps:\n  - name: a\n    run: [a, {b: c}]\n",
              "tend.yaml:3:14: run[1]: expected a string, got a map");
  expectError("apps:\n  - name: a\n    run: {a: b}\n",
              "tend.yaml:3:10: run: expected a command string or a list of arguments, got a map");
  expectError("apps:\n  - name: a\n    run:\n",
              "tend.yaml:3:5: run: expected a command string or a list of arguments, got nothing");
}

TEST(AppValidation, RequiresRunOrStart) {
  expectError("apps:\n  - name: a\n",
              "tend.yaml:2:5: app 'a' needs 'run' (the command to run), 'start' for a service "
              "tend does not spawn itself, or on_demand.target alone for a plain route");
}

TEST(AppValidation, RefusesBothRunAndStart) {
  expectError(oneApp("start: docker start a"),
              "tend.yaml:4:5: an app has either 'run' (tend runs it) or 'start' (tend asks "
              "something else to), not both");
}

TEST(AppValidation, ReadsAServiceTendDoesNotSpawn) {
  auto result = check(
      "apps:\n  - name: legacy\n    start: docker start legacy\n    stop: docker stop legacy\n"
      "    check: docker inspect legacy\n"
      "    on_demand: { hosts: [legacy.localhost], target: http://127.0.0.1:8081 }\n");
  ASSERT_TRUE(result) << result.error().front().format();
  const AppSpec& app = result->apps[0];
  EXPECT_TRUE(app.argv.empty());
  EXPECT_EQ(app.start_cmd, "docker start legacy");
  EXPECT_EQ(app.stop_cmd, "docker stop legacy");
  EXPECT_EQ(app.check_cmd, "docker inspect legacy");
  EXPECT_EQ(app.on_demand->target, "http://127.0.0.1:8081");
}

TEST(AppValidation, StartNeedsAnOnDemandTarget) {
  expectError("apps:\n  - name: a\n    start: s\n    on_demand: { hosts: [a.localhost] }\n",
              "tend.yaml:3:5: 'start' needs on_demand.target: where the service listens once "
              "started");
}

TEST(AppValidation, StartIsASingleInstance) {
  expectError(
      "apps:\n  - name: a\n    start: s\n    instances: 2\n"
      "    on_demand: { hosts: [a.localhost], target: http://127.0.0.1:1 }\n",
      "tend.yaml:3:5: an app with 'start' is one service: instances must be 1");
}

TEST(AppValidation, StopAndCheckGoWithStart) {
  expectError(oneApp("stop: kill it"),
              "tend.yaml:4:5: 'stop' goes with 'start', for a service tend does not spawn itself");
  expectError(oneApp("check: true"),
              "tend.yaml:4:5: 'check' goes with 'start', for a service tend does not spawn itself");
}

// --- cwd, env, env_file ----------------------------------------------------------------------

TEST(AppValidation, ResolvesCwdAgainstTheConfigDirectory) {
  EXPECT_EQ(appOf("").cwd, "/base");
  EXPECT_EQ(appOf("cwd: api/").cwd, "/base/api");
  EXPECT_EQ(appOf("cwd: ../srv/./api").cwd, "/srv/api");
  EXPECT_EQ(appOf("cwd: /opt/app").cwd, "/opt/app");
}

TEST(AppValidation, ReadsEnvAsTextInOrder) {
  const AppSpec app = appOf("env: { NODE_ENV: production, PORT_OFFSET: 3, DEBUG: false, E: \"\" }");
  EXPECT_EQ(app.env,
            (std::vector<std::pair<std::string, std::string>>{
                {"NODE_ENV", "production"}, {"PORT_OFFSET", "3"}, {"DEBUG", "false"}, {"E", ""}}));
}

TEST(AppValidation, RefusesEnvValuesThatAreNotScalars) {
  expectError(oneApp("env: { A: [1] }"), "tend.yaml:4:15: env.A: expected a string, got a list");
  expectError(oneApp("env:\n  A:\n"),
              "tend.yaml:5:7: env.A: has no value (write \"\" for an empty one)");
  expectError(oneApp("env: [A=1]"), "tend.yaml:4:10: env: expected a map, got a list");
  expectError(oneApp("env: { \"A=B\": 1 }"),
              "tend.yaml:4:12: env: 'A=B' is not a valid variable name");
}

TEST(EnvFile, ReadsKeyValueLinesWithCommentsExportAndQuotes) {
  TempDir dir;
  dir.write(".env",
            "# a comment\n"
            "\n"
            "PLAIN=value\n"
            "export EXPORTED=yes\n"
            "  SPACED = padded value  \n"
            "DOUBLE=\"two words # not a comment\"\n"
            "SINGLE='$HOME stays'\n"
            "ESCAPES=\"line\\nnext \\\"q\\\"\"\n"
            "INLINE=value # a comment\n"
            "HASH=a#b\n"
            "EMPTY=\n"
            "EQUALS=a=b\n"
            "CRLF=x\r\n");
  const AppSpec app = appOf("env_file: .env", dir.path());
  EXPECT_EQ(app.env_file, dir.path() + "/.env");
  EXPECT_EQ(app.env, (std::vector<std::pair<std::string, std::string>>{
                         {"PLAIN", "value"},
                         {"EXPORTED", "yes"},
                         {"SPACED", "padded value"},
                         {"DOUBLE", "two words # not a comment"},
                         {"SINGLE", "$HOME stays"},
                         {"ESCAPES", "line\nnext \"q\""},
                         {"INLINE", "value"},
                         {"HASH", "a#b"},
                         {"EMPTY", ""},
                         {"EQUALS", "a=b"},
                         {"CRLF", "x"}}));
}

TEST(EnvFile, EnvOverridesTheFileAndAddsAfterIt) {
  TempDir dir;
  dir.write("app.env", "A=file\nB=file\n");
  const AppSpec app = appOf("env_file: app.env\nenv: { B: env, C: env }", dir.path());
  EXPECT_EQ(app.env, (std::vector<std::pair<std::string, std::string>>{
                         {"A", "file"}, {"B", "env"}, {"C", "env"}}));
}

TEST(EnvFile, AMissingFileIsAnErrorAtTheEnvFileKey) {
  TempDir dir;
  const auto errors = errorsOf(oneApp("env_file: missing.env"), ConfigFormat::Yaml, dir.path());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "tend.yaml:4:15: env_file: cannot read '" + dir.path() +
                           "/missing.env': No such file or directory");
}

TEST(EnvFile, ABadLineIsReportedInTheEnvFile) {
  TempDir dir;
  dir.write(".env", "GOOD=1\nno equals sign\nBAD KEY=1\nQ=\"open\nR='x' trailing\n");
  const auto errors = errorsOf(oneApp("env_file: .env"), ConfigFormat::Yaml, dir.path());
  const std::string file = dir.path() + "/.env";
  ASSERT_EQ(errors.size(), 4u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], file + ":2:1: expected KEY=VALUE, got 'no equals sign'");
  EXPECT_EQ(errors[1], file + ":3:1: 'BAD KEY' is not a valid variable name");
  EXPECT_EQ(errors[2], file + ":4:1: the value of Q has no closing \" (values are one line)");
  EXPECT_EQ(errors[3], file + ":5:1: unexpected text after the quoted value of R");
}

// --- instances and port ----------------------------------------------------------------------

TEST(AppValidation, ReadsInstances) {
  EXPECT_EQ(appOf("instances: 4").instances, 4);
  EXPECT_TRUE(appOf("instances: max").instances_max);
  EXPECT_TRUE(appOf("instances: \"max\"").instances_max);
}

TEST(AppValidation, RefusesInstancesOutOfRange) {
  expectError(oneApp("instances: 0"), "tend.yaml:4:16: instances: must be at least 1, got 0");
  expectError(oneApp("instances: 1025"),
              "tend.yaml:4:16: instances: must be at most 1024, got 1025");
  expectError(oneApp("instances: many"),
              "tend.yaml:4:16: instances: expected a number from 1 to 1024 or \"max\", got 'many'");
  expectError(oneApp("instances: 2.5"),
              "tend.yaml:4:16: instances: expected a number from 1 to 1024 or \"max\", got '2.5'");
  expectError(oneApp("instances: \"2\""),
              "tend.yaml:4:16: instances: expected a number, got the string \"2\" (remove the "
              "quotes)");
}

TEST(AppValidation, ReadsEveryPortForm) {
  EXPECT_EQ(appOf("port: 3001").port, (PortSpec{PortSpec::Kind::Fixed, 3001, 3001}));
  EXPECT_EQ(appOf("port: \"3001\"").port, (PortSpec{PortSpec::Kind::Fixed, 3001, 3001}));
  EXPECT_EQ(appOf("port: 3001-3004\ninstances: 4").port,
            (PortSpec{PortSpec::Kind::Range, 3001, 3004}));
  EXPECT_EQ(appOf("port: auto").port,
            (PortSpec{PortSpec::Kind::Auto, PortSpec::kAutoFirst, PortSpec::kAutoLast}));
  EXPECT_EQ(appOf("port: auto:4000-4100").port, (PortSpec{PortSpec::Kind::Auto, 4000, 4100}));
}

TEST(AppValidation, RefusesMalformedPorts) {
  expectError(oneApp("port: 0"), "tend.yaml:4:11: port: 0 is not a port (1 to 65535)");
  expectError(oneApp("port: 65536"), "tend.yaml:4:11: port: 65536 is not a port (1 to 65535)");
  expectError(oneApp("port: 3004-3001"),
              "tend.yaml:4:11: port: the range 3004-3001 is backwards (write 3001-3004)");
  expectError(oneApp("port: 3000-70000"),
              "tend.yaml:4:11: port: '3000-70000': ports go from 1 to 65535");
  expectError(oneApp("port: http"),
              "tend.yaml:4:11: port: expected a port (3001), a range (\"3001-3004\", one per "
              "instance), \"auto\" or \"auto:4000-4100\", got 'http'");
  expectError(oneApp("port: auto:4000"),
              "tend.yaml:4:11: port: expected a port (3001), a range (\"3001-3004\", one per "
              "instance), \"auto\" or \"auto:4000-4100\", got 'auto:4000'");
  expectError(oneApp("port: [1, 2]"), "tend.yaml:4:11: port: expected a port, got a list");
}

TEST(AppValidation, AFixedPortWithSeveralInstancesSuggestsARange) {
  expectError(
      oneApp("port: 3001\ninstances: 3"),
      "tend.yaml:4:11: port 3001 is a single port but instances is 3: give each instance "
      "its own port with a range such as \"3001-3003\", or share it with share_port: socket");
  expectError(oneApp("port: 3001\ninstances: max"),
              "tend.yaml:4:11: port 3001 is a single port but instances is \"max\": give each "
              "instance its own port with a range such as \"auto\", or share it with share_port: "
              "socket");
}

TEST(AppValidation, SharePortLetsInstancesShareOneFixedPort) {
  auto spec = appOf("port: 3001\ninstances: 4\nshare_port: socket\nreload_batch: 2");
  EXPECT_EQ(spec.share_port, SharePort::Socket);
  EXPECT_EQ(spec.reload_batch, 2);
  EXPECT_EQ(appOf("port: 3001\ninstances: 2\nshare_port: reuseport").share_port,
            SharePort::ReusePort);
  expectError(oneApp("port: 3001\ninstances: 2\nshare_port: reuseprot"),
              "tend.yaml:6:17: share_port: expected reuseport or socket, got 'reuseprot' (did you "
              "mean reuseport?)");
  expectError(oneApp("port: 3001-3002\ninstances: 2\nshare_port: socket"),
              "tend.yaml:6:5: share_port: the instances share one port, so 'port' must be a "
              "single port such as 3000");
  expectError(oneApp("port: 3001\nreload_batch: 0"),
              "tend.yaml:5:19: reload_batch: must be at least 1, got 0");
}

TEST(AppValidation, ARangeNeedsAPortPerInstance) {
  expectError(oneApp("port: 3001-3002\ninstances: 3"),
              "tend.yaml:4:11: port range 3001-3002 has 2 port(s) but instances is 3");
  EXPECT_TRUE(appOf("port: 3001-3002\ninstances: max").instances_max);
}

TEST(ConfigValidation, RefusesTwoAppsOnTheSamePort) {
  expectError(
      "apps:\n  - name: a\n    run: x\n    port: 3001\n"
      "  - name: b\n    run: y\n    port: 3001\n",
      "tend.yaml:7:11: port 3001 is already taken by app 'a' (port 3001, line 4)");
}

TEST(ConfigValidation, RefusesOverlappingPortRanges) {
  expectError(
      "apps:\n  - name: a\n    run: x\n    port: 3000-3009\n"
      "  - name: b\n    run: y\n    port: 3009-3010\n",
      "tend.yaml:7:11: port 3009-3010 is already taken by app 'a' (port 3000-3009, line 4)");
  EXPECT_TRUE(
      check("apps:\n  - name: a\n    run: x\n    port: 3000-3009\n"
            "  - name: b\n    run: y\n    port: 3010-3011\n"));
}

TEST(ConfigValidation, RefusesAnAppPortTheGatewayListensOn) {
  expectError("gateway:\n  listen: 127.0.0.1:8080\n" + oneApp("port: 8080"),
              "tend.yaml:6:11: port 8080 is already taken by the gateway (port 8080, line 2)");
}

TEST(ConfigValidation, AllowsTheSamePortOnDifferentAddresses) {
  EXPECT_TRUE(
      check("gateway:\n  listen: 127.0.0.1:8080\napi:\n  listen: 127.0.0.2:8080\n" + oneApp("")));
}

TEST(ConfigValidation, AutoPortsDoNotClaimTheirRange) {
  EXPECT_TRUE(
      check("apps:\n  - name: a\n    run: x\n    port: auto\n    instances: 2\n"
            "  - name: b\n    run: y\n    port: 20001\n"));
}

// --- restart policy --------------------------------------------------------------------------

TEST(AppValidation, ReadsTheRestartPolicy) {
  const AppSpec app = appOf(
      "autorestart: on-failure\nrestart_delay: 250ms\n"
      "backoff: { initial: 1s, max: 1m, multiplier: 1.5 }\nmax_restarts: 0\n"
      "restart_window: 1h\nmin_uptime: 0ms\nkill_timeout: 1m30s");
  EXPECT_EQ(app.autorestart, AutoRestart::OnFailure);
  EXPECT_EQ(app.restart_delay, 250ms);
  EXPECT_EQ(app.backoff, (BackoffSpec{1s, 1min, 1.5}));
  EXPECT_EQ(app.max_restarts, 0);
  EXPECT_EQ(app.restart_window, 1h);
  EXPECT_EQ(app.min_uptime, 0ms);
  EXPECT_EQ(app.kill_timeout, 90s);
  EXPECT_EQ(appOf("autorestart: false").autorestart, AutoRestart::Never);
  EXPECT_EQ(appOf("autorestart: true").autorestart, AutoRestart::Always);
}

TEST(AppValidation, RefusesAutorestartValuesOtherThanTheThree) {
  expectError(oneApp("autorestart: yes"),
              "tend.yaml:4:18: autorestart: expected true, false or on-failure, got 'yes' (write "
              "true)");
  expectError(oneApp("autorestart: never"),
              "tend.yaml:4:18: autorestart: expected true, false or on-failure, got 'never' "
              "(write false)");
  expectError(oneApp("autorestart: on-failur"),
              "tend.yaml:4:18: autorestart: expected true, false or on-failure, got "
              "'on-failur' (did you mean on-failure?)");
  expectError(oneApp("autorestart: \"true\""),
              "tend.yaml:4:18: autorestart: expected true, false or on-failure, got the string "
              "\"true\" (write true)");
}

TEST(AppValidation, ABareNumberForADurationIsAnErrorWithAHint) {
  expectError(oneApp("restart_delay: 100"),
              "tend.yaml:4:20: restart_delay: duration '100' has no unit (write 100ms or 100s)");
  expectError(oneApp("kill_timeout: 5 s"),
              "tend.yaml:4:19: kill_timeout: duration '5 s' has no unit (write 5ms or 5s)");
  expectError(oneApp("min_uptime: 5sec"),
              "tend.yaml:4:17: min_uptime: duration '5sec' has an unknown unit 'sec' (use ms, "
              "s, m, h or d)");
  expectError(oneApp("restart_window: {}"),
              "tend.yaml:4:21: restart_window: expected a duration such as 500ms, 10s or 5m, "
              "got a map");
}

TEST(AppValidation, RefusesAZeroRestartWindow) {
  expectError(oneApp("restart_window: 0s"),
              "tend.yaml:4:21: restart_window: must be longer than 0ms");
}

TEST(AppValidation, RefusesABadBackoff) {
  expectError(oneApp("backoff: { multiplier: 0.5 }"),
              "tend.yaml:4:28: backoff.multiplier: must be from 1 (no growth) to 1000, got 0.5");
  expectError(oneApp("backoff: { multiplier: \"2\" }"),
              "tend.yaml:4:28: backoff.multiplier: expected a number, got the string \"2\"");
  expectError(oneApp("backoff: { multiplier: 2x }"),
              "tend.yaml:4:28: backoff.multiplier: expected a number, got '2x'");
  expectError(oneApp("backoff: { multiplier: 1e999 }"),
              "tend.yaml:4:28: backoff.multiplier: 1e999 is out of range");
  expectError(oneApp("backoff: { initial: 1m, max: 1s }"),
              "tend.yaml:4:14: backoff: initial (1m) is longer than max (1s)");
  expectError(oneApp("backoff: 2"), "tend.yaml:4:14: backoff: expected a map, got '2'");
  EXPECT_EQ(appOf("backoff: { multiplier: 1 }").backoff.multiplier, 1.0);
}

TEST(AppValidation, IntegersAreStrict) {
  expectError(oneApp("max_restarts: 12abc"),
              "tend.yaml:4:19: max_restarts: expected a whole number, got '12abc'");
  expectError(oneApp("max_restarts: 1.5"),
              "tend.yaml:4:19: max_restarts: expected a whole number, got '1.5'");
  expectError(oneApp("max_restarts: -1"),
              "tend.yaml:4:19: max_restarts: must be at least 0, got -1");
  expectError(oneApp("max_restarts: 0x10"),
              "tend.yaml:4:19: max_restarts: expected a whole number, got '0x10'");
  expectError(oneApp("max_restarts: 99999999999999999999"),
              "tend.yaml:4:19: max_restarts: 99999999999999999999 is out of range (0 to "
              "2147483647)");
  expectError(oneApp("max_restarts: 3000000000"),
              "tend.yaml:4:19: max_restarts: must be at most 2147483647, got 3000000000");
  expectError(oneApp("max_restarts:"),
              "tend.yaml:4:5: max_restarts: expected a whole number, got nothing");
}

TEST(AppValidation, ReadsStopSignalsByNameOrNumber) {
  EXPECT_EQ(appOf("stop_signal: SIGINT").stop_signal, SIGINT);
  EXPECT_EQ(appOf("stop_signal: QUIT").stop_signal, SIGQUIT);
  EXPECT_EQ(appOf("stop_signal: 1").stop_signal, SIGHUP);
}

TEST(AppValidation, AnUnknownSignalSuggestsTheNearMiss) {
  expectError(oneApp("stop_signal: SIGTREM"),
              "tend.yaml:4:18: stop_signal: unknown signal 'SIGTREM' (did you mean SIGTERM?)");
  expectError(oneApp("stop_signal: NOTHING"),
              "tend.yaml:4:18: stop_signal: unknown signal 'NOTHING' (use a name such as SIGTERM, "
              "SIGINT, SIGQUIT or a number)");
}

// --- logs, memory, watch, cron ---------------------------------------------------------------

TEST(AppValidation, ReadsLogSettings) {
  const AppSpec app = appOf(
      "logs: { max_size: 1M, max_files: 2, timestamps: false, out: logs/o.log, "
      "err: /var/log/e.log }");
  EXPECT_EQ(app.logs, (LogSpec{1u << 20, 2, false, "/base/logs/o.log", "/var/log/e.log"}));
}

TEST(AppValidation, RefusesBadLogSettings) {
  expectError(
      oneApp("logs: { max_size: 10 MB }"),
      "tend.yaml:4:23: logs.max_size: size '10 MB' has an unknown unit ' MB' (use K, M or G)");
  expectError(oneApp("logs: { max_size: 0 }"),
              "tend.yaml:4:23: logs.max_size: must be more than 0 bytes");
  expectError(oneApp("logs: { max_files: 0 }"),
              "tend.yaml:4:24: logs.max_files: must be at least 1, got 0");
  expectError(oneApp("logs: { timestamps: yes }"),
              "tend.yaml:4:25: logs.timestamps: expected true or false, got 'yes' (write true)");
  expectError(oneApp("logs: { timestamps: \"false\" }"),
              "tend.yaml:4:25: logs.timestamps: expected true or false, got the string \"false\" "
              "(remove the quotes)");
  expectError(oneApp("logs: { timestamps: maybe }"),
              "tend.yaml:4:25: logs.timestamps: expected true or false, got 'maybe'");
  expectError(oneApp("logs: { out: \"\" }"), "tend.yaml:4:18: logs.out: must not be empty");
}

TEST(AppValidation, ReadsMaxMemoryAsASize) {
  EXPECT_EQ(appOf("max_memory: 512M").max_memory, 512ull << 20);
  EXPECT_EQ(appOf("max_memory: 1048576").max_memory, 1048576u);
  expectError(oneApp("max_memory: lots"),
              "tend.yaml:4:17: max_memory: invalid size 'lots': expected a number with an "
              "optional K, M or G");
  expectError(oneApp("max_memory: 0"), "tend.yaml:4:17: max_memory: must be more than 0 bytes");
}

TEST(AppValidation, ReadsWatchAsAPathOrAList) {
  EXPECT_EQ(appOf("watch: src/").watch, (std::vector<std::string>{"src/"}));
  EXPECT_EQ(appOf("watch: [src/, lib/]\nignore_watch: node_modules").ignore_watch,
            (std::vector<std::string>{"node_modules"}));
  EXPECT_EQ(appOf("watch: true").watch, (std::vector<std::string>{"."}));
  EXPECT_TRUE(appOf("watch: false").watch.empty());
  expectError(oneApp("watch: { a: b }"),
              "tend.yaml:4:12: watch: expected a string or a list of strings, got a map");
  expectError(oneApp("ignore_watch: [a, [b]]"),
              "tend.yaml:4:23: ignore_watch[1]: expected a string, got a list");
}

TEST(AppValidation, ReadsACronSchedule) {
  EXPECT_EQ(appOf("cron_restart: \"0 4 * * *\"").cron_restart, "0 4 * * *");
  EXPECT_EQ(appOf("cron_restart: \"*/15 0-6,22 1-31/2 * 0-7\"").cron_restart,
            "*/15 0-6,22 1-31/2 * 0-7");
  EXPECT_EQ(appOf("cron_restart: \"0 4 * JAN mon-fri\"").cron_restart, "0 4 * JAN mon-fri");
  EXPECT_EQ(appOf("cron_restart: \"*/30 * * * * *\"").cron_restart, "*/30 * * * * *");  // PM2's
}

TEST(AppValidation, RefusesAMalformedCronSchedule) {
  expectError(oneApp("cron_restart: \"0 4 * *\""),
              "tend.yaml:4:19: cron_restart '0 4 * *' has 4 fields; it needs 5 (minute hour "
              "day-of-month month day-of-week), e.g. \"0 4 * * *\", or 6 with seconds first");
  expectError(oneApp("cron_restart: \"60 4 * * *\""),
              "tend.yaml:4:19: cron_restart '60 4 * * *': the minute field '60' is not valid "
              "(numbers 0-59, '*', ranges a-b, steps /n, lists a,b)");
  expectError(oneApp("cron_restart: \"0 4 * JUNE *\""),
              "tend.yaml:4:19: cron_restart '0 4 * JUNE *': the month field 'JUNE' is not valid "
              "(numbers 1-12 or jan-dec, '*', ranges a-b, steps /n, lists a,b)");
  expectError(oneApp("cron_restart: \"*/0 * * * *\""),
              "tend.yaml:4:19: cron_restart '*/0 * * * *': the minute field '*/0' is not valid "
              "(numbers 0-59, '*', ranges a-b, steps /n, lists a,b)");
}

// --- depends_on --------------------------------------------------------------------------------

TEST(ConfigValidation, ReadsDependencies) {
  auto result = check(
      "apps:\n  - name: db\n    run: x\n  - name: api\n    run: y\n"
      "    depends_on: db\n");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->apps[1].depends_on, (std::vector<Dependency>{{"db"}}));
  EXPECT_EQ(result->apps[1].depends_on[0].condition, DependencyCondition::Ready);
}

TEST(ConfigValidation, ReadsDependencyConditionsAsAMapOrListItems) {
  const std::string apps =
      "apps:\n  - name: db\n    run: x\n  - name: migrate\n    run: y\n"
      "  - name: log\n    run: z\n  - name: api\n    run: y\n";
  auto as_map = check(apps + "    depends_on: {db: ready, migrate: completed, log: started}\n");
  ASSERT_TRUE(as_map);
  const std::vector<Dependency> expected = {{"db", DependencyCondition::Ready},
                                            {"migrate", DependencyCondition::Completed},
                                            {"log", DependencyCondition::Started}};
  EXPECT_EQ(as_map->apps[3].depends_on, expected);
  auto as_list = check(
      apps + "    depends_on:\n      - db\n      - migrate: completed\n      - log: started\n");
  ASSERT_TRUE(as_list) << as_list.error().front().format();
  EXPECT_EQ(as_list->apps[3].depends_on, expected);
}

TEST(ConfigValidation, AnUnknownDependencyConditionSuggestsOne) {
  const std::string apps = "apps:\n  - name: db\n    run: x\n  - name: api\n    run: y\n";
  expectError(apps + "    depends_on: {db: redy}\n",
              "tend.yaml:6:22: depends_on.db: unknown condition 'redy' (did you mean 'ready'?)");
  expectError(apps + "    depends_on: {db: process_healthy}\n",
              "tend.yaml:6:22: depends_on.db: unknown condition 'process_healthy' (tend calls it "
              "'ready')");
  expectError(apps + "    depends_on: {db: sometime}\n",
              "tend.yaml:6:22: depends_on.db: unknown condition 'sometime' (expected one of: "
              "started, ready, completed)");
}

TEST(ConfigValidation, ADependencyMustNameAnotherApp) {
  expectError(
      "apps:\n  - name: db\n    run: x\n  - name: api\n    run: y\n"
      "    depends_on: [dbb]\n",
      "tend.yaml:6:18: depends_on: there is no app named 'dbb' in this file (did you "
      "mean 'db'?)");
  expectError(oneApp("depends_on: [a]"), "tend.yaml:4:18: depends_on: 'a' cannot depend on itself");
  expectError(
      "apps:\n  - name: db\n    run: x\n  - name: api\n    run: y\n"
      "    depends_on: [db, db]\n",
      "tend.yaml:6:22: depends_on: 'db' is listed twice");
}

TEST(ConfigValidation, ReportsADependencyCycle) {
  expectError(
      "apps:\n"
      "  - name: a\n    run: x\n    depends_on: [b]\n"
      "  - name: b\n    run: x\n    depends_on: [c]\n"
      "  - name: c\n    run: x\n    depends_on: [a]\n",
      "tend.yaml:10:18: depends_on: dependency cycle a -> b -> c -> a");
}

// --- probes ------------------------------------------------------------------------------------

TEST(AppValidation, ReadsEveryKindOfProbe) {
  EXPECT_EQ(appOf("ready: { tcp: 3001 }").ready->tcp, 3001);
  const AppSpec http = appOf(
      "health: { http: \"http://127.0.0.1:3001/health\", expect: 204, interval: 5s, timeout: 1s, "
      "failures: 2 }");
  EXPECT_EQ(http.health->http, "http://127.0.0.1:3001/health");
  EXPECT_EQ(http.health->expect_status, 204);
  EXPECT_EQ(http.health->interval, 5s);
  EXPECT_EQ(http.health->timeout, 1s);
  EXPECT_EQ(http.health->failures, 2);
  EXPECT_EQ(appOf("ready: { exec: ./check.sh }").ready->exec, "./check.sh");
  EXPECT_TRUE(appOf("ready: { notify: true, timeout: 1m }").ready->notify);
}

TEST(AppValidation, AProbeNeedsExactlyOneKind) {
  expectError(oneApp("ready: { timeout: 1s }"),
              "tend.yaml:4:12: ready: needs one of tcp, http, exec or notify");
  expectError(oneApp("ready: { notify: false }"),
              "tend.yaml:4:12: ready: needs one of tcp, http, exec or notify");
  expectError(oneApp("health: { tcp: 1, exec: x }"),
              "tend.yaml:4:23: health: takes only one of tcp, http or exec (also has 'tcp')");
  expectError(oneApp("ready: tcp"), "tend.yaml:4:12: ready: expected a map, got 'tcp'");
}

TEST(AppValidation, RefusesProbeSettingsThatDoNotApply) {
  expectError(oneApp("health: { notify: true }"),
              "tend.yaml:4:15: health: notify is a ready check only; a health check uses tcp, "
              "http or exec");
  expectError(oneApp("ready: { tcp: 1, failures: 3 }"),
              "tend.yaml:4:22: ready: 'failures' applies to health checks only; a ready check is "
              "retried until its timeout");
  expectError(oneApp("ready: { tcp: 1, expect: 200 }"),
              "tend.yaml:4:22: ready: expect is the HTTP status for an http check");
  expectError(oneApp("ready: { tcp: 1, port: 2 }"), "tend.yaml:4:22: unknown key 'port' in ready");
  expectError(oneApp("ready: { tcp: 1, watchdog: 5s }"),
              "tend.yaml:4:22: ready: watchdog is the WATCHDOG=1 interval of a notify check");
  expectError(oneApp("health: { tcp: 1, watchdog: 5s }"),
              "tend.yaml:4:23: unknown key 'watchdog' in health");
}

TEST(AppValidation, ReadsHooksNiceUserAndTheLogFormat) {
  const AppSpec app = appOf(
      "pre_start: ./migrate.sh\npost_start: ./warm.sh\nnice: -5\nuser: root\n"
      "logs: { format: json }");
  EXPECT_EQ(app.pre_start, "./migrate.sh");
  EXPECT_EQ(app.post_start, "./warm.sh");
  EXPECT_EQ(app.nice, -5);
  EXPECT_EQ(app.user, "root");
  EXPECT_EQ(app.logs.format, LogFormat::Json);
  // They go round toJson / fromJson (the daemon's copy of the spec).
  auto again = validateApp(fromJson(toJson(app)), "", "/base");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, app);
  // Defaults: no hooks, the daemon's priority and user, text logs.
  const AppSpec plain = appOf("");
  EXPECT_TRUE(plain.pre_start.empty());
  EXPECT_FALSE(plain.nice);
  EXPECT_TRUE(plain.user.empty());
  EXPECT_EQ(plain.logs.format, LogFormat::Text);
  EXPECT_EQ(appOf("logs: { format: text }").logs.format, LogFormat::Text);
}

TEST(AppValidation, RefusesBadHooksNiceUserAndLogFormat) {
  expectError(oneApp("nice: 20"), "tend.yaml:4:11: nice: must be at most 19, got 20");
  expectError(oneApp("nice: -21"), "tend.yaml:4:11: nice: must be at least -20, got -21");
  expectError(oneApp("nice: high"), "tend.yaml:4:11: nice: expected a whole number, got 'high'");
  expectError(oneApp("user: no-such-user-tend"),
              "tend.yaml:4:11: user: no user named 'no-such-user-tend' on this machine");
  expectError(oneApp("user: \"\""), "tend.yaml:4:11: user: must not be empty");
  expectError(oneApp("pre_start: [a, b]"),
              "tend.yaml:4:16: pre_start: expected a string, got a list");
  expectError(oneApp("post_start: \"\""), "tend.yaml:4:17: post_start: must not be empty");
  expectError(oneApp("logs: { format: xml }"),
              "tend.yaml:4:21: logs.format: expected text or json, got 'xml'");
  expectError(oneApp("pre_strat: x"),
              "tend.yaml:4:5: unknown key 'pre_strat' (did you mean 'pre_start'?)");
}

TEST(AppValidation, ReadsANotifyWatchdog) {
  const AppSpec app = appOf("ready: { notify: true, watchdog: 10s }");
  ASSERT_TRUE(app.ready);
  EXPECT_TRUE(app.ready->notify);
  EXPECT_EQ(app.ready->watchdog, 10s);
  // It goes round toJson / fromJson (the daemon's copy of the spec).
  auto again = validateApp(fromJson(toJson(app)), "", "/");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->ready->watchdog, 10s);
}

TEST(AppValidation, RefusesBadProbeValues) {
  expectError(oneApp("ready: { tcp: 0 }"), "tend.yaml:4:19: ready.tcp: must be at least 1, got 0");
  expectError(oneApp("ready: { http: \"localhost:3001\" }"),
              "tend.yaml:4:20: ready.http: expected a URL starting with http:// or https://, "
              "got 'localhost:3001'");
  expectError(oneApp("health: { http: \"http://x/\", expect: 42 }"),
              "tend.yaml:4:42: health.expect: 42 is not an HTTP status (100 to 599)");
  expectError(oneApp("ready: { tcp: 1, timeout: 0ms }"),
              "tend.yaml:4:31: ready.timeout: must be longer than 0ms");
}

// --- on_demand ---------------------------------------------------------------------------------

TEST(AppValidation, ReadsOnDemand) {
  const AppSpec app = appOf(
      "port: 3001\n"
      "on_demand:\n"
      "  hosts: [API.Localhost, \"*.example.com\"]\n"
      "  listen: 127.0.0.1:3998\n"
      "  idle_timeout: 10m\n"
      "  start_timeout: 5s\n"
      "  loading_page: true\n"
      "  socket_activation: true\n");
  ASSERT_TRUE(app.on_demand);
  EXPECT_EQ(app.on_demand->hosts, (std::vector<std::string>{"api.localhost", "*.example.com"}));
  EXPECT_EQ(app.on_demand->listen, (std::vector<std::string>{"127.0.0.1:3998"}));
  EXPECT_TRUE(app.on_demand->target.empty());
  EXPECT_EQ(app.on_demand->idle_timeout, 10min);
  EXPECT_EQ(app.on_demand->start_timeout, 5s);
  EXPECT_TRUE(app.on_demand->loading_page);
  EXPECT_TRUE(app.on_demand->socket_activation);
  EXPECT_EQ(app.on_demand->balance, BalanceMode::RoundRobin);
}

TEST(AppValidation, ReadsOnDemandBalance) {
  const AppSpec app = appOf(
      "port: 3001-3003\n"
      "instances: 3\n"
      "on_demand:\n"
      "  hosts: [api.localhost]\n"
      "  balance: least-conn\n");
  ASSERT_TRUE(app.on_demand);
  EXPECT_EQ(app.on_demand->balance, BalanceMode::LeastConn);
  expectError(oneApp("port: 1\non_demand: { hosts: [a.localhost], balance: least_conn }"),
              "tend.yaml:5:49: on_demand.balance: expected one of round-robin, least-conn, "
              "random, ip-hash, weighted, least-cpu, least-memory, least-time, got "
              "'least_conn' (did you mean least-conn?)");
}

AppSpec roundTrip(const AppSpec& spec);  // below, with the canonical JSON tests

TEST(AppValidation, ReadsEveryBalanceStrategyAndWeights) {
  const std::pair<const char*, BalanceMode> all[] = {
      {"round-robin", BalanceMode::RoundRobin}, {"least-conn", BalanceMode::LeastConn},
      {"random", BalanceMode::Random},          {"ip-hash", BalanceMode::IpHash},
      {"least-cpu", BalanceMode::LeastCpu},     {"least-memory", BalanceMode::LeastMemory},
      {"least-time", BalanceMode::LeastTime}};
  for (auto [name, mode] : all) {
    const AppSpec app = appOf(std::string("port: 3001-3002\ninstances: 2\non_demand:\n"
                                          "  hosts: [api.localhost]\n  balance: ") +
                              name + "\n");
    ASSERT_TRUE(app.on_demand) << name;
    EXPECT_EQ(app.on_demand->balance, mode) << name;
    EXPECT_EQ(balanceModeName(mode), name);
  }
  const AppSpec weighted = appOf(
      "port: 3001-3002\ninstances: 2\non_demand:\n  hosts: [api.localhost]\n"
      "  balance: weighted\n  weights: [3, 1]\n");
  ASSERT_TRUE(weighted.on_demand);
  EXPECT_EQ(weighted.on_demand->balance, BalanceMode::Weighted);
  EXPECT_EQ(weighted.on_demand->weights, (std::vector<uint32_t>{3, 1}));
  EXPECT_EQ(roundTrip(weighted), weighted);
  expectError(oneApp("port: 1\non_demand: { hosts: [a.localhost], balance: least-memry }"),
              "tend.yaml:5:49: on_demand.balance: expected one of round-robin, least-conn, "
              "random, ip-hash, weighted, least-cpu, least-memory, least-time, got "
              "'least-memry' (did you mean least-memory?)");
}

TEST(AppValidation, WeightsMustMatchTheInstancesAndGoWithWeighted) {
  expectError(oneApp("port: 1-3\ninstances: 3\non_demand:\n  hosts: [a.localhost]\n"
                     "  balance: weighted\n  weights: [3, 1]\n"),
              "tend.yaml:9:16: on_demand.weights has 2 weight(s) but instances is 3: give one "
              "weight per instance");
  expectError(oneApp("port: 1-2\ninstances: 2\non_demand:\n  hosts: [a.localhost]\n"
                     "  balance: weighted\n"),
              "tend.yaml:7:7: on_demand: balance weighted needs weights, one per instance (e.g. "
              "[3, 1])");
  expectError(oneApp("port: 1-2\ninstances: 2\non_demand:\n  hosts: [a.localhost]\n"
                     "  weights: [1, 2]\n"),
              "tend.yaml:8:16: on_demand.weights: only used with balance: weighted");
  expectError(oneApp("port: 1-2\ninstances: 2\non_demand:\n  hosts: [a.localhost]\n"
                     "  balance: weighted\n  weights: [0, 2]\n"),
              "tend.yaml:9:17: on_demand.weights[0]: must be at least 1, got 0");
}

TEST(AppValidation, AnAppWithOnlyATargetIsAProxyOnlyRoute) {
  auto result = check(
      "apps:\n  - name: r\n    on_demand: { hosts: [r.localhost], target: "
      "\"http://127.0.0.1:9000\" }\n");
  ASSERT_TRUE(result) << result.error().front().format();
  const AppSpec& app = result->apps.front();
  EXPECT_TRUE(isRouteOnly(app));
  EXPECT_TRUE(app.argv.empty());
  EXPECT_EQ(roundTrip(app), app);
  expectError(
      "apps:\n  - name: r\n    instances: 2\n    on_demand: { hosts: [r.localhost], "
      "target: \"http://127.0.0.1:9000\" }\n",
      "tend.yaml:2:5: an app that is only a route (on_demand.target, no 'run' or "
      "'start') is one target: instances must be 1");
}

TEST(ConfigValidation, ReadsTheGatewayAccessLog) {
  auto result = check(
      "gateway:\n  listen: 127.0.0.1:8080\n  access_log: { format: combined, max_size: 1M, "
      "max_files: 3 }\napps:\n  - name: a\n    run: x\n");
  ASSERT_TRUE(result) << result.error().front().format();
  ASSERT_TRUE(result->gateway && result->gateway->access_log);
  EXPECT_EQ(result->gateway->access_log->format, "combined");
  EXPECT_EQ(result->gateway->access_log->max_size, 1u << 20);
  EXPECT_EQ(result->gateway->access_log->max_files, 3);
  auto errors = errorsOf(
      "gateway:\n  access_log: { format: jsn, colour: red }\napps:\n  - name: a\n    run: x\n");
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0],
            "tend.yaml:2:25: gateway.access_log.format: expected json or combined, got 'jsn' "
            "(did you mean json?)");
  EXPECT_NE(errors[1].find("tend.yaml:2:30: unknown key 'colour'"), std::string::npos) << errors[1];
}

TEST(AppValidation, RefusesHostsThatAreNotHostNames) {
  expectError(oneApp("port: 1\non_demand: { hosts: [\"api local\"] }"),
              "tend.yaml:5:26: on_demand.hosts: 'api local' is not a host name (e.g. "
              "api.localhost or *.example.com)");
  expectError(oneApp("port: 1\non_demand: { hosts: [\"a.*.com\"] }"),
              "tend.yaml:5:26: on_demand.hosts: 'a.*.com' is not a host name (e.g. "
              "api.localhost or *.example.com)");
  expectError(oneApp("port: 1\non_demand: { hosts: [api.localhost:8080] }"),
              "tend.yaml:5:26: on_demand.hosts: 'api.localhost:8080': hosts match without the "
              "port; write 'api.localhost'");
  expectError(oneApp("port: 1\non_demand: { hosts: [a.localhost, A.localhost] }"),
              "tend.yaml:5:39: on_demand.hosts: 'a.localhost' is listed twice");
}

TEST(AppValidation, RefusesBadOnDemandAddresses) {
  expectError(oneApp("port: 1\non_demand: { listen: [3998] }"),
              "tend.yaml:5:27: on_demand.listen: expected host:port such as 127.0.0.1:3998, got "
              "'3998'");
  expectError(oneApp("on_demand: { listen: [\"127.0.0.1:3998\"], target: \"127.0.0.1:3001\" }"),
              "tend.yaml:4:54: on_demand.target: expected http://host:port such as "
              "http://127.0.0.1:3001, got '127.0.0.1:3001'");
}

TEST(AppValidation, OnDemandNeedsARouteAndATarget) {
  expectError(oneApp("port: 1\non_demand: { idle_timeout: 1m }"),
              "tend.yaml:5:16: on_demand: needs hosts (or listen) so that requests can reach the "
              "app");
  expectError(oneApp("on_demand: { hosts: [a.localhost] }"),
              "tend.yaml:4:5: on_demand needs to know where the app listens: give the app a port "
              "or set on_demand.target");
  EXPECT_TRUE(
      appOf("on_demand: { hosts: [a.localhost], target: \"http://127.0.0.1:9/\" }").on_demand);
}

TEST(AppValidation, RefusesBadOnDemandTimings) {
  expectError(oneApp("port: 1\non_demand: { hosts: [a.b], idle_timeout: 0s }"),
              "tend.yaml:5:46: on_demand.idle_timeout: must be longer than 0ms");
  expectError(oneApp("port: 1\non_demand: { hosts: [a.b], loading_page: on }"),
              "tend.yaml:5:46: on_demand.loading_page: expected true or false, got 'on' (write "
              "true)");
}

TEST(ConfigValidation, RefusesAHostRoutedToTwoApps) {
  expectError(
      "apps:\n"
      "  - name: a\n    run: x\n    port: 1\n    on_demand: { hosts: [a.localhost] }\n"
      "  - name: b\n    run: x\n    port: 2\n    on_demand: { hosts: [A.localhost] }\n",
      "tend.yaml:9:26: on_demand.hosts: 'a.localhost' already routes to app 'a' (line 5)");
}

TEST(ConfigValidation, RefusesAnOnDemandListenPortTakenByAnotherApp) {
  expectError(
      "apps:\n"
      "  - name: a\n    run: x\n    port: 3998\n"
      "  - name: b\n    run: x\n    port: 2\n"
      "    on_demand: { listen: [127.0.0.1:3998] }\n",
      "tend.yaml:8:27: port 3998 is already taken by app 'a' (port 3998, line 4)");
}

// --- validateApp and the canonical JSON ----------------------------------------------------------

AppSpec fullSpec() {
  AppSpec s;
  s.name = "api";
  s.argv = {"node", "server.js", "--flag=a b"};
  s.run_shell = false;
  s.cwd = "/srv/api";
  s.env = {{"A_FIRST", "1"}, {"B_SECOND", "two words"}, {"C_EMPTY", ""}};
  s.instances = 3;
  s.port = {PortSpec::Kind::Range, 3001, 3003};
  s.autorestart = AutoRestart::OnFailure;
  s.restart_delay = 250ms;
  s.backoff = {200ms, 1min, 1.5};
  s.max_restarts = 7;
  s.restart_window = 10min;
  s.min_uptime = 2s;
  s.stop_signal = SIGINT;
  s.kill_timeout = 1500ms;
  s.logs = {3u << 20, 3, false, "/var/log/api.out", "/var/log/api.err"};
  s.max_memory = 512ull << 20;
  s.watch = {"src/", "lib/"};
  s.ignore_watch = {"node_modules"};
  s.cron_restart = "0 4 * * *";
  s.depends_on = {{"db", DependencyCondition::Ready},
                  {"migrate", DependencyCondition::Completed},
                  {"cache", DependencyCondition::Started}};
  ProbeSpec ready;
  ready.tcp = 3001;
  ready.timeout = 20s;
  s.ready = ready;
  ProbeSpec health;
  health.http = "http://127.0.0.1:3001/health";
  health.expect_status = 204;
  health.timeout = 2s;
  health.interval = 5s;
  health.failures = 4;
  s.health = health;
  OnDemandSpec od;
  od.hosts = {"api.localhost", "*.api.test"};
  od.listen = {"127.0.0.1:3998"};
  od.target = "http://127.0.0.1:3001";
  od.idle_timeout = 10min;
  od.start_timeout = 20s;
  od.loading_page = true;
  od.socket_activation = true;
  od.balance = BalanceMode::LeastConn;
  s.on_demand = od;
  return s;
}

AppSpec roundTrip(const AppSpec& spec) {
  auto back = validateApp(fromJson(toJson(spec)), "", "/elsewhere");
  EXPECT_TRUE(back.has_value()) << (back ? "" : back.error().front().format());
  return back ? *back : AppSpec{};
}

TEST(CanonicalJson, RoundTripsASpecWithEveryFieldSet) {
  const AppSpec spec = fullSpec();
  EXPECT_EQ(roundTrip(spec), spec);
}

TEST(CanonicalJson, RoundTripsAServiceTendDoesNotSpawn) {
  AppSpec s;
  s.name = "legacy";
  s.cwd = "/";
  s.start_cmd = "docker start legacy";
  s.stop_cmd = "docker stop legacy";
  s.check_cmd = "docker inspect legacy | grep -q true";
  s.on_demand = OnDemandSpec{};
  s.on_demand->hosts = {"legacy.localhost"};
  s.on_demand->target = "http://127.0.0.1:8081";
  EXPECT_EQ(roundTrip(s), s);
}

TEST(CanonicalJson, RoundTripsEveryVariantOfTheChoices) {
  AppSpec s;
  s.name = "v";
  s.cwd = "/tmp";
  s.argv = {"/bin/sh", "-c", "echo $PORT && sleep 1"};
  s.run_shell = true;
  s.instances_max = true;
  s.port = {PortSpec::Kind::Auto, PortSpec::kAutoFirst, PortSpec::kAutoLast};
  s.autorestart = AutoRestart::Never;
  s.stop_signal = SIGRTMIN + 2;
  ProbeSpec ready;
  ready.notify = true;
  s.ready = ready;
  ProbeSpec health;
  health.exec = "./check.sh";
  s.health = health;
  EXPECT_EQ(roundTrip(s), s);
  s.port = {PortSpec::Kind::Auto, 4000, 4100};
  s.instances_max = false;
  s.instances = 1;
  s.port = {PortSpec::Kind::Fixed, 80, 80};
  s.autorestart = AutoRestart::Always;
  s.ready->notify = false;
  s.ready->http = "http://localhost/";
  EXPECT_EQ(roundTrip(s), s);
  s.port = {PortSpec::Kind::Auto, 4000, 4100};
  EXPECT_EQ(roundTrip(s), s);
}

TEST(CanonicalJson, WritesTheDocumentedShapes) {
  const nlohmann::json j = toJson(fullSpec());
  EXPECT_EQ(j["run"], nlohmann::json({"node", "server.js", "--flag=a b"}));
  EXPECT_EQ(j["port"], "3001-3003");
  EXPECT_EQ(j["autorestart"], "on-failure");
  EXPECT_EQ(j["restart_delay"], "250ms");
  EXPECT_EQ(j["kill_timeout"], "1500ms");
  EXPECT_EQ(j["restart_window"], "10m");
  EXPECT_EQ(j["backoff"]["multiplier"], 1.5);
  EXPECT_EQ(j["stop_signal"], "SIGINT");
  EXPECT_EQ(j["max_memory"], "536870912");
  EXPECT_EQ(j["logs"]["max_size"], "3145728");
  EXPECT_EQ(j["env"]["B_SECOND"], "two words");
  EXPECT_EQ(j["ready"], nlohmann::json({{"tcp", 3001}, {"timeout", "20s"}}));
  EXPECT_FALSE(j.contains("env_file"));
  EXPECT_FALSE(j.contains("start"));

  AppSpec shell = fullSpec();
  shell.argv = {"/bin/sh", "-c", "node server.js"};
  shell.run_shell = true;
  shell.port = {PortSpec::Kind::Fixed, 3001, 3001};
  shell.instances = 1;
  const nlohmann::json k = toJson(shell);
  EXPECT_EQ(k["run"], "node server.js");
  EXPECT_EQ(k["port"], 3001);
}

TEST(CanonicalJson, ThePortFormsFollowTheConfigSpelling) {
  AppSpec s = fullSpec();
  s.port = {PortSpec::Kind::Auto, PortSpec::kAutoFirst, PortSpec::kAutoLast};
  EXPECT_EQ(toJson(s)["port"], "auto");
  s.port = {PortSpec::Kind::Auto, 4000, 4100};
  EXPECT_EQ(toJson(s)["port"], "auto:4000-4100");
  s.port = {};
  EXPECT_FALSE(toJson(s).contains("port"));
}

TEST(CanonicalJson, EnvKeepsItsPairsThoughJsonObjectsSortKeys) {
  AppSpec s = fullSpec();
  s.env = {{"ZED", "1"}, {"ALPHA", "2"}};
  const AppSpec back = roundTrip(s);
  EXPECT_EQ(back.env,
            (std::vector<std::pair<std::string, std::string>>{{"ALPHA", "2"}, {"ZED", "1"}}));
}

TEST(ValidateApp, ReportsErrorsWithoutAFileWhenThereIsNone) {
  const nlohmann::json j = {{"name", "a"}, {"run", "x"}, {"instances", 0}};
  auto result = validateApp(fromJson(j), "", "/");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().front().format(), "instances: must be at least 1, got 0");
}

TEST(ValidateApp, RefusesNumbersWrittenAsFloatsWhereIntegersAreNeeded) {
  const nlohmann::json j = {{"name", "a"}, {"run", "x"}, {"instances", 2.0}};
  auto result = validateApp(fromJson(j), "", "/");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().front().format(),
            "instances: expected a number from 1 to 1024 or \"max\", got '2.0'");
}

TEST(ValidateApp, DoesNotCheckDependenciesItCannotSee) {
  const nlohmann::json j = {{"name", "a"}, {"run", "x"}, {"depends_on", {"db"}}};
  EXPECT_TRUE(validateApp(fromJson(j), "", "/"));
}

// --- suggestions -------------------------------------------------------------------------------

TEST(SuggestNearest, CountsATranspositionAsOneEdit) {
  EXPECT_EQ(suggestNearest("restrat_delay", {"restart_window", "restart_delay"}), "restart_delay");
  EXPECT_EQ(suggestNearest("naem", {"name", "env"}), "name");
}

TEST(SuggestNearest, IgnoresCase) {
  EXPECT_EQ(suggestNearest("Name", {"name"}), "name");
}

TEST(SuggestNearest, ReturnsNothingWhenNothingIsClose) {
  EXPECT_EQ(suggestNearest("colour", {"name", "run", "cwd"}), "");
  EXPECT_EQ(suggestNearest("xy", {"ab"}), "");
  EXPECT_EQ(suggestNearest("anything", {}), "");
  EXPECT_EQ(suggestNearest("", {"a"}), "");
}

TEST(SuggestNearest, AllowsMoreEditsForLongerWords) {
  EXPECT_EQ(suggestNearest("max_memmory_restrt", {"max_memory", "max_restarts"}), "");
  EXPECT_EQ(suggestNearest("restart_dlay", {"restart_delay"}), "restart_delay");
  EXPECT_EQ(suggestNearest("rstrt_dlay", {"restart_delay"}), "restart_delay");
}

TEST(SuggestNearest, PrefersTheClosestCandidate) {
  EXPECT_EQ(suggestNearest("timout", {"timeout", "timestamps"}), "timeout");
}

// --- the shipped examples ----------------------------------------------------------------------

TEST(ExampleConfig, ValidatesAsWritten) {
  TempDir dir;
  auto root = parseConfigText(exampleConfig(), ConfigFormat::Yaml, "tend.yaml");
  ASSERT_TRUE(root) << root.error().front().format();
  auto config = validateConfig(*root, "tend.yaml", dir.path());
  ASSERT_TRUE(config) << ::testing::PrintToString([&] {
    std::vector<std::string> out;
    for (const auto& e : config.error()) out.push_back(e.format());
    return out;
  }());
  EXPECT_GE(config->apps.size(), 2u);
  EXPECT_TRUE(config->gateway);
}

TEST(ExampleConfig, ShowsMostKeys) {
  for (const char* key :
       {"run:",         "cwd:",           "env:",          "instances:",    "port:",
        "autorestart:", "restart_delay:", "backoff:",      "max_restarts:", "restart_window:",
        "min_uptime:",  "stop_signal:",   "kill_timeout:", "max_memory:",   "cron_restart:",
        "depends_on:",  "ready:",         "health:",       "logs:",         "on_demand:",
        "env_file:",    "watch:",         "start:"}) {
    EXPECT_NE(exampleConfig().find(key), std::string::npos) << key;
  }
}

TEST(ExampleConfig, ShowsTheSupervisorsHooksPriorityUserAndLogFormat) {
  std::string text = exampleConfig();
  for (const char* key :
       {"# pre_start: ", "# post_start: ", "# nice: ", "# user: ", "# format: json"})
    EXPECT_NE(text.find(key), std::string::npos) << key;
  // Uncommented (with a user every machine has), they validate.
  for (const char* key : {"pre_start", "post_start", "nice", "format"}) {
    const size_t at = text.find(fmt::format("# {}: ", key));
    ASSERT_NE(at, std::string::npos) << key;
    text.erase(at, 2);
  }
  const size_t user = text.find("    # user: www-data");
  ASSERT_NE(user, std::string::npos);
  text.replace(user, std::strlen("    # user: www-data"), "    user: root        ");
  TempDir dir;
  auto root = parseConfigText(text, ConfigFormat::Yaml, "tend.yaml");
  ASSERT_TRUE(root) << root.error().front().format();
  auto config = validateConfig(*root, "tend.yaml", dir.path());
  ASSERT_TRUE(config) << config.error().front().format();
  const AppSpec& web = config->apps.front();
  EXPECT_FALSE(web.pre_start.empty());
  EXPECT_FALSE(web.post_start.empty());
  EXPECT_EQ(web.nice, 10);
  EXPECT_EQ(web.user, "root");
  EXPECT_EQ(web.logs.format, LogFormat::Json);
}

TEST(ExampleConfig, TheCommentedOutServiceValidatesOnceUncommented) {
  std::string text = exampleConfig();
  const size_t block = text.find("  # - name: legacy");
  ASSERT_NE(block, std::string::npos);
  std::string tail = text.substr(block);
  for (size_t at = 0; (at = tail.find("  # ", at)) != std::string::npos;) tail.replace(at, 4, "  ");
  text = text.substr(0, block) + tail;
  auto root = parseConfigText(text, ConfigFormat::Yaml, "tend.yaml");
  ASSERT_TRUE(root) << root.error().front().format();
  auto config = validateConfig(*root, "tend.yaml", "/base");
  ASSERT_TRUE(config) << config.error().front().format();
  EXPECT_EQ(config->apps.back().name, "legacy");
  EXPECT_EQ(config->apps.back().start_cmd, "docker start legacy");
}

TEST(ExampleConfig, TheExamplesFolderConfigValidates) {
  const std::filesystem::path file =
      std::filesystem::path(TEND_SOURCE_DIR) / "examples" / "tend.yaml";
  auto config = loadConfigFile(file.lexically_normal().string());
  ASSERT_TRUE(config) << config.error().front().format();
  EXPECT_GE(config->apps.size(), 2u);
  EXPECT_EQ(config->apps[0].cwd, file.lexically_normal().parent_path().string());
}

}  // namespace
}  // namespace tend

namespace tend {
namespace {

TEST(ConfigGroup, IsKeptAndRoundTripsThroughTheCanonicalJson) {
  AppSpec spec = appOf("group: backend");
  EXPECT_EQ(spec.group, "backend");
  auto again = validateApp(fromJson(toJson(spec)), "", "/base");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->group, "backend");
  EXPECT_FALSE(toJson(appOf("")).contains("group"));
}

TEST(ConfigGroup, FollowsTheRulesOfAppNames) {
  expectError(oneApp("group: 'a b'"),
              "tend.yaml:4:12: group: 'a b' may only use letters, digits, '.', '_' and '-'");
  expectError(oneApp("group: 42"),
              "tend.yaml:4:12: group: '42' is all digits and would be mistaken for an id");
  expectError(oneApp("group: all"), "tend.yaml:4:12: group: 'all' is reserved (tend stop all)");
}

TEST(ConfigGroup, MayNotBeTheNameOfAnApp) {
  expectError("apps:\n  - name: a\n    run: x\n  - name: b\n    run: x\n    group: a\n",
              "tend.yaml:6:12: group: 'a' is the name of an app (line 2); a group needs a name "
              "of its own");
  // Several apps share a group.
  EXPECT_TRUE(errorsOf("apps:\n  - name: a\n    run: x\n    group: g\n  - name: b\n    run: x\n"
                       "    group: g\n")
                  .empty());
}

TEST(ConfigGroup, PM2sNamespaceIsSuggested) {
  expectError(oneApp("namespace: backend"),
              "tend.yaml:4:5: unknown key 'namespace' (tend calls it 'group')");
}

TEST(Suggest, SeveralNearMissesNearestFirst) {
  const std::vector<std::string> commands = {"start", "stop", "status", "list", "ls", "restart"};
  EXPECT_EQ(suggestSeveral("stat", commands), (std::vector<std::string>{"start", "status"}));
  EXPECT_EQ(suggestSeveral("lst", commands), (std::vector<std::string>{"list", "ls"}));
  EXPECT_EQ(suggestSeveral("restrat", commands), (std::vector<std::string>{"restart"}));
  EXPECT_TRUE(suggestSeveral("xyzzy", commands).empty());
  EXPECT_TRUE(suggestSeveral("", commands).empty());
}

}  // namespace
}  // namespace tend
