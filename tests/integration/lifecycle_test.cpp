// Starting, crashing, restarting, stopping and deleting real processes through the real
// binary.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class Lifecycle : public TendTest {
 protected:
  // Starts testapp in `mode` as app `name` and returns its first pid.
  int startApp(const std::string& name, const std::vector<std::string>& mode) {
    std::vector<std::string> args{"start", testapp(), "--name", name, "--"};
    for (const auto& m : mode) args.push_back(m);
    args.push_back(tag());
    RunResult r = tend(args);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    json i = instance(name);
    EXPECT_EQ(i.value("status", ""), "online") << i.dump();
    return i.value("pid", 0);
  }

  std::string configWith(const std::string& apps) {
    return writeFile("tend.yaml", "apps:\n" + apps);
  }
};

TEST_F(Lifecycle, StartedScriptIsOnlineWithARunningProcess) {
  int pid = startApp("web", {"sleep"});
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(processAlive(pid));
  json i = instance("web");
  EXPECT_EQ(i["restarts"], 0);
  EXPECT_EQ(i["on_demand"], false);
  EXPECT_TRUE(i["port"].is_null());
  EXPECT_TRUE(i.contains("cpu"));
  EXPECT_TRUE(i.contains("memory"));
  EXPECT_TRUE(i.contains("uptime_ms"));
}

TEST_F(Lifecycle, ProcessKilledWithSigkillIsRestartedWithANewPid) {
  int pid = startApp("web", {"sleep"});
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int fresh = 0;
  ASSERT_TRUE(waitFor([&] {
    json i = instance("web");
    fresh = i.value("pid", 0);
    return i.value("status", "") == "online" && fresh != pid && fresh > 0;
  })) << list().dump();
  EXPECT_TRUE(processAlive(fresh));
  EXPECT_FALSE(processAlive(pid));
  EXPECT_EQ(instance("web")["restarts"], 1);
  RunResult d = tend({"describe", "web", "--json"});
  EXPECT_NE(d.out.find("killed by SIGKILL"), std::string::npos) << d.out;
}

