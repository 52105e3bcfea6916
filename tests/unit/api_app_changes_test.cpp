// What a command-line start or restart does to an app that may exist: the changes its
// options make, the one-owner-per-name rule, and the caller's environment.

#include "api/app_changes.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace tend {
namespace {

using nlohmann::json;

AppSpec specOf(const json& entry) {
  auto spec = validateApp(fromJson(entry), "", "/srv");
  EXPECT_TRUE(spec) << (spec ? "" : spec.error().front().format());
  return spec ? *spec : AppSpec{};
}

AppSpec web() {
  return specOf({{"name", "web"},
                 {"run", "python3 -m http.server"},
                 {"cwd", "/srv/web"},
                 {"instances", 2},
                 {"port", "3001-3002"},
                 {"env", {{"A", "1"}}},
                 {"inherited_env", {{"HOME", "/home/u"}, {"LANG", "C.UTF-8"}}}});
}

TEST(AppChanges, OptionsChangeOnlyTheirFields) {
  AppSpec before = web();
  auto after = withChanges(before, {{"port", "4001-4002"}, {"env", {{"B", "2"}}}});
  ASSERT_TRUE(after) << after.error();
  EXPECT_EQ(after->port.first, 4001);
  EXPECT_EQ(after->port.last, 4002);
  EXPECT_EQ(after->env, (EnvList{{"A", "1"}, {"B", "2"}}));
  EXPECT_EQ(after->instances, 2);
  EXPECT_EQ(after->argv, before.argv);
  EXPECT_EQ(after->inherited_env, before.inherited_env);  // kept, not the caller's
  AppSpec expected = before;
  expected.port = after->port;
  expected.env = after->env;
  EXPECT_EQ(*after, expected);
}

TEST(AppChanges, NoChangesGiveTheSameSpec) {
  auto same = withChanges(web(), json::object());
  ASSERT_TRUE(same) << same.error();
  EXPECT_EQ(*same, web());
}

TEST(AppChanges, InstancesMaxMemoryWatchAndCwd) {
  AppSpec single = specOf({{"name", "w"}, {"run", json::array({"worker"})}, {"cwd", "/a"}});
  auto after = withChanges(single, {{"instances", "max"},
                                    {"max_memory", "512M"},
                                    {"cwd", "/b"},
                                    {"watch", true},
                                    {"env", {{"A", "x"}}}});
  ASSERT_TRUE(after) << after.error();
  EXPECT_TRUE(after->instances_max);
  EXPECT_EQ(after->max_memory, 512ull << 20);
  EXPECT_EQ(after->cwd, "/b");
  EXPECT_EQ(after->watch, std::vector<std::string>{"/b"});  // the new working directory
  auto unwatched = withChanges(*after, {{"watch", false}});
  ASSERT_TRUE(unwatched);
  EXPECT_TRUE(unwatched->watch.empty());
}

TEST(AppChanges, BadChangesAreRefusedWithTheReason) {
  // A single port for two instances.
  auto r = withChanges(web(), {{"port", 3001}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("web: port 3001 is a single port but instances is 2"), std::string::npos)
      << r.error();
  EXPECT_FALSE(withChanges(web(), {{"run", "other"}}));
  EXPECT_FALSE(withChanges(web(), {{"port", json::array()}}));
  EXPECT_FALSE(withChanges(web(), {{"max_memory", "lots"}}));
}

TEST(AppChanges, AnotherCommandUnderATakenNameIsRefused) {
  AppSpec worker =
      specOf({{"name", "web"}, {"run", json::array({"/srv/worker.py"})}, {"cwd", "/srv/web"}});
  AppSpec existing = web();
  auto r = planCliStart({worker, json::object(), false, EnvList{}}, &existing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(),
            "app 'web' already exists and runs `python3 -m http.server`; use --force to replace "
            "it, or `tend restart web`");
}

TEST(AppChanges, TheSameCommandInAnotherFolderIsAnotherApp) {
  AppSpec elsewhere = web();
  elsewhere.cwd = "/tmp";
  AppSpec existing = web();
  auto r = planCliStart({elsewhere, json::object(), false, EnvList{}}, &existing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("runs `python3 -m http.server` in /srv/web;"), std::string::npos)
      << r.error();
}

TEST(AppChanges, ForceReplacesTheWholeSpecWithTheCallersEnvironment) {
  AppSpec worker = specOf({{"name", "web"}, {"run", json::array({"/srv/worker.py"})}});
  AppSpec existing = web();
  auto r = planCliStart({worker, json::object(), true, EnvList{{"X", "1"}}}, &existing);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->argv, worker.argv);
  EXPECT_EQ(r->instances, 1);
  EXPECT_EQ(r->inherited_env, (EnvList{{"X", "1"}}));
}

TEST(AppChanges, TheSameCommandAgainChangesOnlyWhatItsOptionsSay) {
  AppSpec again = web();
  again.instances = 1;  // the command line's default, not an option
  again.port = {};
  AppSpec existing = web();
  auto r = planCliStart({again, {{"env", {{"B", "2"}}}}, false, EnvList{{"X", "1"}}}, &existing);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->instances, 2);
  EXPECT_EQ(r->port, existing.port);
  EXPECT_EQ(r->env, (EnvList{{"A", "1"}, {"B", "2"}}));
  EXPECT_EQ(r->inherited_env, existing.inherited_env);
}

TEST(AppChanges, ANewAppGetsTheCallersEnvironment) {
  auto r = planCliStart({web(), json::object(), false, EnvList{{"X", "1"}}}, nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->inherited_env, (EnvList{{"X", "1"}}));
}

TEST(AppChanges, TheCallersEnvironmentLeavesOutTendsOwnAndSystemdsVariables) {
  EnvList env = inheritableEnv({{"PATH", "/bin"},
                                {"TEND_HOME", "/h"},
                                {"NOTIFY_SOCKET", "/run/x"},
                                {"WATCHDOG_USEC", "1"},
                                {"LISTEN_FDS", "1"},
                                {"EMPTY", ""},
                                {"NUMBER", 3}});
  EXPECT_EQ(env, (EnvList{{"EMPTY", ""}, {"PATH", "/bin"}}));
}

TEST(AppChanges, TheInheritedEnvironmentSurvivesTheCanonicalJson) {
  AppSpec spec = web();
  auto back = validateApp(fromJson(toJson(spec)), "", "/");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, spec);
  AppSpec none = specOf({{"name", "n"}, {"run", "x"}});
  EXPECT_FALSE(none.inherited_env);
  EXPECT_FALSE(toJson(none).contains("inherited_env"));
  AppSpec empty = none;
  empty.inherited_env.emplace();
  auto empty_back = validateApp(fromJson(toJson(empty)), "", "/");
  ASSERT_TRUE(empty_back);
  EXPECT_EQ(empty_back->inherited_env, EnvList{});  // an empty environment stays one
}

TEST(AppChanges, AConfigFileCannotSetTheInheritedEnvironment) {
  auto root = parseConfigText("apps:\n  - name: a\n    run: x\n    inherited_env: {A: b}\n",
                              ConfigFormat::Yaml, "tend.yaml");
  ASSERT_TRUE(root);
  auto config = validateConfig(*root, "tend.yaml", "/");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().front().message.find("unknown key 'inherited_env'"), std::string::npos);
}

}  // namespace
}  // namespace tend
