// Changing what runs, end to end: an apply is planned and checked before anything changes,
// ports stay with their instance across reload and scale, and --wait tells the truth.

#include <signal.h>

#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class Apply : public TendTest {
 protected:
  std::vector<int> pids(const std::string& name) {
    std::vector<int> out;
    for (const auto& i : instancesOf(name)) out.push_back(i.value("pid", 0));
    return out;
  }
  std::vector<int> ports(const std::string& name) {
    std::vector<int> out;
    for (const auto& i : instancesOf(name))
      out.push_back(i["port"].is_number() ? i["port"].get<int>() : 0);
    return out;
  }
  bool allOnline(const std::string& name, size_t count) {
    auto all = instancesOf(name);
    return all.size() == count && std::ranges::all_of(all, [](const json& i) {
             return i.value("status", "") == "online";
           });
  }
  std::vector<std::string> names() {
    std::set<std::string> out;
    for (const auto& i : list()) out.insert(i.value("name", ""));
    return {out.begin(), out.end()};
  }
  // What answers on 127.0.0.1:port ("" when nothing does).
  std::string answer(int port, const std::string& host = "") {
    std::vector<std::string> args{"curl", "-s", "-m", "5", "--http0.9"};
    if (!host.empty()) args.insert(args.end(), {"-H", "Host: " + host});
    args.push_back(fmt::format("http://127.0.0.1:{}/", port));
    return runProgram(args).out;
  }
  std::string listenApp(const std::string& name, const std::string& port, int instances = 1) {
    return fmt::format(
        "  - name: {}\n    run: [\"{}\", \"listen\", \"{}\"]\n    port: {}\n"
        "    instances: {}\n",
        name, testapp(), tag(), port, instances);
  }
  std::string sleepApp(const std::string& name, const std::string& extra = "") {
    return fmt::format("  - name: {}\n    run: [\"{}\", \"sleep\", \"{}{}\"]\n", name, testapp(),
                       tag(), extra);
  }
};

