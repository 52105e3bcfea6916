// The supervisor's per-app features through the real binary: lifecycle hooks (pre_start,
// post_start), priority and identity (nice, user) and JSON log lines.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The lines of `text`.
std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string trimmed(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\n");
  size_t end = text.find_last_not_of(" \t\n");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

// Field `n` (1-based, as proc(5) numbers them) of /proc/PID/stat.
std::string statField(int pid, int n) {
  std::string stat = readText(fmt::format("/proc/{}/stat", pid));
  size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return "";
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= n && in >> field; ++i) {
  }
  return field;
}

// The value of `key:` in /proc/PID/status ("Uid", "Gid", "Groups").
std::string statusLine(int pid, const std::string& key) {
  for (const std::string& line : linesOf(readText(fmt::format("/proc/{}/status", pid))))
    if (line.starts_with(key + ":")) return line.substr(key.size() + 1);
  return "";
}

class Supervision : public TendTest {
 protected:
  std::string app_dir() const { return dir_ + "/app"; }
  void SetUp() override {
    TendTest::SetUp();
    std::filesystem::create_directories(app_dir());
  }
  // Starts one app "w" from a config with these extra keys (indented under it).
  RunResult startWith(const std::string& keys, const std::string& run = "") {
    std::string cfg = writeFile(
        "tend.yaml",
        fmt::format(R"(apps:
  - name: w
    run: {}
    cwd: {}
    env: {{ GREETING: hello }}
{})",
                    run.empty() ? fmt::format(R"(["{}", "sleep", "{}"])", testapp(), tag()) : run,
                    app_dir(), keys));
    return tend({"start", cfg});
  }
  std::string hooksLog() const { return readText(app_dir() + "/hooks.log"); }
  std::string outLog() const { return readText(home_ + "/logs/w-0-out.log"); }
  std::string errLog() const { return readText(home_ + "/logs/w-0-err.log"); }
  // The app's run: notes its start in hooks.log, then sleeps.
  std::string notingRun() const {
    return fmt::format(R"("echo app >> hooks.log; exec {} sleep {}")", testapp(), tag());
  }
};

// ---- pre_start / post_start ---------------------------------------------------------------

TEST_F(Supervision, PreStartRunsBeforeEveryStartInTheAppsFolderWithItsEnvironment) {
  RunResult r = startWith(
      R"y(    pre_start: 'echo "pre $TEND_INSTANCE $GREETING $(pwd)" >> hooks.log; echo migrating'
    post_start: 'echo "post $NODE_APP_INSTANCE" >> hooks.log'
)y",
      notingRun());
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string pre = fmt::format("pre 0 hello {}", app_dir());
  ASSERT_TRUE(waitFor([&] { return linesOf(hooksLog()).size() >= 3; })) << hooksLog();
  EXPECT_EQ(linesOf(hooksLog()).front(), pre);
  // Its output is in the instance's log.
  EXPECT_NE(outLog().find("migrating"), std::string::npos) << outLog();

  // A crash restart runs it again, and so does a user's restart.
  int pid = instance("w").value("pid", 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return linesOf(hooksLog()).size() >= 6; })) << hooksLog();
  ASSERT_EQ(tend({"restart", "w"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return linesOf(hooksLog()).size() >= 9; })) << hooksLog();
  // Each start: pre_start first; then the app and post_start (which runs once the instance
  // is online: without a ready probe, as soon as it is spawned) in either order.
  std::vector<std::string> lines = linesOf(hooksLog());
  ASSERT_EQ(lines.size(), 9u) << hooksLog();
  for (size_t start = 0; start < 9; start += 3) {
    EXPECT_EQ(lines[start], pre) << hooksLog();
    std::set<std::string> rest{lines[start + 1], lines[start + 2]};
    EXPECT_EQ(rest, (std::set<std::string>{"app", "post 0"})) << hooksLog();
  }
  EXPECT_EQ(instance("w").value("status", ""), "online");
}

TEST_F(Supervision, AFailingPreStartLeavesTheInstanceErroredWithTheReasonAndItsOutput) {
  startWith(R"(    pre_start: 'echo "no database" >&2; exit 3'
)",
            notingRun());
  ASSERT_TRUE(waitFor([&] { return instance("w").value("status", "") == "errored"; }))
      << list().dump();
  EXPECT_EQ(instance("w").value("reason", ""), "pre_start exited with code 3: no database");
  EXPECT_EQ(hooksLog(), "");  // the app never ran
  EXPECT_NE(errLog().find("no database"), std::string::npos) << errLog();
  RunResult d = tend({"describe", "w"});
  EXPECT_NE(d.out.find("pre_start exited with code 3: no database"), std::string::npos) << d.out;
  // Still errored a moment later: no restart loop.
  EXPECT_FALSE(waitFor([&] { return instance("w").value("status", "") != "errored"; }, seconds(2)));
}