TEST_F(Lifecycle, AnAppOverMaxMemoryIsRestartedWithTheCauseRecorded) {
  std::string cfg = configWith(fmt::format(R"(  - name: hog
    run: ["{0}", "alloc", "300", "{1}"]
    max_memory: 150M
    max_restarts: 1
  - name: small
    run: ["{0}", "sleep", "{1}"]
    max_memory: 150M
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  // Restarted again and again (not a crash: max_restarts does not end it as errored).
  ASSERT_TRUE(waitFor([&] { return instance("hog").value("restarts", 0) >= 2; }, seconds(30)))
      << list().dump();
  EXPECT_NE(instance("hog").value("status", ""), "errored");
  RunResult d = tend({"describe", "hog", "--json"});
  json history = json::parse(d.out)[0]["restart_history"];
  ASSERT_FALSE(history.empty()) << d.out;
  EXPECT_NE(history[0].value("reason", "").find("over max_memory 150.0mb"), std::string::npos)
      << d.out;
  RunResult text = tend({"describe", "hog"});
  EXPECT_NE(text.out.find("max memory"), std::string::npos) << text.out;
  EXPECT_EQ(instance("small").value("restarts", -1), 0);
}

TEST_F(Lifecycle, CronRestartRestartsAtTheScheduledTimeWithTheCauseRecorded) {
  // PM2's six-field form, seconds first: every 2 s (a five-field schedule would make the
  // test wait for the next whole minute; the unit tests check both forms' times).
  std::string cfg = configWith(fmt::format(R"(  - name: nightly
    run: ["{0}", "sleep", "{1}"]
    cron_restart: "*/2 * * * * *"
  - name: other
    run: ["{0}", "sleep", "{1}"]
)",
                                           testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  int pid = instance("nightly").value("pid", 0);
  int other = instance("other").value("pid", 0);
  ASSERT_TRUE(waitFor([&] { return instance("nightly").value("restarts", 0) >= 2; }, seconds(20)));
  ASSERT_TRUE(waitFor([&] { return instance("nightly").value("status", "") == "online"; }));
  EXPECT_NE(instance("nightly").value("pid", 0), pid);
  EXPECT_FALSE(processAlive(pid));
  EXPECT_EQ(instance("other").value("pid", 0), other);
  RunResult d = tend({"describe", "nightly", "--json"});
  json history = json::parse(d.out)[0]["restart_history"];
  ASSERT_FALSE(history.empty()) << d.out;
  EXPECT_EQ(history[0].value("reason", ""), "cron_restart '*/2 * * * * *'") << d.out;
}

TEST_F(Lifecycle, ScaleAddsAndRemovesInstancesAtRunTimeWithTheirOwnPorts) {
  int base = freePortRun(4);
  // `listen`: the default ready probe connects to each instance's port.
  std::string cfg = configWith(fmt::format(R"(  - name: web
    run: ["{0}", "listen", "{1}"]
    instances: 2
    port: "{2}-{3}"
)",
                                           testapp(), tag(), base, base + 3));
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  std::vector<json> two = instancesOf("web");
  ASSERT_EQ(two.size(), 2u);
  int first_pid = two[0].value("pid", 0);

  RunResult up = tend({"scale", "web", "4"});
  ASSERT_EQ(up.status, 0) << up.out << up.err;
  std::vector<json> four = instancesOf("web");
  ASSERT_EQ(four.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(four[static_cast<size_t>(i)]["port"], base + i);
  ASSERT_TRUE(waitFor([&] {
    auto all = instancesOf("web");
    return std::ranges::all_of(all, [](const json& i) { return i["status"] == "online"; });
  })) << list().dump();
  EXPECT_EQ(four[0].value("pid", 0), first_pid);  // the running ones are left alone
  EXPECT_EQ(processesWith(tag()).size(), 4u);

  RunResult down = tend({"scale", "web", "1"});
  ASSERT_EQ(down.status, 0) << down.out << down.err;
  ASSERT_TRUE(waitFor([&] { return instancesOf("web").size() == 1u; })) << list().dump();
  EXPECT_EQ(instance("web").value("pid", 0), first_pid);
  EXPECT_TRUE(waitFor([&] { return processesWith(tag()).size() == 1u; }));

  // More instances than the port range holds, a bad count, an unknown app: errors, no change.
  RunResult too_many = tend({"scale", "web", "5"});
  EXPECT_NE(too_many.status, 0);
  EXPECT_NE(too_many.err.find("range"), std::string::npos) << too_many.err;
  EXPECT_NE(tend({"scale", "web", "zero"}).status, 0);
  EXPECT_NE(tend({"scale", "web", "0"}).status, 0);
  EXPECT_NE(tend({"scale", "nope", "2"}).status, 0);
  EXPECT_EQ(instancesOf("web").size(), 1u);
  EXPECT_EQ(processesWith(tag()).size(), 1u);
}

TEST_F(Lifecycle, CrashLoopEndsErroredAfterMaxRestarts) {
  std::string cfg = configWith(fmt::format(R"(  - name: crashy
    run: ["{}", "crash", "0", "3", "{}"]
    max_restarts: 3
    restart_window: 1m
    backoff: {{ initial: 10ms, max: 40ms, multiplier: 2 }}
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(waitFor([&] { return instance("crashy").value("status", "") == "errored"; }))
      << list().dump();
  json i = instance("crashy");
  EXPECT_EQ(i["restarts"], 3);
  EXPECT_EQ(i["pid"], 0);
  EXPECT_NE(i.value("reason", "").find("gave up after 3 restarts"), std::string::npos) << i;
  EXPECT_EQ(i["last_exit_code"], 3);
  // It stays errored: no more restarts happen.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(instance("crashy")["restarts"], 3);
}

TEST_F(Lifecycle, AutorestartFalseLeavesACrashedAppStopped) {
  std::string cfg = configWith(fmt::format(R"(  - name: once
    run: ["{}", "crash", "50", "1", "{}"]
    autorestart: false
)",
                                           testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return instance("once").value("status", "") == "stopped"; }));
  EXPECT_EQ(instance("once")["restarts"], 0);
}

TEST_F(Lifecycle, OnFailureRestartsOnlyFailures) {
  std::string cfg = configWith(fmt::format(R"(  - name: clean
    run: ["{0}", "crash", "50", "0", "{1}"]
    autorestart: on-failure
  - name: failing
    run: ["{0}", "crash", "50", "1", "{1}"]
    autorestart: on-failure
    backoff: {{ initial: 10ms, max: 10ms }}
)",
                                           testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return instance("clean").value("status", "") == "stopped"; }));
  ASSERT_TRUE(waitFor([&] { return instance("failing").value("restarts", 0) >= 2; }));
  EXPECT_EQ(instance("clean")["restarts"], 0);
}

TEST_F(Lifecycle, StopKillsTheWholeProcessGroupIncludingAStubbornGrandchild) {
  std::string pidfile = dir_ + "/grandchild.pid";
  std::string cfg = configWith(fmt::format(R"(  - name: parent
    run: ["{}", "grandchild", "{}", "{}"]
    kill_timeout: 300ms
)",
                                           testapp(), pidfile, tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(pidfile).empty(); }));
  pid_t grandchild = std::atoi(readText(pidfile).c_str());
  remember(grandchild);
  int parent = instance("parent").value("pid", 0);
  ASSERT_TRUE(processAlive(grandchild));
  RunResult r = tend({"stop", "parent"});
  ASSERT_EQ(r.status, 0) << r.err;
  // When `stop` returns, nothing of the group is left.
  EXPECT_FALSE(processAlive(parent));
  EXPECT_TRUE(waitFor([&] { return !processAlive(grandchild); }, seconds(2)));
  EXPECT_EQ(instance("parent")["status"], "stopped");
}

