// How the daemon starts a process (src/supervisor/spawner.cpp): what the child gets (fds,
// environment, session, signal mask) and how a start that cannot run is reported.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class Spawn : public TendTest {
 protected:
  // What testapp's "inspect" mode wrote: its first line ("fds 0 1 2"), its values by key
  // ("pid", "SigBlk:"...) and its environment.
  struct Inspection {
    std::string fds;
    std::map<std::string, std::string> values;
    std::map<std::string, std::string> env;
  };

  Inspection inspect(const std::string& file) {
    std::string text;
    EXPECT_TRUE(waitFor([&] { return !(text = readText(file)).empty(); })) << file;
    Inspection in;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.starts_with("fds")) {
        in.fds = line;
      } else if (line.starts_with("env ")) {
        size_t eq = line.find('=');
        in.env[line.substr(4, eq - 4)] = line.substr(eq + 1);
      } else if (size_t sp = line.find_first_of(" \t"); sp != std::string::npos) {
        in.values[line.substr(0, sp)] = line.substr(line.find_first_not_of(" \t", sp));
      }
    }
    return in;
  }

  // Number of fds open in the daemon.
  int daemonFds() {
    int n = 0;
    if (DIR* d = ::opendir(fmt::format("/proc/{}/fd", daemonPid()).c_str())) {
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
      ::closedir(d);
    }
    return n;
  }

  // `tend start` of a config with one app; returns the command's result.
  RunResult startYaml(const std::string& app_yaml) {
    return tend({"start", writeFile("tend.yaml", "apps:\n" + app_yaml)});
  }

  void expectErroredWith(const std::string& app, const RunResult& r, const std::string& why) {
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    json i = instance(app);
    EXPECT_EQ(i.value("status", ""), "errored") << i;
    RunResult logs = tend({"logs", app, "--err", "--lines", "5"});
    EXPECT_NE(logs.out.find(why), std::string::npos) << logs.out;
  }
};

TEST_F(Spawn, AProgramNotInPathFailsClearlyAndTheInstanceEndsErrored) {
  RunResult r = startYaml(R"(  - name: ghost
    run: ["tend-no-such-program", "x"]
)");
  expectErroredWith("ghost", r, "cannot execute tend-no-such-program: not found in PATH");
}

TEST_F(Spawn, AMissingProgramPathFailsClearly) {
  RunResult r = startYaml(fmt::format(R"(  - name: ghost
    run: ["{}/missing", "x"]
)",
                                      dir_));
  expectErroredWith("ghost", r,
                    fmt::format("cannot execute {}/missing: No such file or directory", dir_));
}

TEST_F(Spawn, ADirectoryThatDoesNotExistFailsClearly) {
  RunResult r = startYaml(fmt::format(R"(  - name: lost
    run: ["{}", "sleep", "{}"]
    cwd: {}/no/such/dir
)",
                                      testapp(), tag(), dir_));
  expectErroredWith(
      "lost", r,
      fmt::format("cannot enter directory {}/no/such/dir: No such file or directory", dir_));
}

TEST_F(Spawn, AFileThatIsNotExecutableFailsClearly) {
  std::string script = writeFile("script.sh", "#!/bin/sh\necho hi\n");
  ASSERT_EQ(::chmod(script.c_str(), 0644), 0);
  RunResult r = startYaml(fmt::format(R"(  - name: plain
    run: ["{}"]
)",
                                      script));
  expectErroredWith("plain", r, fmt::format("cannot execute {}: Permission denied", script));
}

TEST_F(Spawn, AProgramFoundThroughARelativePathEntryRunsFromItsOwnDirectory) {
  std::string bin = dir_ + "/bin";
  ASSERT_EQ(::mkdir(bin.c_str(), 0755), 0);
  std::string out = dir_ + "/inspect";
  ASSERT_EQ(::symlink(testapp().c_str(), (bin + "/myapp").c_str()), 0);
  RunResult r = startYaml(fmt::format(R"(  - name: rel
    run: ["myapp", "inspect", "{}", "{}"]
    cwd: {}
    env: {{ PATH: "bin:/usr/bin:/bin" }}
)",
                                      out, tag(), dir_));
  ASSERT_EQ(r.status, 0) << r.err;
  Inspection in = inspect(out);
  EXPECT_EQ(in.values["pid"], std::to_string(instance("rel").value("pid", 0)));
}

