#include "supervisor/apply_plan.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace tend {
namespace {

AppSpec app(const std::string& name, const std::string& run = "sleep 100") {
  AppSpec spec;
  spec.name = name;
  spec.argv = {"/bin/sh", "-c", run};
  spec.run_shell = true;
  spec.cwd = "/srv";
  return spec;
}

AppSpec withPort(AppSpec spec, uint16_t first, uint16_t last = 0) {
  spec.port = last ? PortSpec{PortSpec::Kind::Range, first, last}
                   : PortSpec{PortSpec::Kind::Fixed, first, first};
  return spec;
}

class ApplyPlanTest : public ::testing::Test {
 protected:
  PlanChecks checks() {
    return {[this](uint16_t port) { return !busy_ports.contains(port); },
            [this](const std::string& address) { return !busy_addresses.contains(address); }};
  }
  ApplyPlan plan() { return planApply(request, current, checks()); }
  void running(AppSpec spec, std::vector<uint16_t> ports = {}) {
    current.apps.push_back({std::move(spec), true, std::move(ports)});
  }
  void want(AppSpec spec, bool run = true) { request.apps.push_back({std::move(spec), run}); }

  PlanRequest request;
  PlanCurrent current;
  std::set<uint16_t> busy_ports;
  std::set<std::string> busy_addresses;
};

TEST_F(ApplyPlanTest, NewAppsAreAddedAndIdenticalOnesAreLeftUntouched) {
  running(app("web"));
  want(app("web"));
  want(app("worker"));
  ApplyPlan p = plan();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.apps.size(), 2u);
  EXPECT_EQ(p.find("web")->action, PlanAction::Unchanged);
  EXPECT_EQ(p.find("worker")->action, PlanAction::Add);
}

TEST_F(ApplyPlanTest, AChangedAppListsEachFieldThatDiffers) {
  running(withPort(app("web"), 3001));
  AppSpec next = withPort(app("web", "python3 -m http.server"), 3002);
  next.instances = 2;
  want(next);
  ApplyPlan p = plan();
  ASSERT_TRUE(p.ok());
  const PlannedApp* web = p.find("web");
  ASSERT_EQ(web->action, PlanAction::Change);
  std::map<std::string, std::pair<std::string, std::string>> fields;
  for (const auto& c : web->changes) fields[c.field] = {c.before, c.after};
  EXPECT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields["port"], std::make_pair(std::string("3001"), std::string("3002")));
  EXPECT_EQ(fields["instances"], std::make_pair(std::string("1"), std::string("2")));
  EXPECT_EQ(fields["run"].second, "python3 -m http.server");
}

TEST_F(ApplyPlanTest, ARunningAppWhoseCommandOrEnvChangedIsReloadedNotRestarted) {
  running(withPort(app("web"), 3001));
  AppSpec next = withPort(app("web", "node server.js"), 3001);
  next.env = {{"NODE_ENV", "production"}};
  want(next);
  EXPECT_TRUE(plan().find("web")->reload);
  request.apps[0].spec.instances = 2;  // more instances: not a reload
  EXPECT_FALSE(plan().find("web")->reload);
  request.apps[0].spec.instances = 1;
  request.apps[0].spec.port = PortSpec{PortSpec::Kind::Fixed, 3002, 3002};
  EXPECT_FALSE(plan().find("web")->reload);
  request.apps[0].spec.port = PortSpec{PortSpec::Kind::Fixed, 3001, 3001};
  current.apps[0].desired_running = false;  // stopped: started with the new spec
  EXPECT_FALSE(plan().find("web")->reload);
}

TEST_F(ApplyPlanTest, EnvChangesNameTheKeysButNeverTheValues) {
  AppSpec before = app("web");
  before.env = {{"KEEP", "1"}, {"SECRET", "hunter2"}, {"GONE", "x"}};
  AppSpec after = app("web");
  after.env = {{"KEEP", "1"}, {"SECRET", "swordfish"}, {"NEW", "y"}};
  auto changes = specChanges(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].field, "env");
  EXPECT_EQ(changes[0].after, "+NEW ~SECRET -GONE");
  running(before);
  want(after);
  std::string all = plan().toJson().dump();
  EXPECT_EQ(all.find("hunter2"), std::string::npos);
  EXPECT_EQ(all.find("swordfish"), std::string::npos);
}

TEST_F(ApplyPlanTest, AppsOutsideTheRequestAreKeptUnlessPruned) {
  running(app("web"));
  running(app("legacy"));
  want(app("web"));
  EXPECT_EQ(plan().find("legacy"), nullptr);
  request.prune = true;
  ApplyPlan p = plan();
  ASSERT_NE(p.find("legacy"), nullptr);
  EXPECT_EQ(p.find("legacy")->action, PlanAction::Remove);
}

TEST_F(ApplyPlanTest, APortHeldByAnAppOutsideTheFileIsAnError) {
  running(withPort(app("hello"), 8103), {8103});
  want(withPort(app("web"), 8101, 8104));
  want(app("other"));
  ApplyPlan p = plan();
  ASSERT_FALSE(p.ok());
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], "web: port 8103 is already assigned to app 'hello'");
}