TEST_F(Apply, AnApplyThatFailsItsChecksChangesNothingAtAll) {
  const int port = freePortRun(4);
  const int gateway = freePortRun(1), other_gateway = freePortRun(1);
  std::string first =
      writeFile("a.yaml", fmt::format("gateway:\n  listen: 127.0.0.1:{}\napps:\n", gateway) +
                              listenApp("hello", std::to_string(port + 2)) + sleepApp("keep"));
  RunResult r = tend({"start", first, "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::vector<int> hello = pids("hello"), keep = pids("keep");

  // A second file: it changes `keep`, adds two apps and moves the gateway, but one of its
  // apps wants a port `hello` (not in the file) holds.
  std::string second = writeFile(
      "b.yaml", fmt::format("gateway:\n  listen: 127.0.0.1:{}\napps:\n", other_gateway) +
                    sleepApp("keep", "-changed") +
                    listenApp("web", fmt::format("{}-{}", port, port + 3), 3) + sleepApp("new"));
  r = tend({"start", second});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(fmt::format("web: port {} is already assigned to app 'hello'", port + 2)),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("nothing was changed"), std::string::npos) << r.err;
  // Not one app, not the gateway.
  EXPECT_EQ(names(), (std::vector<std::string>{"hello", "keep"}));
  EXPECT_EQ(pids("hello"), hello);
  EXPECT_EQ(pids("keep"), keep);
  EXPECT_NE(answer(gateway, "nobody.localhost").find("no app"), std::string::npos);
  EXPECT_EQ(answer(other_gateway, "nobody.localhost"), "");
  // The dry run says the same, and also changes nothing.
  r = tend({"start", second, "--dry-run"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_EQ(names(), (std::vector<std::string>{"hello", "keep"}));
}

TEST_F(Apply, ADryRunPrintsThePlanAndTheApplyDoesExactlyThat) {
  const int port = freePortRun(2), gateway = freePortRun(1);
  std::string first =
      writeFile("tend.yaml", "apps:\n" + listenApp("web", std::to_string(port)) + sleepApp("keep"));
  RunResult r = tend({"start", first, "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::vector<int> keep = pids("keep"), web = pids("web");

  std::string next =
      writeFile("next.yaml", fmt::format("gateway:\n  listen: 127.0.0.1:{}\napps:\n", gateway) +
                                 listenApp("web", fmt::format("{}-{}", port, port + 1), 2) +
                                 sleepApp("keep") + sleepApp("added"));
  r = tend({"start", next, "--dry-run"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const std::string& line :
       {std::string("~ web"), fmt::format("port {} -> {}-{}", port, port, port + 1),
        std::string("instances 1 -> 2"), std::string("= keep"), std::string("+ added"),
        fmt::format("gateway moves from (off) to 127.0.0.1:{}", gateway),
        std::string("nothing was changed")})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << " in:\n" << r.out;
  EXPECT_EQ(names(), (std::vector<std::string>{"keep", "web"}));
  EXPECT_EQ(pids("web"), web);

  RunResult plan = tend({"start", next, "--dry-run", "--json"});
  json parsed = json::parse(plan.out, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << plan.out;
  std::map<std::string, std::string> actions;
  for (const auto& a : parsed["apps"]) actions[a.value("name", "")] = a.value("action", "");
  EXPECT_EQ(actions, (std::map<std::string, std::string>{
                         {"web", "change"}, {"keep", "unchanged"}, {"added", "add"}}));

  r = tend({"start", next, "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Applied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+ added"), std::string::npos) << r.out;
  EXPECT_EQ(pids("keep"), keep) << "an unchanged app was touched";
  EXPECT_TRUE(allOnline("web", 2));
  EXPECT_EQ(ports("web"), (std::vector<int>{port, port + 1}));
  EXPECT_EQ(names(), (std::vector<std::string>{"added", "keep", "web"}));
  EXPECT_NE(answer(gateway, "nobody.localhost").find("no app"), std::string::npos);

  // The same file again: nothing to do, nothing touched.
  const std::vector<int> all_web = pids("web");
  r = tend({"start", next});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("~ "), std::string::npos) << r.out;
  EXPECT_EQ(pids("web"), all_web);
}

TEST_F(Apply, PruneRemovesTheAppsTheFileDoesNotDeclare) {
  std::string both = writeFile("both.yaml", "apps:\n" + sleepApp("a") + sleepApp("b"));
  ASSERT_EQ(tend({"start", both}).status, 0);
  std::string one = writeFile("one.yaml", "apps:\n" + sleepApp("a"));
  RunResult r = tend({"start", one});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(names(), (std::vector<std::string>{"a", "b"})) << "removed without being asked";
  r = tend({"start", one, "--prune"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("- b"), std::string::npos) << r.out;
  EXPECT_EQ(names(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(tend({"start", testapp(), "--prune"}).status, 2);  // not a config file
}

TEST_F(Apply, InstancesKeepTheirPortsAcrossReloadAndScale) {
  const int port = freePortRun(3);
  std::string cfg =
      writeFile("tend.yaml", "apps:\n" + listenApp("web", fmt::format("{}-{}", port, port + 2), 2));
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  const std::vector<int> expected{port, port + 1};
  ASSERT_EQ(ports("web"), expected);
  const std::vector<int> before = pids("web");
  for (int round = 0; round < 2; ++round) {
    RunResult r = tend({"reload", "web"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(ports("web"), expected) << "round " << round;
    EXPECT_TRUE(allOnline("web", 2));
  }
  for (size_t i = 0; i < before.size(); ++i) EXPECT_NE(pids("web")[i], before[i]);

  RunResult r = tend({"scale", "web", "3"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_TRUE(waitFor([&] { return allOnline("web", 3); }, seconds(20))) << list().dump();
  EXPECT_EQ(ports("web"), (std::vector<int>{port, port + 1, port + 2}));
  // Each instance answers on its own port, with its own process.
  for (int p : {port, port + 1, port + 2}) EXPECT_EQ(answer(p), "ok\n") << p;
  std::set<int> distinct;
  for (int pid : pids("web")) distinct.insert(pid);
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_EQ(processesWith(tag()).size(), 3u);
  ASSERT_EQ(tend({"reload", "web"}).status, 0);
  EXPECT_EQ(ports("web"), (std::vector<int>{port, port + 1, port + 2}));
}

TEST_F(Apply, AChangedEnvReloadsARunningAppOnItsPorts) {
  const int port = freePortRun(2);
  auto config = [&](const std::string& value) {
    return writeFile("tend.yaml", "apps:\n" +
                                      listenApp("web", fmt::format("{}-{}", port, port + 1), 2) +
                                      "    env: { MODE: " + value + " }\n");
  };
  ASSERT_EQ(tend({"start", config("one"), "--wait"}).status, 0);
  const std::vector<int> before = pids("web");
  RunResult r = tend({"start", config("two")});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("~ web  reloaded: env ~MODE"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("two"), std::string::npos) << "an env value was printed: " << r.out;
  // The reply came once every instance was replaced.
  EXPECT_TRUE(allOnline("web", 2)) << list().dump();
  EXPECT_EQ(ports("web"), (std::vector<int>{port, port + 1}));
  for (size_t i = 0; i < before.size(); ++i) EXPECT_NE(pids("web")[i], before[i]);
  RunResult d = tend({"describe", "web", "--json"});
  EXPECT_NE(d.out.find("reload"), std::string::npos) << d.out;
}

TEST_F(Apply, AnInstanceThatDoesNotComeBackEndsTheReloadWithTheReason) {
  const int port = freePortRun(2);
  const std::string flag = dir_ + "/broken";
  std::string cfg = writeFile(
      "tend.yaml",
      fmt::format("apps:\n  - name: web\n    run: [\"/bin/sh\", \"-c\", \"if [ -e {} ]; then echo "
                  "broken >&2; exit 3; fi; exec {} listen {}\"]\n    instances: 2\n"
                  "    port: {}-{}\n    max_restarts: 1\n",
                  flag, testapp(), tag(), port, port + 1));
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  const std::vector<int> before = pids("web");
  writeText(flag, "");
  RunResult r = tend({"reload", "web"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("web[0]: did not get back online after the reload's restart"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("exited with code 3"), std::string::npos) << r.err;
  // The reload stopped there: the second instance still runs its old process, on its port.
  EXPECT_EQ(pids("web")[1], before[1]);
  EXPECT_EQ(ports("web"), (std::vector<int>{port, port + 1}));
  EXPECT_EQ(answer(port + 1), "ok\n");
}

TEST_F(Apply, WaitCountsACompletedOneShotAsDone) {
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: migrate
    run: echo migrated {0}
    autorestart: false
  - name: web
    run: ["{1}", "sleep", "{0}"]
    depends_on: {{migrate: completed}}
)",
                                                       tag(), testapp()));
  RunResult r = tend({"start", cfg, "--wait"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(instance("migrate").value("status", ""), "stopped");
  EXPECT_EQ(instance("web").value("status", ""), "online");
}

TEST_F(Apply, WaitFailsWhenAnAppWithoutAPortExitsAtOnce) {
  RunResult r = tend({"start", "sh -c 'exit 1' " + tag(), "--name", "bad", "--wait"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("bad[0]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exited with code 1"), std::string::npos) << r.err;
  // One that stays up passes, once it has run min_uptime.
  r = tend({"start", testapp(), "--name", "good", "--wait", "--", "sleep", tag()});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(instance("good").value("status", ""), "online");
}

}  // namespace
}  // namespace tend::testing