TEST_F(Lifecycle, StopEscalatesToSigkillAfterKillTimeout) {
  std::string cfg = configWith(fmt::format(R"(  - name: stubborn
    run: ["{}", "ignore-term", "{}"]
    kill_timeout: 200ms
)",
                                           testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  int pid = instance("stubborn").value("pid", 0);
  ASSERT_GT(pid, 0);
  RunResult r = tend({"stop", "stubborn"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(processAlive(pid));
  json d = json::parse(tend({"describe", "stubborn", "--json"}).out);
  EXPECT_EQ(d[0]["instances"][0]["last_exit_signal"], "SIGKILL");
}

TEST_F(Lifecycle, RestartReplacesTheProcess) {
  int pid = startApp("web", {"sleep"});
  RunResult r = tend({"restart", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  json i = instance("web");
  EXPECT_EQ(i["status"], "online");
  EXPECT_NE(i["pid"], pid);
  EXPECT_FALSE(processAlive(pid));
  EXPECT_EQ(i["restarts"], 1);
}

TEST_F(Lifecycle, StopThenStartByIdAndByAll) {
  startApp("a", {"sleep"});
  startApp("b", {"sleep"});
  int id = instance("a").value("id", 0);
  ASSERT_EQ(tend({"stop", "all"}).status, 0);
  EXPECT_EQ(instance("a")["status"], "stopped");
  EXPECT_EQ(instance("b")["status"], "stopped");
  EXPECT_TRUE(processesWith(tag()).empty());
  ASSERT_EQ(tend({"start", std::to_string(id)}).status, 0);
  EXPECT_EQ(instance("a")["status"], "online");
  EXPECT_EQ(instance("b")["status"], "stopped");
  ASSERT_EQ(tend({"restart", "all"}).status, 0);
  EXPECT_EQ(instance("b")["status"], "online");
}

TEST_F(Lifecycle, DeleteStopsAndForgetsTheApp) {
  int pid = startApp("web", {"sleep"});
  RunResult r = tend({"delete", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(processAlive(pid));
  EXPECT_TRUE(instancesOf("web").empty());
  RunResult again = tend({"stop", "web"});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("no app named 'web'"), std::string::npos) << again.err;
}

TEST_F(Lifecycle, InstancesGetOnePortEachFromARangeAndTheirOwnEnvironment) {
  int base = freePortRun(3);
  ASSERT_GT(base, 0);
  std::string cfg = configWith(fmt::format(R"(  - name: web
    run: ["sh", "-c", "exec {} env {}/env-$TEND_INSTANCE {}"]
    instances: 3
    port: "{}-{}"
    env: {{ GREETING: hello }}
)",
                                           testapp(), dir_, tag(), base, base + 2));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  auto all = instancesOf("web");
  ASSERT_EQ(all.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(all[static_cast<size_t>(i)]["port"], base + i);
    std::string path = fmt::format("{}/env-{}", dir_, i);
    ASSERT_TRUE(waitFor([&] { return !readText(path).empty(); })) << path;
    std::string env = readText(path);
    EXPECT_NE(env.find(fmt::format("PORT={}\n", base + i)), std::string::npos) << env;
    EXPECT_NE(env.find(fmt::format("TEND_PORT={}\n", base + i)), std::string::npos);
    EXPECT_NE(env.find(fmt::format("TEND_INSTANCE={}\n", i)), std::string::npos);
    EXPECT_NE(env.find(fmt::format("NODE_APP_INSTANCE={}\n", i)), std::string::npos) << env;
    EXPECT_NE(env.find("TEND_INSTANCES=3\n"), std::string::npos);
    EXPECT_NE(env.find("TEND_APP_NAME=web\n"), std::string::npos);
    EXPECT_NE(env.find("GREETING=hello\n"), std::string::npos);
  }
}

TEST_F(Lifecycle, TwoAppsNeverShareAPortAndATakenPortIsReported) {
  int base = freePortRun(2);
  ASSERT_GT(base, 0);
  RunResult first = tend(
      {"start", testapp(), "--name", "one", "--port", std::to_string(base), "--", "listen", tag()});
  ASSERT_EQ(first.status, 0) << first.err;
  RunResult second = tend(
      {"start", testapp(), "--name", "two", "--port", std::to_string(base), "--", "listen", tag()});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find(fmt::format("port {} is already assigned to app 'one'", base)),
            std::string::npos)
      << second.err;

  // A port some other process listens on is reported, not taken.
  int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(base + 1));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << "port " << base + 1 << ": " << std::strerror(errno);
  ASSERT_EQ(::listen(blocker, 1), 0);
  RunResult third = tend({"start", testapp(), "--name", "three", "--port", std::to_string(base + 1),
                          "--", "listen", tag()});
  ::close(blocker);
  EXPECT_EQ(third.status, 1);
  EXPECT_NE(third.err.find(fmt::format("port {} is in use by another process", base + 1)),
            std::string::npos)
      << third.err;
  EXPECT_NE(instance("three").value("status", ""), "online");
}

TEST_F(Lifecycle, AutoPortsAreDistinctAndFree) {
  std::string cfg = configWith(fmt::format(R"(  - name: a
    run: ["{0}", "listen", "{1}"]
    instances: 2
    port: auto
  - name: b
    run: ["{0}", "listen", "{1}"]
    port: auto
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<int> ports;
  for (const auto& i : list()) {
    ASSERT_TRUE(i["port"].is_number()) << i;
    ports.insert(i["port"].get<int>());
  }
  EXPECT_EQ(ports.size(), 3u);
  // Each instance really listens on its port (it would crash-loop otherwise).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (const auto& i : list()) EXPECT_EQ(i["restarts"], 0) << i;
}

TEST_F(Lifecycle, AStartCommandThatCannotRunFailsClearly) {
  std::string cfg = configWith(R"(  - name: ghost
    run: ["/nonexistent/program", "x"]
)");
  RunResult r = tend({"start", cfg});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot execute /nonexistent/program"), std::string::npos) << r.err;
  EXPECT_EQ(instance("ghost")["status"], "errored");
}

TEST_F(Lifecycle, ChildrenInheritNoDaemonFileDescriptors) {
  std::string fdfile = dir_ + "/fds";
  int pid = startApp("fds", {"fds", fdfile});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(waitFor([&] { return !readText(fdfile).empty(); }));
  EXPECT_EQ(readText(fdfile), "0\n1\n2\n");
}

TEST_F(Lifecycle, LogsHoldStdoutAndStderrWithTimestamps) {
  startApp("talker", {"print", "3"});
  RunResult r;
  ASSERT_TRUE(waitFor([&] {
    r = tend({"logs", "talker", "--lines", "10"});
    return r.out.find("err line 3") != std::string::npos &&
           r.out.find("out line 3") != std::string::npos;
  })) << r.out
      << r.err;
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("talker[0] out| "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("talker[0] err| "), std::string::npos) << r.out;
  // Each line carries an ISO-8601 UTC timestamp.
  EXPECT_TRUE(r.out.find("Z out line 1") != std::string::npos) << r.out;
  std::string file = readText(home_ + "/logs/talker-0-out.log");
  EXPECT_NE(file.find("Z out line 1\n"), std::string::npos) << file;
  RunResult out_only = tend({"logs", "talker", "--out", "--lines", "10"});
  EXPECT_NE(out_only.out.find("out line 3"), std::string::npos) << out_only.out;
  EXPECT_EQ(out_only.out.find("err line"), std::string::npos) << out_only.out;
  RunResult err_only = tend({"logs", "talker", "--err", "--lines", "10"});
  EXPECT_NE(err_only.out.find("err line 3"), std::string::npos) << err_only.out;
  EXPECT_EQ(err_only.out.find("out line"), std::string::npos) << err_only.out;
  EXPECT_EQ(tend({"logs", "talker", "--out", "--err"}).status, 2);
  RunResult json_logs = tend({"logs", "talker", "--json", "--lines", "1"});
  EXPECT_NE(json_logs.out.find("\"stream\":\"err\""), std::string::npos) << json_logs.out;
}

TEST_F(Lifecycle, AFloodOfOutputALongLineAndBinaryBytesAllReachTheLog) {
  constexpr int kLines = 300000;  // 30 MB, written as fast as the app can
  std::string out_log = dir_ + "/flood.log";
  std::string cfg = configWith(fmt::format(R"(  - name: flood
    run: ["{0}", "flood", "{2}", "{1}"]
    logs: {{ timestamps: false, max_size: 1G, out: {3} }}
)",
                                           testapp(), tag(), kLines, out_log));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return readText(out_log).ends_with("\ndone\n"); }, seconds(60)))
      << readText(out_log).size() << " bytes so far";
  std::string text = readText(out_log);
  // Every numbered line, whole and in order.
  size_t pos = 0;
  for (int i = 0; i < kLines; ++i) {
    std::string want = fmt::format("line {:08d} {}\n", i, std::string(85, 'x'));
    ASSERT_EQ(text.compare(pos, want.size(), want), 0) << "line " << i;
    pos += want.size();
  }
  // The 200 kB line arrives in bounded pieces, with no byte lost.
  size_t longs = 0;
  while (pos < text.size() && (text[pos] == 'L' || text[pos] == '\n')) longs += text[pos++] == 'L';
  EXPECT_EQ(longs, 200000u);
  // Every byte value but '\n', unchanged.
  std::string binary;
  for (int b = 0; b < 256; ++b)
    if (b != '\n') binary += static_cast<char>(b);
  EXPECT_EQ(text.compare(pos, binary.size() + 6, binary + "\ndone\n"), 0);
  EXPECT_EQ(instance("flood")["status"], "online");
}

TEST_F(Lifecycle, LogsFollowPrintsNewLinesAsTheyAreWritten) {
  RunResult r = tend({"start", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done",
                      "--name", "ticker"});
  ASSERT_EQ(r.status, 0) << r.err;
  // --follow runs until interrupted: the harness stops it after two seconds.
  RunResult follow = tend({"logs", "ticker", "--follow", "--lines", "0"}, {}, seconds(2));
  EXPECT_NE(follow.out.find("ticker[0] out| "), std::string::npos) << follow.out;
  size_t ticks = 0;
  for (size_t pos = 0; (pos = follow.out.find(" tick ", pos)) != std::string::npos; ++pos) ++ticks;
  EXPECT_GE(ticks, 5u) << follow.out;
}

TEST_F(Lifecycle, RestartingAConfigFileReadsItAgainIncludingItsEnvFile) {
  std::string out = dir_ + "/env-out";
  std::string dotenv = writeFile("app.env", "GREETING=hello\n");
  std::string cfg = configWith(fmt::format(R"(  - name: reader
    run: ["{0}", "env", "{2}", "{1}"]
    env_file: {3}
  - name: plain
    run: ["{0}", "sleep", "{1}"]
)",
                                           testapp(), tag(), out, dotenv));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return readText(out).find("GREETING=hello") != std::string::npos; }));
  int reader = instance("reader").value("pid", 0);
  int plain = instance("plain").value("pid", 0);

  writeFile("app.env", "GREETING=goodbye\n");
  RunResult r = tend({"restart", cfg});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(waitFor([&] { return readText(out).find("GREETING=goodbye") != std::string::npos; }));
  EXPECT_NE(instance("reader").value("pid", 0), reader);
  EXPECT_NE(instance("plain").value("pid", 0), plain);  // restarted although unchanged
  EXPECT_EQ(instance("plain")["status"], "online");
  EXPECT_FALSE(processAlive(plain));

  ASSERT_EQ(tend({"stop", cfg}).status, 0);
  EXPECT_EQ(instance("reader")["status"], "stopped");
  EXPECT_EQ(instance("plain")["status"], "stopped");
  // A broken file changes nothing.
  std::string broken = writeFile("broken.yaml", "apps:\n  - name: x\n    restrat_delay: 1s\n");
  RunResult bad = tend({"restart", broken});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("restrat_delay"), std::string::npos) << bad.err;
}

