// Ready and health probes, sd_notify and its watchdog, and `tend start --wait`, with the
// real binary. The test apps are held back by files the tests create, never by sleeps.

#include <fmt/format.h>

#include <signal.h>

#include <filesystem>
#include <sstream>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;

class Probes : public TendTest {
 protected:
  std::string configWith(const std::string& apps) {
    return writeFile("tend.yaml", "apps:\n" + apps);
  }
  json describe(const std::string& name) {
    RunResult d = tend({"describe", name, "--json"});
    if (d.status != 0) return json::object();
    json all = json::parse(d.out, nullptr, false);
    return all.is_array() && !all.empty() ? all[0] : json::object();
  }
  // True once app `name`'s ready check reached a listener on `port` that is not its own.
  bool readyCheckSawAnotherListener(const std::string& name, int port) {
    return waitFor([&] {
      return probes(name)["ready"]
                 .value("last_error", "")
                 .find(fmt::format("port {} answers, but not from this instance", port)) !=
             std::string::npos;
    });
  }
  json probes(const std::string& name, int index = 0) {
    json app = describe(name);
    if (!app.contains("instances") || app["instances"].size() <= static_cast<size_t>(index))
      return json::object();
    return app["instances"][static_cast<size_t>(index)].value("probes", json::object());
  }
  bool historyHas(const std::string& name, const std::string& text) {
    json app = describe(name);
    for (const auto& h : app.value("restart_history", json::array()))
      if (h.value("reason", "").find(text) != std::string::npos) return true;
    return false;
  }
  std::string status(const std::string& name) { return instance(name).value("status", ""); }
  // "MAX TOTAL" as the http test app writes them.
  std::pair<int, int> httpStats(const std::string& path) {
    std::istringstream in(readText(path));
    int most = 0, total = 0;
    in >> most >> total;
    return {most, total};
  }
};

TEST_F(Probes, HttpReadyHoldsStartingUntilTheAppAnswers) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  std::string gate = dir_ + "/gate";
  std::string cfg = configWith(fmt::format(R"(  - name: web
    run: ["{0}", "http", "{1}", "-", "0", "{2}/stats", "{3}"]
    port: {4}
    ready:
      http: http://127.0.0.1:{4}/health
      timeout: 60s
)",
                                           testapp(), gate, dir_, tag(), port));
  RunResult r = tend({"start", cfg, "--json"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  // Plain start returns once the process runs; it is not ready until it answers.
  EXPECT_EQ(json::parse(r.out)[0].value("status", ""), "starting") << r.out;
  ASSERT_TRUE(waitFor([&] {
    return probes("web")["ready"].value("last_error", "").find("connection refused") !=
           std::string::npos;
  })) << describe("web").dump();
  EXPECT_EQ(status("web"), "starting");
  EXPECT_EQ(probes("web")["ready"].value("state", ""), "waiting");

  writeText(gate, "");
  ASSERT_TRUE(waitFor([&] { return status("web") == "online"; })) << list().dump();
  json ready = probes("web")["ready"];
  EXPECT_EQ(ready.value("state", ""), "passed") << ready;
  EXPECT_EQ(ready.value("check", ""), fmt::format("http://127.0.0.1:{}/health", port));
  EXPECT_EQ(instance("web").value("restarts", -1), 0);
}

TEST_F(Probes, StartWaitReturnsOnceOnline) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  // No `ready`: with a port, the default is a TCP connect to it.
  RunResult r = tend({"start", testapp(), "--name", "web", "--port", std::to_string(port), "--wait",
                      "--json", "--", "listen", tag()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(json::parse(r.out)[0].value("status", ""), "online") << r.out;
  EXPECT_EQ(probes("web")["ready"].value("check", ""), fmt::format("tcp 127.0.0.1:{}", port));
}

TEST_F(Probes, ExecReadyRunsInTheAppsDirectory) {
  std::string cfg = configWith(fmt::format(R"(  - name: worker
    run: ["{0}", "sleep", "{1}"]
    cwd: {2}
    ready:
      exec: test -e ready-file
)",
                                           testapp(), tag(), dir_));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] {
    return probes("worker")["ready"].value("last_error", "").find("exited with code 1") !=
           std::string::npos;
  })) << describe("worker").dump();
  EXPECT_EQ(status("worker"), "starting");
  writeText(dir_ + "/ready-file", "");
  ASSERT_TRUE(waitFor([&] { return status("worker") == "online"; })) << list().dump();
}

TEST_F(Probes, AFailingExecCheckSaysWhatItPrinted) {
  std::string cfg = configWith(fmt::format(R"(  - name: worker
    run: ["{0}", "sleep", "{1}"]
    ready:
      exec: 'echo checking; echo "db is not up yet" >&2; exit 3'
      timeout: 30s
)",
                                           testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] {
    return probes("worker")["ready"]
        .value("last_error", "")
        .ends_with("exited with code 3: db is not up yet");
  })) << describe("worker").dump();
  EXPECT_EQ(status("worker"), "starting");
  // The output is the check's, not the app's: the app's logs do not get it.
  RunResult logs = tend({"logs", "worker", "--lines", "50"});
  EXPECT_EQ(logs.out.find("db is not up yet"), std::string::npos) << logs.out;
}