TEST_F(Spawn, TheChildHasOnlyStdioItsOwnSessionAnEmptySignalMaskAndNoActivationVariables) {
  std::string out = dir_ + "/inspect";
  RunResult r = tend({"start", testapp(), "--name", "probe", "--", "inspect", out, tag()},
                     {{"LISTEN_FDS", "1"}, {"LISTEN_PID", "1"}});
  ASSERT_EQ(r.status, 0) << r.err;
  int pid = instance("probe").value("pid", 0);
  ASSERT_GT(pid, 0);
  Inspection in = inspect(out);
  EXPECT_EQ(in.fds, "fds 0 1 2");
  EXPECT_EQ(in.values["pid"], std::to_string(pid));
  EXPECT_EQ(in.values["pgid"], std::to_string(pid));  // the supervisor signals the group
  EXPECT_EQ(in.values["sid"], std::to_string(pid));
  EXPECT_EQ(in.values["SigBlk:"], "0000000000000000");
  EXPECT_EQ(in.values["SigIgn:"], "0000000000000000");  // the daemon ignores SIGPIPE
  EXPECT_EQ(in.env.count("LISTEN_FDS"), 0u);
  EXPECT_EQ(in.env.count("LISTEN_PID"), 0u);
  EXPECT_EQ(in.env["TEND_APP_NAME"], "probe");
}

TEST_F(Spawn, ASocketActivatedChildGetsFd3AndItsOwnPidInListenPid) {
  int gateway = freePortRun(2);
  std::string out = dir_ + "/inspect";
  std::string yaml = fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
apps:
  - name: sa
    run: ["{1}", "inspect", "{2}", "{3}"]
    port: {4}
    on_demand:
      hosts: [sa.localhost]
      socket_activation: true
)",
                                 gateway, testapp(), out, tag(), gateway + 1);
  ASSERT_EQ(tend({"start", writeFile("tend.yaml", yaml)}).status, 0);
  RunResult r = tend({"start", "sa"});
  ASSERT_EQ(r.status, 0) << r.err;
  int pid = instance("sa").value("pid", 0);
  ASSERT_GT(pid, 0);
  Inspection in = inspect(out);
  EXPECT_EQ(in.fds, "fds 0 1 2 3");
  EXPECT_EQ(in.env["LISTEN_FDS"], "1");
  EXPECT_EQ(in.env["LISTEN_PID"], std::to_string(pid));
  EXPECT_EQ(in.values["pid"], std::to_string(pid));
  // fd 3 is the listening socket on the app's port.
  std::string link(256, '\0');
  ssize_t n = ::readlink(fmt::format("/proc/{}/fd/3", pid).c_str(), link.data(), link.size());
  ASSERT_GT(n, 0);
  EXPECT_TRUE(link.starts_with("socket:")) << link;
}

TEST_F(Spawn, ManySpawnsLeakNoFileDescriptorsInTheDaemon) {
  // A program that exits at once, restarted without delay: many spawns, each with its
  // pipes; and a start that cannot run, on the error path.
  RunResult r = startYaml(fmt::format(R"(  - name: churn
    run: ["{}", "crash", "0", "0", "{}"]
    restart_delay: 0ms
    autorestart: true
    max_restarts: 1000000
    min_uptime: 0ms
)",
                                      testapp(), tag()));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(waitFor([&] { return instance("churn").value("restarts", 0) >= 5; }));
  ASSERT_EQ(tend({"stop", "churn"}).status, 0);
  int before = daemonFds();
  ASSERT_GT(before, 0);
  ASSERT_EQ(tend({"start", "churn"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return instance("churn").value("restarts", 0) >= 200; }, seconds(60)));
  ASSERT_EQ(tend({"stop", "churn"}).status, 0);
  for (int i = 0; i < 20; ++i) {
    RunResult bad = startYaml(R"(  - name: ghost
    run: ["tend-no-such-program"]
)");
    EXPECT_EQ(bad.status, 1);
  }
  ASSERT_EQ(tend({"delete", "ghost"}).status, 0);
  // Pipes of the last exits may still be draining: wait for the count to settle back.
  int after = 0;
  EXPECT_TRUE(waitFor([&] { return (after = daemonFds()) <= before; }))
      << before << " -> " << after;
}

}  // namespace
}  // namespace tend::testing
