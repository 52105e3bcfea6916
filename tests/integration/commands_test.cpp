// Commands as PM2 users type them: groups as targets, several targets at once, relative
// scaling, --status, `tend start` with no file, near misses for unknown commands.

#include <fmt/format.h>

#include <algorithm>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;

class Commands : public TendTest {
 protected:
  // Three long-running apps: api and worker in group "backend", web in none.
  void startThree() {
    std::string yaml = fmt::format(R"(apps:
  - name: api
    group: backend
    run: ["{0}", "sleep", "api-{1}"]
  - name: worker
    group: backend
    run: ["{0}", "sleep", "worker-{1}"]
  - name: web
    run: ["{0}", "sleep", "web-{1}"]
)",
                                   testapp(), tag());
    RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }
  std::string status(const std::string& app) { return instance(app).value("status", ""); }
};

TEST_F(Commands, AGroupNameActsOnEveryAppOfTheGroup) {
  startThree();
  RunResult stop = tend({"stop", "backend"});
  ASSERT_EQ(stop.status, 0) << stop.err;
  EXPECT_EQ(status("api"), "stopped");
  EXPECT_EQ(status("worker"), "stopped");
  EXPECT_EQ(status("web"), "online");

  ASSERT_EQ(tend({"start", "backend"}).status, 0);
  EXPECT_EQ(status("api"), "online");
  EXPECT_EQ(status("worker"), "online");

  int web_pid = instance("web").value("pid", 0);
  int api_pid = instance("api").value("pid", 0);
  ASSERT_EQ(tend({"restart", "backend"}).status, 0);
  EXPECT_NE(instance("api").value("pid", 0), api_pid);
  EXPECT_EQ(instance("web").value("pid", 0), web_pid);

  // logs and flush take it too.
  RunResult logs = tend({"logs", "backend", "--lines", "5"});
  EXPECT_EQ(logs.status, 0) << logs.err;
  EXPECT_NE(logs.out.find("api[0]"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("worker[0]"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("web[0]"), std::string::npos) << logs.out;
  RunResult flush = tend({"flush", "backend"});
  EXPECT_EQ(flush.status, 0) << flush.err;
  EXPECT_NE(flush.out.find("emptied 4 log files"), std::string::npos) << flush.out;

  ASSERT_EQ(tend({"delete", "backend"}).status, 0);
  json all = list();
  ASSERT_EQ(all.size(), 1u) << all.dump();
  EXPECT_EQ(all[0]["name"], "web");
}

TEST_F(Commands, ListShowsAndFiltersByGroup) {
  startThree();
  json all = list();
  for (const auto& i : all) {
    if (i["name"] == "web")
      EXPECT_TRUE(i["group"].is_null()) << i.dump();
    else
      EXPECT_EQ(i["group"], "backend") << i.dump();
  }
  RunResult filtered = tend({"list", "--group", "backend", "--json"});
  ASSERT_EQ(filtered.status, 0) << filtered.err;
  json only = json::parse(filtered.out);
  ASSERT_EQ(only.size(), 2u) << filtered.out;
  for (const auto& i : only) EXPECT_EQ(i["group"], "backend");

  RunResult table = tend({"list"});
  EXPECT_NE(table.out.find("group"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("backend"), std::string::npos) << table.out;

  RunResult describe = tend({"describe", "api", "--json"});
  ASSERT_EQ(describe.status, 0) << describe.err;
  EXPECT_EQ(json::parse(describe.out)[0]["group"], "backend");
}

TEST_F(Commands, AGroupNamedLikeAnAppIsRefused) {
  std::string yaml = fmt::format(R"(apps:
  - name: api
    run: ["{0}", "sleep", "{1}"]
  - name: worker
    group: api
    run: ["{0}", "sleep", "{1}"]
)",
                                 testapp(), tag());
  RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tend.yaml:5:12: group: 'api' is the name of an app"), std::string::npos)
      << r.err;
  EXPECT_TRUE(list().empty());

  // Across files too: an app may not take the name of a running group.
  startThree();
  std::string clash = fmt::format(R"(apps:
  - name: backend
    run: ["{0}", "sleep", "{1}"]
)",
                                  testapp(), tag());
  RunResult c = tend({"start", writeFile("clash.yaml", clash)});
  EXPECT_EQ(c.status, 1);
  EXPECT_NE(c.err.find("backend: there is a group of that name"), std::string::npos) << c.err;
}

TEST_F(Commands, ChangingOnlyTheGroupRestartsNothing) {
  startThree();
  int api_pid = instance("api").value("pid", 0);
  std::string yaml = fmt::format(R"(apps:
  - name: api
    group: front
    run: ["{0}", "sleep", "api-{1}"]
)",
                                 testapp(), tag());
  RunResult r = tend({"start", writeFile("regroup.yaml", yaml)});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("changed (nothing restarted): group backend -> front"), std::string::npos)
      << r.out;
  EXPECT_EQ(instance("api").value("pid", 0), api_pid);
  EXPECT_EQ(instance("api")["group"], "front");
}

