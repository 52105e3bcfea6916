// The command line: exit codes, help, config errors, init.

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

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

// ---- Changing what runs: one owner per name, options on an existing app, the caller's
// environment (SPEC.md, "Changing what runs").

std::set<int> pidsOf(const std::vector<nlohmann::json>& instances) {
  std::set<int> pids;
  for (const auto& i : instances) pids.insert(i.value("pid", 0));
  return pids;
}

TEST_F(Cli, StartHelpOffersForceDryRunAndPrune) {
  RunResult r = tend({"start", "--help"});
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--dry-run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--prune"), std::string::npos) << r.out;
  RunResult restart = tend({"restart", "--help"});
  EXPECT_NE(restart.out.find("--update-env"), std::string::npos) << restart.out;
  EXPECT_NE(restart.out.find("--port"), std::string::npos) << restart.out;
}

TEST_F(Cli, StartNameWithAPortChangesThatAppsPortAndKeepsIt) {
  int base = freePortRun(3);
  ASSERT_GT(base, 0);
  const std::string first = std::to_string(base), second = std::to_string(base + 1),
                    third = std::to_string(base + 2);
  RunResult r = tend({"start", testapp(), "--name", "web", "--port", first, "--", "listen", tag()});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(waitFor([&] { return instance("web")["status"] == "online"; }));

  // Was: `web` taken as a command to run, the app's spec replaced, and it errored.
  r = tend({"start", "web", "--port", second});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(waitFor([&] { return instance("web")["status"] == "online"; }))
      << instance("web").dump();
  EXPECT_EQ(instance("web")["port"], base + 1);
  EXPECT_EQ(instancesOf("web").size(), 1u);

  // Kept in the app's spec: a plain restart uses it.
  ASSERT_EQ(tend({"restart", "web"}).status, 0);
  EXPECT_TRUE(waitFor([&] { return instance("web")["status"] == "online"; }));
  EXPECT_EQ(instance("web")["port"], base + 1);

  // `restart NAME --port P --env K=V` changes those fields (kept), then restarts.
  int before = instance("web").value("pid", 0);
  r = tend({"restart", "web", "--port", third, "--env", "GREETING=hi"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(waitFor([&] { return instance("web")["status"] == "online"; }));
  EXPECT_EQ(instance("web")["port"], base + 2);
  EXPECT_NE(instance("web").value("pid", 0), before);
  RunResult d = tend({"describe", "web", "--json"});
  ASSERT_EQ(d.status, 0) << d.err;
  auto described = nlohmann::json::parse(d.out);
  EXPECT_EQ(described[0]["env_keys"], nlohmann::json::array({"GREETING"}));
  EXPECT_FALSE(described[0]["spec"].contains("env"));  // values stay in the daemon
  EXPECT_FALSE(described[0]["spec"].contains("inherited_env"));
  EXPECT_EQ(d.out.find("GREETING=hi"), std::string::npos);
  EXPECT_EQ(d.out.find("\"hi\""), std::string::npos);

  // An app's name is never taken for a program, not even with arguments.
  RunResult args = tend({"start", "web", "--", "listen"});
  EXPECT_EQ(args.status, 1);
  EXPECT_NE(args.err.find("'web' is an app, not a program"), std::string::npos) << args.err;
  EXPECT_EQ(instance("web")["port"], base + 2);
}

TEST_F(Cli, AnotherCommandUnderATakenNameIsRefusedUnlessForced) {
  RunResult r = tend({"start", testapp(), "--name", "api", "-i", "2", "--", "sleep", tag()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<int> before = pidsOf(instancesOf("api"));
  ASSERT_EQ(before.size(), 2u);

  // Was: exit 0, no message, and the 2-instance app became a single other command.
  RunResult other =
      tend({"start", fmt::format("exec {} sleep {}-worker", testapp(), tag()), "--name", "api"});
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("app 'api' already exists and runs `"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find("use --force to replace it, or `tend restart api`"), std::string::npos)
      << other.err;
  EXPECT_EQ(std::count(other.err.begin(), other.err.end(), '\n'), 1) << other.err;
  EXPECT_EQ(pidsOf(instancesOf("api")), before);

  // The same command again is that app: started (it runs: nothing changes), still 2.
  ASSERT_EQ(tend({"start", testapp(), "--name", "api", "--", "sleep", tag()}).status, 0);
  EXPECT_EQ(pidsOf(instancesOf("api")), before);

  RunResult forced = tend({"start", fmt::format("exec {} sleep {}-worker", testapp(), tag()),
                           "--name", "api", "--force"});
  ASSERT_EQ(forced.status, 0) << forced.err;
  auto now = instancesOf("api");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(before.count(now[0].value("pid", 0)), 0u);
  for (int pid : before) EXPECT_TRUE(waitFor([&] { return !processAlive(pid); })) << pid;
  EXPECT_TRUE(waitFor([&] { return processesWith(tag() + "-worker").size() == 1u; }));
}

TEST_F(Cli, TheCallersEnvironmentReachesTheAppsItStarts) {
  ASSERT_EQ(tend({"ping"}).status, 0);  // the daemon starts without MYVAR
  std::string out = dir_ + "/env-out";
  RunResult r =
      tend({"start", testapp(), "--name", "e", "--env", "OTHER=flag", "--", "env", out, tag()},
           {{"MYVAR", "from-shell"}, {"OTHER", "shell"}});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=from-shell\n"), std::string::npos) << readText(out);
  EXPECT_NE(readText(out).find("\nOTHER=flag\n"), std::string::npos);  // --env overrides it
  EXPECT_EQ(readText(out).find("TEND_HOME="), std::string::npos);

  // A plain restart keeps the stored environment.
  ::unlink(out.c_str());
  ASSERT_EQ(tend({"restart", "e"}, {{"MYVAR", "elsewhere"}}).status, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=from-shell\n"), std::string::npos) << readText(out);

  // --update-env takes this shell's; the app's own env still wins.
  ::unlink(out.c_str());
  ASSERT_EQ(tend({"restart", "e", "--update-env"}, {{"MYVAR", "updated"}}).status, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=updated\n"), std::string::npos) << readText(out);
  EXPECT_NE(readText(out).find("\nOTHER=flag\n"), std::string::npos);

  // Kept in the state database: a new daemon gives it the same.
  ASSERT_EQ(tend({"kill"}).status, 0);
  ::unlink(out.c_str());
  ASSERT_EQ(tend({"start", "e"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=updated\n"), std::string::npos) << readText(out);

  // A shell command sees it too (`MYVAR=x tend start 'echo $MYVAR'`).
  r = tend({"start", fmt::format("echo \"said $MYVAR\"; exec {} sleep {}", testapp(), tag()),
            "--name", "echo"},
           {{"MYVAR", "hello"}});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(waitFor([&] {
    return readText(home_ + "/logs/echo-0-out.log").find("said hello") != std::string::npos;
  })) << readText(home_ + "/logs/echo-0-out.log");
}

TEST_F(Cli, AConfigsNewAppsGetTheCallersEnvironmentAndItsEnvOverridesIt) {
  ASSERT_EQ(tend({"ping"}).status, 0);
  std::string out = dir_ + "/env-out";
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: cfg
    run: ["{0}", "env", "{1}", "{2}"]
    env: {{ OTHER: from-file }}
)",
                                                       testapp(), out, tag()));
  ASSERT_EQ(tend({"start", cfg}, {{"MYVAR", "first"}, {"OTHER", "shell"}}).status, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=first\n"), std::string::npos) << readText(out);
  EXPECT_NE(readText(out).find("\nOTHER=from-file\n"), std::string::npos) << readText(out);
  int pid = instance("cfg").value("pid", 0);

  // Applied again from another shell: not a change (same pid, same environment).
  ASSERT_EQ(tend({"start", cfg}, {{"MYVAR", "second"}}).status, 0);
  EXPECT_EQ(instance("cfg").value("pid", 0), pid);

  // restart FILE --update-env gives it the new one.
  ::unlink(out.c_str());
  ASSERT_EQ(tend({"restart", cfg, "--update-env"}, {{"MYVAR", "third"}}).status, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=third\n"), std::string::npos) << readText(out);
  EXPECT_NE(instance("cfg").value("pid", 0), pid);
}

TEST_F(Cli, TendHomeAndItsStateArePrivateWhateverTheUmask) {
  mode_t old = ::umask(0);
  ASSERT_EQ(::mkdir(home_.c_str(), 0755), 0);  // made by someone else, open to all
  RunResult r = tend({"start", testapp(), "--name", "m", "--", "print", "1", tag()});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(tend({"save"}).status, 0);
  ::umask(old);
  auto mode = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
  };
  EXPECT_EQ(mode(home_), 0700);
  EXPECT_EQ(mode(home_ + "/logs"), 0700);
  for (const char* file : {"/state.db", "/state.db-wal", "/state.db-shm", "/dump.json",
                           "/daemon.log", "/logs/m-0-out.log", "/logs/m-0-err.log"})
    EXPECT_EQ(mode(home_ + file), 0600) << file;
}

TEST_F(Cli, TextThatIsNotUtf8IsACleanErrorThatSaysWhere) {
  // In a config file: its line and column (the CLI used to abort in nlohmann::json).
  std::string yaml = writeFile("tend.yaml", "apps:\n  - name: a\n    run: \"echo \xff\"\n");
  RunResult r = tend({"start", yaml});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("tend.yaml:3:16: byte 0xFF is not UTF-8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was started"), std::string::npos) << r.err;
  // In an env_file: the env_file's line and column.
  writeFile("app.env", "GOOD=1\nSECRET=x\xfe\n");
  std::string with_env_file =
      writeFile("env.yaml", "apps:\n  - name: a\n    run: \"true\"\n    env_file: app.env\n");
  r = tend({"start", with_env_file});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("app.env:2:9: this line is not valid UTF-8"), std::string::npos) << r.err;
  // A NUL written as an escape: the whole message, past the NUL.
  std::string nul =
      writeFile("nul.yaml", "apps:\n  - name: a\n    run: x\n    env: {\"A\\0B\": 1}\n");
  r = tend({"start", nul});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("nul.yaml:4:11: apps[0].env.A\\0B: the key holds a NUL character"),
            std::string::npos)
      << r.err;
  // On the command line: which argument, shown with the byte escaped.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"start", "echo \xff"},
        std::vector<std::string>{"start", testapp(), "--env", "A=\xff"},
        std::vector<std::string>{"stop", "\xff"}}) {
    r = tend(args);
    EXPECT_EQ(r.status, 2) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find("is not valid UTF-8 (byte 0xFF)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\\xFF"), std::string::npos) << r.err;
  }
  // A TEND_HOME whose name is not UTF-8 (its paths travel as JSON): refused before anything.
  r = tend({"ping"}, {{"TEND_HOME", dir_ + "/home-\xff"}});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("TEND_HOME (" + dir_ + "/home-\\xFF) is not valid UTF-8"), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/home-\xff"));
  EXPECT_TRUE(list().empty());
}

TEST_F(Cli, AVariableOfTheCallersEnvironmentThatIsNotUtf8IsLeftOutAndNamed) {
  std::string out = dir_ + "/env-out";
  RunResult r = tend({"start", testapp(), "--name", "e", "--", "env", out, tag()},
                     {{"MYVAR", "fine"}, {"BADVAR", "latin1 \xe9t\xe9"}});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: the environment variable BADVAR is not valid UTF-8"),
            std::string::npos)
      << r.err;
  ASSERT_TRUE(waitFor([&] { return !readText(out).empty(); }));
  EXPECT_NE(readText(out).find("\nMYVAR=fine\n"), std::string::npos) << readText(out);
  EXPECT_EQ(readText(out).find("BADVAR"), std::string::npos) << readText(out);
}

}  // namespace
}  // namespace tend::testing