TEST_F(Lifecycle, StartingAConfigAgainAppliesOnlyWhatChanged) {
  std::string envfile = dir_ + "/env";
  auto write = [&](const std::string& greeting) {
    return configWith(fmt::format(R"(  - name: same
    run: ["{0}", "sleep", "{1}"]
  - name: changing
    run: ["{0}", "env", "{2}", "{1}"]
    env: {{ GREETING: {3} }}
)",
                                  testapp(), tag(), envfile, greeting));
  };
  ASSERT_EQ(tend({"start", write("hello")}).status, 0);
  int same = instance("same").value("pid", 0);
  int changing = instance("changing").value("pid", 0);
  ASSERT_EQ(tend({"start", write("hello")}).status, 0);
  EXPECT_EQ(instance("same")["pid"], same);
  EXPECT_EQ(instance("changing")["pid"], changing);

  ASSERT_EQ(tend({"start", write("goodbye")}).status, 0);
  EXPECT_EQ(instance("same")["pid"], same);
  EXPECT_NE(instance("changing")["pid"], changing);
  EXPECT_EQ(instance("changing")["status"], "online");
  EXPECT_FALSE(processAlive(changing));
  EXPECT_TRUE(
      waitFor([&] { return readText(envfile).find("GREETING=goodbye") != std::string::npos; }));
}

}  // namespace
}  // namespace tend::testing