TEST_F(Supervision, AFailingPostStartIsLoggedAndTheAppRunsOn) {
  ASSERT_EQ(startWith(R"(    post_start: 'echo "cache warm-up failed" >&2; exit 4'
)")
                .status,
            0);
  ASSERT_TRUE(waitFor([&] {
    return readText(home_ + "/daemon.log").find("post_start exited with code 4") !=
           std::string::npos;
  })) << readText(home_ + "/daemon.log");
  EXPECT_NE(readText(home_ + "/daemon.log").find("cache warm-up failed"), std::string::npos);
  EXPECT_NE(errLog().find("cache warm-up failed"), std::string::npos) << errLog();
  EXPECT_EQ(instance("w").value("status", ""), "online");
  EXPECT_EQ(instance("w").value("restarts", 0), 0);
}

TEST_F(Supervision, StoppingAnInstanceKillsItsRunningPreStart) {
  startWith(fmt::format(R"(    pre_start: 'echo $$ > pre.pid; exec {} sleep {}'
)",
                        testapp(), tag()),
            notingRun());
  ASSERT_TRUE(waitFor([&] { return !readText(app_dir() + "/pre.pid").empty(); }));
  int pre = std::stoi(readText(app_dir() + "/pre.pid"));
  remember(pre);
  EXPECT_EQ(instance("w").value("status", ""), "starting");
  EXPECT_EQ(instance("w").value("pid", 0), 0);
  ASSERT_EQ(tend({"stop", "w"}).status, 0);
  EXPECT_TRUE(waitFor([&] { return !processAlive(pre); })) << "pre_start still runs";
  EXPECT_EQ(instance("w").value("status", ""), "stopped");
  EXPECT_EQ(hooksLog(), "");
}

// ---- nice / user -----------------------------------------------------------------------------

TEST_F(Supervision, NiceIsTheProcessesPriority) {
  ASSERT_EQ(startWith("    nice: 7\n").status, 0);
  int pid = instance("w").value("pid", 0);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(statField(pid, 19), "7");
}

