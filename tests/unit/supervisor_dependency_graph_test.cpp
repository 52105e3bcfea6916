#include <gtest/gtest.h>

#include "supervisor/dependency_graph.hpp"

namespace tend {
namespace {

using Phase = DependencyState::Phase;
using Strings = std::vector<std::string>;

DependencyGraph chain() {
  // web -> api -> {db, migrate}; migrate -> db
  DependencyGraph g;
  g.set("web", {{"api"}});
  g.set("api", {{"db"}, {"migrate", DependencyCondition::Completed}});
  g.set("migrate", {{"db"}});
  return g;
}

TEST(DependencyGraph, StartsDependenciesBeforeTheAppsThatNeedThem) {
  DependencyGraph g = chain();
  EXPECT_EQ(g.startOrder("web"), (Strings{"db", "migrate", "api"}));
  EXPECT_EQ(g.startOrder("migrate"), (Strings{"db"}));
  EXPECT_TRUE(g.startOrder("db").empty());
  EXPECT_TRUE(g.startOrder("unknown").empty());
}

TEST(DependencyGraph, SortsASetDependenciesFirst) {
  DependencyGraph g = chain();
  EXPECT_EQ(g.sorted({"web", "api", "migrate", "db", "other"}),
            (Strings{"db", "migrate", "api", "web", "other"}));
  // Only the order within the set matters: web's dependency api is not in it.
  EXPECT_EQ(g.sorted({"web", "db"}), (Strings{"web", "db"}));
}

TEST(DependencyGraph, StopsDependentsFirstInLevels) {
  DependencyGraph g = chain();
  auto levels = g.stopLevels({"db", "migrate", "api", "web", "other"});
  ASSERT_EQ(levels.size(), 4u);
  EXPECT_EQ(levels[0], (Strings{"web", "other"}));
  EXPECT_EQ(levels[1], (Strings{"api"}));
  EXPECT_EQ(levels[2], (Strings{"migrate"}));
  EXPECT_EQ(levels[3], (Strings{"db"}));
}

TEST(DependencyGraph, AppsWithoutDependenciesStopTogether) {
  DependencyGraph g;
  auto levels = g.stopLevels({"a", "b", "c"});
  ASSERT_EQ(levels.size(), 1u);
  EXPECT_EQ(levels[0], (Strings{"a", "b", "c"}));
}

TEST(DependencyGraph, ACycleDoesNotHangIt) {
  DependencyGraph g;
  g.set("a", {{"b"}});
  g.set("b", {{"a"}});
  EXPECT_EQ(g.startOrder("a"), (Strings{"b"}));
  EXPECT_EQ(g.sorted({"a", "b"}).size(), 2u);
  size_t total = 0;
  for (const auto& level : g.stopLevels({"a", "b"})) total += level.size();
  EXPECT_EQ(total, 2u);
}

Gate gateWith(const std::vector<Dependency>& deps, std::map<std::string, DependencyState> states) {
  return DependencyGraph::gate(deps, [&](const std::string& name) {
    auto it = states.find(name);
    return it == states.end() ? DependencyState{Phase::Missing, ""} : it->second;
  });
}

TEST(DependencyGate, ReadyWaitsUntilEveryInstanceIsOnline) {
  std::vector<Dependency> deps = {{"db"}};
  Gate g = gateWith(deps, {{"db", {Phase::Started, ""}}});
  EXPECT_EQ(g.kind, Gate::Kind::Wait);
  EXPECT_EQ(g.reason, "waiting for db (ready)");
  EXPECT_EQ(gateWith(deps, {{"db", {Phase::Pending, ""}}}).kind, Gate::Kind::Wait);
  EXPECT_EQ(gateWith(deps, {{"db", {Phase::Ready, ""}}}).kind, Gate::Kind::Go);
}

TEST(DependencyGate, StartedGoesOnceTheProcessWasSpawned) {
  std::vector<Dependency> deps = {{"log", DependencyCondition::Started}};
  EXPECT_EQ(gateWith(deps, {{"log", {Phase::Pending, ""}}}).kind, Gate::Kind::Wait);
  EXPECT_EQ(gateWith(deps, {{"log", {Phase::Started, ""}}}).kind, Gate::Kind::Go);
  EXPECT_EQ(gateWith(deps, {{"log", {Phase::Ready, ""}}}).kind, Gate::Kind::Go);
  EXPECT_EQ(gateWith(deps, {{"log", {Phase::Completed, ""}}}).kind, Gate::Kind::Go);
}

TEST(DependencyGate, CompletedNeedsACleanExit) {
  std::vector<Dependency> deps = {{"migrate", DependencyCondition::Completed}};
  EXPECT_EQ(gateWith(deps, {{"migrate", {Phase::Ready, ""}}}).kind, Gate::Kind::Wait);
  EXPECT_EQ(gateWith(deps, {{"migrate", {Phase::Completed, ""}}}).kind, Gate::Kind::Go);
  Gate failed =
      gateWith(deps, {{"migrate", {Phase::Failed, "exited with code 1; autorestart is off"}}});
  EXPECT_EQ(failed.kind, Gate::Kind::Fail);
  EXPECT_EQ(failed.reason, "dependency migrate failed: exited with code 1; autorestart is off");
}

TEST(DependencyGate, FailsForAStoppedMissingOrExitedDependency) {
  EXPECT_EQ(gateWith({{"db"}}, {{"db", {Phase::Stopped, ""}}}).reason, "dependency db is stopped");
  EXPECT_EQ(gateWith({{"db"}}, {}).reason, "depends on 'db', which does not exist");
  Gate exited = gateWith({{"db"}}, {{"db", {Phase::Completed, ""}}});
  EXPECT_EQ(exited.kind, Gate::Kind::Fail);
  EXPECT_EQ(exited.reason, "dependency db exited (it must stay online)");
}

TEST(DependencyGate, NamesEveryDependencyItWaitsFor) {
  Gate g = gateWith({{"db"}, {"cache"}, {"migrate", DependencyCondition::Completed}},
                    {{"db", {Phase::Started, ""}},
                     {"cache", {Phase::Ready, ""}},
                     {"migrate", {Phase::Started, ""}}});
  EXPECT_EQ(g.kind, Gate::Kind::Wait);
  EXPECT_EQ(g.reason, "waiting for db (ready), migrate (completed)");
  EXPECT_EQ(DependencyGraph::gate({}, [](const std::string&) { return DependencyState{}; }).kind,
            Gate::Kind::Go);
}

}  // namespace
}  // namespace tend