namespace tend::testing {
namespace {

TEST_F(Cli, ListAndDescribeSayWhatAPersonReads) {
  const int base = freePortRun(5);
  const std::string config =
      writeFile("tend.yaml", fmt::format(R"(gateway:
  listen: 127.0.0.1:{}
apps:
  - name: lazy
    run: ["{}", "listen", "{}"]
    port: {}
    max_memory: 200M
    on_demand: {{ hosts: [lazy.localhost], idle_timeout: 20s }}
  - name: apart
    run: ["{}", "listen", "{}"]
    instances: 2
    port: {}-{}
  - name: shared
    run: ["{}", "sleep", "{}"]
    instances: 2
    port: {}
    share_port: socket
)",
                                         base, testapp(), tag(), base + 1, testapp(), tag(),
                                         base + 2, base + 3, testapp(), tag(), base + 4));
  RunResult r = tend({"start", config});
  ASSERT_EQ(r.status, 0) << r.out << r.err;

  // A port each: separate processes, what PM2 calls fork mode with -i. "cluster" is kept
  // for instances behind one shared port, as Node's cluster module has them.
  EXPECT_EQ(instance("apart", 0)["mode"], "fork");
  EXPECT_EQ(instance("apart", 1)["mode"], "fork");
  EXPECT_EQ(instance("shared", 0)["mode"], "cluster");
  EXPECT_EQ(instance("lazy")["mode"], "on-demand");
  RunResult l = tend({"list"});
  ASSERT_EQ(l.status, 0) << l.err;
  EXPECT_NE(l.out.find("apart[0]"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("apart[1]"), std::string::npos) << l.out;
  EXPECT_EQ(l.out.find("lazy["), std::string::npos) << l.out;

  RunResult d = tend({"describe", "lazy"});
  ASSERT_EQ(d.status, 0) << d.err;
  // Was: "max memory │ 209715200", "idle timeout │ \"20s\"" and "[0] pid │ 0".
  EXPECT_NE(d.out.find("200.0mb"), std::string::npos) << d.out;
  EXPECT_EQ(d.out.find("209715200"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("│ 20s "), std::string::npos) << d.out;
  EXPECT_EQ(d.out.find("\"20s\""), std::string::npos) << d.out;
  EXPECT_EQ(d.out.find("pid"), std::string::npos) << d.out;
  EXPECT_EQ(d.out.find("\""), std::string::npos) << d.out;

  ASSERT_TRUE(waitFor([&] { return instance("apart", 1)["status"] == "online"; }));
  d = tend({"describe", "apart"});
  ASSERT_EQ(d.status, 0) << d.err;
  EXPECT_NE(d.out.find(fmt::format("[1] pid       │ {}", instance("apart", 1).value("pid", 0))),
            std::string::npos)
      << d.out;
}

}  // namespace
}  // namespace tend::testing

namespace tend::testing {
namespace {

TEST_F(Cli, ATendFileWithOnePm2KeyOrATypoSaysWhichAppAndWhatToWrite) {
  const std::string config = writeFile("tend.yaml", R"(apps:
  - name: a
    run: sleep 100
  - name: b
    script: b.js
  - name: c
    run: sleep 100
    scirpt: x
    enviroment: { A: "1" }
)");
  RunResult r = tend({"start", config});
  EXPECT_EQ(r.status, 1);
  // Was: read as a PM2 file, with the error on app 'a', which correctly used `run`.
  EXPECT_NE(r.err.find("tend.yaml:5:5: unknown key 'script' (tend calls it 'run')"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("tend.yaml:8:5: unknown key 'scirpt' (did you mean 'script'? tend calls "
                       "it 'run')"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("tend.yaml:9:5: unknown key 'enviroment' (did you mean 'environment'? "
                       "tend calls it 'env')"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("app 'a'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("PM2"), std::string::npos) << r.err;
  EXPECT_TRUE(list().empty());
}

}  // namespace
}  // namespace tend::testing