TEST_F(Supervision, UserRunsTheAppAsThatUserWithItsGroupsAndHome) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root (the CI runs as root)";
  // `nobody` can enter the app's folder and read the test app.
  std::filesystem::permissions(dir_, std::filesystem::perms::others_exec,
                               std::filesystem::perm_options::add);
  std::filesystem::permissions(app_dir(), std::filesystem::perms::others_all,
                               std::filesystem::perm_options::add);
  ASSERT_EQ(startWith("    user: nobody\n",
                      fmt::format(R"(["{}", "env", "{}/env", "{}"])", testapp(), app_dir(), tag()))
                .status,
            0);
  ASSERT_TRUE(waitFor([&] { return instance("w").value("status", "") == "online"; }))
      << list().dump();
  int pid = instance("w").value("pid", 0);
  ASSERT_GT(pid, 0);
  RunResult id = runProgram({"id", "-u", "nobody"});
  RunResult gid = runProgram({"id", "-g", "nobody"});
  const std::string uid = trimmed(id.out);
  const std::string group = trimmed(gid.out);
  EXPECT_EQ(statusLine(pid, "Uid"), fmt::format("\t{0}\t{0}\t{0}\t{0}", uid));
  EXPECT_EQ(statusLine(pid, "Gid"), fmt::format("\t{0}\t{0}\t{0}\t{0}", group));
  // Its supplementary groups are nobody's, not root's.
  RunResult groups = runProgram({"id", "-G", "nobody"});
  std::string expected;
  for (const std::string& g : linesOf(groups.out)) expected += g;
  std::string seen = statusLine(pid, "Groups");
  EXPECT_EQ(trimmed(seen), trimmed(expected)) << seen;
  ASSERT_TRUE(waitFor([&] { return !readText(app_dir() + "/env").empty(); }));
  std::string env = readText(app_dir() + "/env");
  EXPECT_NE(env.find("USER=nobody\n"), std::string::npos) << env;
  EXPECT_NE(env.find("LOGNAME=nobody\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("HOME=/root\n"), std::string::npos) << env;
}

TEST_F(Supervision, ADaemonThatIsNotRootRefusesAnotherUserRatherThanRunAsItself) {
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: w
    run: ["{}", "sleep", "{}"]
    cwd: {}
    user: root
)",
                                                       testapp(), tag(), app_dir()));
  // As root, the daemon is started as `nobody` (with a home of its own) to be the daemon
  // that is not root; otherwise it is simply this user's.
  std::vector<std::string> as_daemon;
  std::string home = home_;
  if (::geteuid() == 0) {
    const std::string uid = trimmed(runProgram({"id", "-u", "nobody"}).out);
    const std::string gid = trimmed(runProgram({"id", "-g", "nobody"}).out);
    home = dir_ + "/nobody-home";
    std::filesystem::create_directories(home);
    ASSERT_EQ(::chown(home.c_str(), static_cast<uid_t>(std::stoul(uid)),
                      static_cast<gid_t>(std::stoul(gid))),
              0);
    std::filesystem::permissions(dir_, std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
    as_daemon = {"setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups"};
  }
  auto tendAs = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = as_daemon;
    for (const std::string& a : {std::string("env"), "TEND_HOME=" + home, std::string("NO_COLOR=1"),
                                 std::string(TEND_BINARY)})
      argv.push_back(a);
    argv.insert(argv.end(), args.begin(), args.end());
    return runProgram(argv);
  };
  tendAs({"start", cfg});
  json inst;
  bool errored = waitFor([&] {
    json all = json::parse(tendAs({"list", "--json"}).out, nullptr, false);
    if (!all.is_array() || all.empty()) return false;
    inst = all[0];
    if (inst.value("pid", 0) > 0) remember(inst.value("pid", 0));
    return inst.value("status", "") == "errored";
  });
  RunResult killed = tendAs({"kill"});
  ASSERT_TRUE(errored) << inst.dump();
  EXPECT_EQ(inst.value("pid", 0), 0);
  EXPECT_NE(inst.value("reason", "")
                .find("user: cannot run as 'root' (uid 0): the daemon runs as "
                      "uid "),
            std::string::npos)
      << inst.dump();
  EXPECT_EQ(killed.status, 0) << killed.err;
}

// ---- logs: { format: json } -----------------------------------------------------------------

TEST_F(Supervision, JsonLogsAreOneObjectALineAndTendLogsShowsTheMessages) {
  ASSERT_EQ(startWith("    logs: { format: json }\n",
                      fmt::format(R"(["{}", "print", "2", "{}"])", testapp(), tag()))
                .status,
            0);
  ASSERT_TRUE(waitFor([&] { return outLog().find("out line 2") != std::string::npos; }));
  ASSERT_TRUE(waitFor([&] { return errLog().find("err line 2") != std::string::npos; }));
  std::vector<std::string> lines = linesOf(outLog());
  ASSERT_EQ(lines.size(), 2u) << outLog();
  for (int i = 0; i < 2; ++i) {
    json j = json::parse(lines[static_cast<size_t>(i)]);
    EXPECT_EQ(j["app"], "w");
    EXPECT_EQ(j["instance"], 0);
    EXPECT_EQ(j["stream"], "out");
    EXPECT_EQ(j["message"], fmt::format("out line {}", i + 1));
    // ISO-8601 with milliseconds, UTC: 2026-11-21T23:40:00.123Z
    std::string time = j.value("time", "");
    ASSERT_EQ(time.size(), 24u) << time;
    EXPECT_EQ(time[10], 'T');
    EXPECT_EQ(time[19], '.');
    EXPECT_EQ(time.back(), 'Z');
  }
  EXPECT_EQ(json::parse(linesOf(errLog()).at(0))["stream"], "err");

  // `tend logs` shows the messages, as it shows text logs; --raw the lines as stored.
  RunResult shown = tend({"logs", "w", "--out"});
  ASSERT_EQ(shown.status, 0) << shown.err;
  EXPECT_NE(shown.out.find(" out line 1\n"), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find("\"message\""), std::string::npos) << shown.out;
  RunResult raw = tend({"logs", "w", "--out", "--raw"});
  ASSERT_EQ(raw.status, 0) << raw.err;
  EXPECT_NE(raw.out.find(R"("message":"out line 1"})"), std::string::npos) << raw.out;
}

}  // namespace
}  // namespace tend::testing