TEST_F(Probes, NotifyReadyAndItsStatusShowInDescribe) {
  std::string gate = dir_ + "/gate";
  std::string cfg = configWith(fmt::format(R"(  - name: svc
    run: ["{0}", "notify", "{1}", "loading the data", "{2}"]
    ready:
      notify: true
)",
                                           testapp(), gate, tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] {
    return probes("svc").value("notify_status", "") == "loading the data";
  })) << describe("svc").dump();
  EXPECT_EQ(status("svc"), "starting");
  RunResult text = tend({"describe", "svc"});
  EXPECT_NE(text.out.find("loading the data"), std::string::npos) << text.out;

  writeText(gate, "");
  ASSERT_TRUE(waitFor([&] { return status("svc") == "online"; })) << list().dump();
  EXPECT_EQ(probes("svc").value("notify_status", ""), "serving");
}

TEST_F(Probes, ReadyTimeoutFailsStartWaitWithTheReason) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  // It has a port but never listens: the default TCP probe never passes.
  std::string cfg = configWith(fmt::format(R"(  - name: api
    run: ["{0}", "sleep", "{1}"]
    port: {2}
    ready:
      tcp: {2}
      timeout: 1s
)",
                                           testapp(), tag(), port));
  RunResult r = tend({"start", cfg, "--wait"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(fmt::format("api[0]: not ready after 1s: connect 127.0.0.1:{}: connection "
                                   "refused",
                                   port)),
            std::string::npos)
      << r.err;
  // Stopped and restarted by the policy, the cause kept.
  ASSERT_TRUE(waitFor([&] { return historyHas("api", "not ready after 1s"); }))
      << describe("api").dump();
  ASSERT_TRUE(waitFor([&] {
    return instance("api").value("reason", "").find("not ready after 1s") != std::string::npos;
  })) << list().dump();
}

TEST_F(Probes, HealthFailuresRestartWithTheCause) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  std::string fail = dir_ + "/fail";
  std::string cfg = configWith(fmt::format(R"(  - name: web
    run: ["{0}", "http", "-", "{1}", "0", "{2}/stats", "{3}"]
    port: {4}
    health:
      http: http://127.0.0.1:{4}/health
      interval: 50ms
      timeout: 5s
      failures: 3
)",
                                           testapp(), fail, dir_, tag(), port));
  RunResult r = tend({"start", cfg, "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  int first_pid = instance("web").value("pid", 0);
  ASSERT_TRUE(waitFor([&] { return probes("web")["health"].value("last", "") == "ok"; }))
      << describe("web").dump();

  writeText(fail, "");
  ASSERT_TRUE(waitFor([&] {
    return historyHas("web", fmt::format("health check failed 3 times in a row: "
                                         "http://127.0.0.1:{}/health: status 500",
                                         port));
  })) << describe("web").dump();
  std::filesystem::remove(fail);
  ASSERT_TRUE(waitFor([&] {
    json i = instance("web");
    return i.value("status", "") == "online" && i.value("pid", 0) != first_pid;
  })) << list().dump();
}

TEST_F(Probes, ASlowHealthEndpointNeverGetsTwoChecksAtOnce) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  std::string stats = dir_ + "/stats";
  // Each answer takes 200 ms, checks are due every 10 ms: they must wait for each other.
  std::string cfg = configWith(fmt::format(R"(  - name: slow
    run: ["{0}", "http", "-", "-", "200", "{1}", "{2}"]
    port: {3}
    health:
      http: http://127.0.0.1:{3}/
      interval: 10ms
      timeout: 10s
)",
                                           testapp(), stats, tag(), port));
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return httpStats(stats).second >= 6; }, std::chrono::seconds(30)))
      << readText(stats);
  EXPECT_EQ(httpStats(stats).first, 1) << readText(stats);
  EXPECT_EQ(instance("slow").value("restarts", -1), 0);
}