TEST_F(Commands, SeveralTargetsAtOnceAndAnUnknownOneIsReportedWhileTheOthersRun) {
  startThree();
  RunResult r = tend({"stop", "api", "nope", "web"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no app or group named 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 of 3 targets failed"), std::string::npos) << r.err;
  EXPECT_EQ(status("api"), "stopped");
  EXPECT_EQ(status("web"), "stopped");
  EXPECT_EQ(status("worker"), "online");

  // start takes several existing apps too.
  RunResult s = tend({"start", "api", "web"});
  EXPECT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(status("api"), "online");
  EXPECT_EQ(status("web"), "online");

  RunResult d = tend({"delete", "api", "web"});
  EXPECT_EQ(d.status, 0) << d.err;
  json all = list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["name"], "worker");
}

TEST_F(Commands, ScaleTakesARelativeCount) {
  ASSERT_EQ(tend({"start", testapp(), "--name", "web", "--", "sleep", tag()}).status, 0);
  RunResult up = tend({"scale", "web", "+2"});
  ASSERT_EQ(up.status, 0) << up.err;
  EXPECT_EQ(instancesOf("web").size(), 3u);
  RunResult down = tend({"scale", "web", "-1"});
  ASSERT_EQ(down.status, 0) << down.err;
  EXPECT_EQ(instancesOf("web").size(), 2u);
  ASSERT_EQ(tend({"scale", "web", "1"}).status, 0);
  RunResult below = tend({"scale", "web", "-1"});
  EXPECT_EQ(below.status, 1);
  EXPECT_NE(below.err.find("scale keeps at least 1"), std::string::npos) << below.err;
  RunResult above = tend({"scale", "web", "+1024"});
  EXPECT_EQ(above.status, 1);
  EXPECT_NE(above.err.find("the most is 1024"), std::string::npos) << above.err;
  RunResult bad = tend({"scale", "web", "+x"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(instancesOf("web").size(), 1u);
}

TEST_F(Commands, DeleteByStatusDeletesEveryAppInThatStatus) {
  startThree();
  std::string yaml = R"(apps:
  - name: broken
    run: ["/nonexistent/tend-test-program"]
)";
  tend({"start", writeFile("broken.yaml", yaml)});  // fails: the program cannot run
  ASSERT_EQ(status("broken"), "errored");
  ASSERT_EQ(tend({"stop", "web"}).status, 0);

  RunResult bad = tend({"delete", "--status", "erored"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--status takes one of"), std::string::npos) << bad.err;

  RunResult r = tend({"delete", "--status", "errored"});
  EXPECT_EQ(r.status, 0) << r.err;
  json all = list();
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(std::ranges::none_of(all, [](const json& i) { return i["name"] == "broken"; }));

  RunResult stopped = tend({"delete", "--status", "stopped"});
  EXPECT_EQ(stopped.status, 0) << stopped.err;
  EXPECT_TRUE(instancesOf("web").empty());
  EXPECT_EQ(instancesOf("api").size(), 1u);

  RunResult none = tend({"delete", "--status", "errored"});
  EXPECT_EQ(none.status, 0);
  EXPECT_NE(none.out.find("no app is errored"), std::string::npos) << none.out;
}

TEST_F(Commands, StartWithNoFileUsesTheConfigOfTheCurrentFolder) {
  auto start_here = [&](const std::string& folder) {
    return runProgram(
        {"sh", "-c",
         fmt::format("cd '{}' && TEND_HOME='{}' exec '{}' start", folder, home_, TEND_BINARY)});
  };
  std::string empty = dir_ + "/empty";
  runProgram({"mkdir", "-p", empty});
  RunResult none = start_here(empty);
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("no config file here"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("tend.yaml, tend.yml, tend.toml, tend.json, ecosystem.config.js, "
                          "ecosystem.json"),
            std::string::npos)
      << none.err;

  writeFile("tend.yml", fmt::format("apps:\n  - name: here\n    run: [\"{}\", \"sleep\", \"{}\"]\n",
                                    testapp(), tag()));
  RunResult r = start_here(dir_);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("using tend.yml"), std::string::npos) << r.err;
  EXPECT_EQ(status("here"), "online");
}

TEST_F(Commands, AnUnknownCommandNamesItsNearMisses) {
  RunResult r = tend({"stat"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown command 'stat'; did you mean 'start' or 'status'?"),
            std::string::npos)
      << r.err;
  RunResult far = tend({"xyzzy"});
  EXPECT_EQ(far.status, 2);
  EXPECT_NE(far.err.find("unknown command 'xyzzy'"), std::string::npos) << far.err;
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

TEST_F(Commands, MonitIntervalIsValidated) {
  RunResult r = tend({"monit", "--interval", "0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--interval takes seconds"), std::string::npos) << r.err;
  RunResult word = tend({"monit", "--interval", "soon"});
  EXPECT_EQ(word.status, 2);
  EXPECT_NE(word.err.find("'soon'"), std::string::npos) << word.err;
}

}  // namespace
}  // namespace tend::testing
