// The command line: exit codes, help, config errors, init.

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

class Cli : public TendTest {};

TEST_F(Cli, ExitCodesAreZeroOneAndTwo) {
  EXPECT_EQ(tend({"--help"}).status, 0);
  EXPECT_EQ(tend({}).status, 2);
  EXPECT_EQ(tend({"frobnicate"}).status, 2);
  EXPECT_EQ(tend({"start"}).status, 2);
  EXPECT_EQ(tend({"logs", "--lines", "-3"}).status, 2);
  RunResult r = tend({"stop", "nothing-here"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no app named 'nothing-here'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"start", "stop", "restart", "delete", "list", "ls", "describe", "logs",
                          "ping", "kill", "init", "save", "resurrect", "daemon"}) {
    RunResult r = tend({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST_F(Cli, BadConfigIsRefusedWithItsLineAndNothingStarts) {
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: good
    run: ["{}", "sleep", "{}"]
    restrat_delay: 1s
  - name: bad
    run: "true"
    kill_timeout: 5
)",
                                                       testapp(), tag()));
  RunResult r = tend({"start", cfg});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tend.yaml:4:5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'restart_delay'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tend.yaml:7:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was started"), std::string::npos) << r.err;
  EXPECT_TRUE(list().empty());
  EXPECT_TRUE(processesWith(tag()).empty());
}

TEST_F(Cli, MalformedTomlAndJsonNameTheirPosition) {
  std::string toml = writeFile("tend.toml", "[[apps]]\nname = \"x\"\nrun = [\"a\"\n");
  RunResult t = tend({"start", toml});
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.err.find("tend.toml:"), std::string::npos) << t.err;
  std::string json = writeFile("tend.json", "{\"apps\": [\n  {\"name\": \"x\",, }\n]}\n");
  RunResult j = tend({"start", json});
  EXPECT_EQ(j.status, 1);
  EXPECT_NE(j.err.find("tend.json:2:"), std::string::npos) << j.err;
}

TEST_F(Cli, TomlAndJsonConfigsStartApps) {
  std::string toml = writeFile("tend.toml", fmt::format(R"([[apps]]
name = "from-toml"
run = ["{}", "sleep", "{}"]
)",
                                                        testapp(), tag()));
  std::string json = writeFile("tend.json", fmt::format(R"({{"apps": [
  {{"name": "from-json", "run": ["{}", "sleep", "{}"]}}
]}})",
                                                        testapp(), tag()));
  ASSERT_EQ(tend({"start", toml}).status, 0);
  ASSERT_EQ(tend({"start", json}).status, 0);
  EXPECT_EQ(instance("from-toml")["status"], "online");
  EXPECT_EQ(instance("from-json")["status"], "online");
}

TEST_F(Cli, InitWritesAnExampleThatLoads) {
  std::string path = dir_ + "/tend.yaml";
  RunResult r = tend({"init", path});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string text = readText(path);
  EXPECT_NE(text.find("#"), std::string::npos);
  EXPECT_NE(text.find("apps:"), std::string::npos);
  EXPECT_EQ(tend({"init", path}).status, 1);  // never overwrites silently
  EXPECT_EQ(tend({"init", path, "--force"}).status, 0);
}

TEST_F(Cli, ListTableHasNoColourWithoutATerminal) {
  ASSERT_EQ(tend({"start", testapp(), "--name", "web", "--", "sleep", tag()}).status, 0);
  RunResult r = tend({"list"});
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos);
  for (const char* column : {"id", "name", "mode", "pid", "status", "uptime", "cpu", "mem", "port"})
    EXPECT_NE(r.out.find(column), std::string::npos) << column;
  EXPECT_NE(r.out.find("online"), std::string::npos);
}

TEST_F(Cli, StartOptionsReachTheApp) {
  std::string envfile = dir_ + "/env";
  std::string cwd = dir_;
  RunResult r = tend({"start", testapp(), "--name", "opts", "--env", "A=1", "--env", "B=two words",
                      "--cwd", cwd, "--", "env", envfile, tag()});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(waitFor([&] { return !readText(envfile).empty(); }));
  std::string env = readText(envfile);
  EXPECT_NE(env.find("A=1\n"), std::string::npos);
  EXPECT_NE(env.find("B=two words\n"), std::string::npos);
  EXPECT_NE(env.find("CWD=" + cwd + "\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("TEND_HOME="), std::string::npos) << "the daemon's own TEND_ vars leak";
  RunResult bad = tend({"start", testapp(), "--name", "x", "--env", "novalue"});
  EXPECT_EQ(bad.status, 2);
}

TEST_F(Cli, ShellCommandStringsRunUnderSh) {
  RunResult r = tend({"start", fmt::format("exec {} sleep {}", testapp(), tag()), "--name", "sh"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(instance("sh")["status"], "online");
  EXPECT_EQ(processesWith(tag()).size(), 1u);
}

}  // namespace
}  // namespace tend::testing

namespace tend::testing {
namespace {

TEST_F(Cli, FlushEmptiesAnAppsLogs) {
  ASSERT_EQ(tend({"start", testapp(), "--name", "talker", "--", "print", "3", tag()}).status, 0);
  std::string out_log = home_ + "/logs/talker-0-out.log";
  ASSERT_TRUE(waitFor([&] { return readText(out_log).find("out line 3") != std::string::npos; }));
  RunResult r = tend({"flush", "talker"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(readText(out_log), "");
  EXPECT_EQ(tend({"flush", "nobody"}).status, 1);
}

TEST_F(Cli, StartsAPm2EcosystemFileAndNamesWhatItDoesNotSupport) {
  std::string eco = writeFile("ecosystem.json", fmt::format(R"({{
  "apps": [{{
    "name": "pm2app",
    "script": "{}",
    "args": ["env", "{}/env", "{}"],
    "env": {{ "GREETING": "hello" }},
    "env_production": {{ "GREETING": "prod" }},
    "max_memory_restart": "300M",
    "vizion": false
  }}]
}})",
                                                            testapp(), dir_, tag()));
  RunResult r = tend({"start", eco, "--env", "production"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("vizion"), std::string::npos) << r.err;
  EXPECT_EQ(instance("pm2app")["status"], "online");
  ASSERT_TRUE(waitFor([&] { return !readText(dir_ + "/env").empty(); }));
  EXPECT_NE(readText(dir_ + "/env").find("GREETING=prod\n"), std::string::npos);
}

TEST_F(Cli, StartupPrintsSystemdUnits) {
  RunResult r = tend({"startup"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Type=notify"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" daemon"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tend::testing