TEST_F(Probes, AWatchdogThatStopsPingingRestartsTheInstance) {
  std::string cfg = configWith(fmt::format(R"(  - name: dog
    run: ["{0}", "watchdog", "3", "50", "{1}"]
    ready:
      notify: true
      watchdog: 500ms
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg, "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;  // it exits 5 without WATCHDOG_USEC
  EXPECT_EQ(probes("dog").value("watchdog", ""), "500ms");
  ASSERT_TRUE(waitFor([&] { return historyHas("dog", "watchdog: no WATCHDOG=1 for 500ms"); }))
      << describe("dog").dump();
}

TEST_F(Probes, NotifyFromAnotherProcessIsIgnored) {
  std::string gate = dir_ + "/gate";
  std::string cfg = configWith(fmt::format(R"(  - name: svc
    run: ["{0}", "notify", "{1}", "booting", "{2}"]
    ready:
      notify: true
      timeout: 60s
)",
                                           testapp(), gate, tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return probes("svc").value("notify_status", "") == "booting"; }));
  // The socket's address is in the instance's environment; anyone else may not use it.
  std::string env = readText(fmt::format("/proc/{}/environ", instance("svc").value("pid", 0)));
  size_t at = env.find("NOTIFY_SOCKET=");
  ASSERT_NE(at, std::string::npos);
  size_t end = env.find('\0', at);
  std::string address = env.substr(at + 14, end == std::string::npos ? end : end - at - 14);
  ASSERT_TRUE(address.starts_with("@")) << address;
  // An outsider sends STATUS= and READY=1 to it (killed at the timeout; it runs on).
  runProgram(
      {"/usr/bin/env", "NOTIFY_SOCKET=" + address, testapp(), "notify", "-", "intruder", tag()},
      std::chrono::milliseconds(500));
  EXPECT_EQ(status("svc"), "starting");
  EXPECT_EQ(probes("svc").value("notify_status", ""), "booting");
}

// The leader of an app dies (kill -9) while its listener, a grandchild that left its process
// group, keeps the port: the replacement answers nothing yet, and the old listener must not
// make it ready.
TEST_F(Probes, AReplacementIsNotReadyWhileItsPredecessorsListenerHoldsThePort) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  std::string pid_file = dir_ + "/listener";
  std::string cfg = configWith(fmt::format(R"(  - name: web
    run: ["{0}", "detached-listen", "{1}", "{2}"]
    port: {3}
)",
                                           testapp(), pid_file, tag(), port));
  RunResult r = tend({"start", cfg, "--wait"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  int old_leader = instance("web").value("pid", 0);
  ASSERT_GT(old_leader, 0);
  ASSERT_TRUE(waitFor([&] { return std::atoi(readText(pid_file).c_str()) > 0; }));
  pid_t old_listener = std::atoi(readText(pid_file).c_str());
  remember(old_listener);
  ASSERT_NE(old_listener, old_leader);

  ::kill(old_leader, SIGKILL);
  ASSERT_TRUE(waitFor([&] {
    int pid = instance("web").value("pid", 0);
    return pid > 0 && pid != old_leader;
  })) << list().dump();
  // The replacement's check reaches the old listener, and does not count it.
  ASSERT_TRUE(readyCheckSawAnotherListener("web", port)) << describe("web").dump();
  EXPECT_TRUE(processAlive(old_listener));
  EXPECT_EQ(status("web"), "starting") << list().dump();
  EXPECT_EQ(probes("web")["ready"].value("state", ""), "waiting");

  // Once the old listener is gone, the replacement's own one takes the port and counts.
  ::kill(old_listener, SIGKILL);
  ASSERT_TRUE(waitFor([&] { return status("web") == "online"; })) << describe("web").dump();
  pid_t new_listener = std::atoi(readText(pid_file).c_str());
  remember(new_listener);
  EXPECT_NE(new_listener, old_listener);
  EXPECT_TRUE(processAlive(new_listener));
  EXPECT_EQ(probes("web")["ready"].value("state", ""), "passed");
}

// A port an app was given is taken meanwhile by another app (it listens on it without tend
// having assigned it): the instance keeps trying to listen and must not be online because
// the other one answers.
TEST_F(Probes, AnInstanceIsNotReadyWhileAnotherAppListensOnItsPort) {
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  // Until it can listen, the app tries again (as a server waiting for its port would).
  std::string cfg = configWith(fmt::format(R"(  - name: web
    run: ["/bin/sh", "-c", "until \"$0\" listen \"$1\"; do sleep 0.05; done", "{0}", "{1}"]
    port: {2}
)",
                                           testapp(), tag(), port));
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  ASSERT_EQ(tend({"stop", "web"}).status, 0);  // it keeps its port
  RunResult other = tend({"start", testapp(), "--name", "other", "--env",
                          fmt::format("PORT={}", port), "--", "listen", tag()});
  ASSERT_EQ(other.status, 0) << other.out << other.err;
  ASSERT_TRUE(waitFor([&] {
    return readText(home_ + "/logs/other-0-out.log").find("listening on") != std::string::npos;
  })) << readText(home_ + "/logs/other-0-err.log");

  ASSERT_EQ(tend({"start", "web"}).status, 0);
  ASSERT_TRUE(readyCheckSawAnotherListener("web", port)) << describe("web").dump();
  EXPECT_EQ(status("web"), "starting") << list().dump();
  EXPECT_EQ(status("other"), "online");

  // The other app stops: the port is free, the instance listens and is online.
  ASSERT_EQ(tend({"stop", "other"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return status("web") == "online"; })) << describe("web").dump();
  EXPECT_EQ(probes("web")["ready"].value("state", ""), "passed");
}

}  // namespace
}  // namespace tend::testing