TEST_F(ApplyPlanTest, AnAutoPortHeldOutsideTheFileCountsToo) {
  running(app("hello"), {20000});  // no port spec, but it holds 20000 (auto)
  want(withPort(app("web"), 20000));
  EXPECT_FALSE(plan().ok());
}

TEST_F(ApplyPlanTest, APortSomeOtherProcessListensOnIsAnError) {
  busy_ports = {4001};
  want(withPort(app("web"), 4000, 4003));  // one instance: only 4000 is taken by it
  EXPECT_TRUE(plan().ok());
  request.apps[0].spec.instances = 2;
  ApplyPlan p = plan();
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], "web: port 4001 is in use by another process (not one of tend's apps)");
}

TEST_F(ApplyPlanTest, AnAppsOwnPortsAreNotTakenByAnotherProcess) {
  busy_ports = {4000};  // its own process listens there
  running(withPort(app("web"), 4000), {4000});
  want(withPort(app("web", "other command"), 4000));
  EXPECT_TRUE(plan().ok()) << plan().errors.front();
}

TEST_F(ApplyPlanTest, AnUnchangedAppIsNotCheckedAgain) {
  busy_ports = {4000};
  running(withPort(app("web"), 4000), {});  // stopped, and something else took its port
  want(withPort(app("web"), 4000));
  EXPECT_TRUE(plan().ok());
}

TEST_F(ApplyPlanTest, AHostRoutedToAnAppOutsideTheFileIsAnError) {
  AppSpec legacy = app("legacy");
  legacy.on_demand = OnDemandSpec{};
  legacy.on_demand->hosts = {"api.localhost"};
  running(legacy);
  AppSpec api = app("api");
  api.on_demand = OnDemandSpec{};
  api.on_demand->hosts = {"api.localhost"};
  want(api, false);
  ApplyPlan p = plan();
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], "api: on_demand.hosts: 'api.localhost' already routes to app 'legacy'");
}

TEST_F(ApplyPlanTest, ADependencyMustExistAfterTheApply) {
  running(app("db"));
  AppSpec web = app("web");
  web.depends_on = {{"db"}};
  want(web);
  EXPECT_TRUE(plan().ok());
  request.prune = true;
  ApplyPlan p = plan();
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], "web: depends_on: there is no app named 'db' (it would be removed)");
}

TEST_F(ApplyPlanTest, AGatewayMoveIsPlannedAndItsAddressMustBeFree) {
  current.gateway_listen = {"127.0.0.1:8080"};
  request.gateway_listen = std::vector<std::string>{"127.0.0.1:8090"};
  ApplyPlan p = plan();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.moves.size(), 1u);
  EXPECT_EQ(p.moves[0].what, "gateway");
  EXPECT_EQ(p.moves[0].to, std::vector<std::string>{"127.0.0.1:8090"});
  busy_addresses = {"127.0.0.1:8090"};
  p = plan();
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0], "gateway.listen: 127.0.0.1:8090 is in use by another process");
}

TEST_F(ApplyPlanTest, TheSameAddressOrNoSectionMovesNothing) {
  current.gateway_listen = {"127.0.0.1:8080"};
  current.api_listen = {"127.0.0.1:9615"};
  busy_addresses = {"127.0.0.1:8080"};  // the gateway itself listens there
  request.gateway_listen = std::vector<std::string>{"127.0.0.1:8080"};
  ApplyPlan p = plan();
  EXPECT_TRUE(p.ok());
  EXPECT_TRUE(p.moves.empty());
}

TEST_F(ApplyPlanTest, ARefreshedInheritedEnvironmentIsAReloadShowingKeysOnly) {
  AppSpec before = app("web");
  before.inherited_env =
      std::vector<std::pair<std::string, std::string>>{{"PATH", "/bin"}, {"TOKEN", "old"}};
  AppSpec after = app("web");
  after.inherited_env =
      std::vector<std::pair<std::string, std::string>>{{"PATH", "/bin"}, {"TOKEN", "new"}};
  auto changes = specChanges(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].field, "inherited_env");
  EXPECT_EQ(changes[0].after, "~TOKEN");
  EXPECT_TRUE(reloadable(changes));
}

TEST(FormatPlan, ShowsEachAppAndEachMove) {
  PlanRequest request;
  PlanCurrent current;
  AppSpec web = app("web");
  current.apps.push_back({web, true, {}});
  web.instances = 3;
  request.apps.push_back({web, true});
  request.apps.push_back({app("api"), false});
  current.apps.push_back({app("db"), true, {}});
  request.apps.push_back({app("db"), true});
  current.gateway_listen = {"127.0.0.1:8080"};
  request.gateway_listen = std::vector<std::string>{"127.0.0.1:8090"};
  std::string text = formatPlan(planApply(request, current, {}).toJson());
  EXPECT_EQ(text,
            "~ web  restarted: instances 1 -> 3\n"
            "+ api  added (starts on its first request)\n"
            "= db   unchanged\n"
            "  gateway moves from 127.0.0.1:8080 to 127.0.0.1:8090\n");
}

}  // namespace
}  // namespace tend
