// Clusters sharing one port and zero-downtime reload, end to end: the real daemon, real
// backends (tests/apps/backend.cpp) and real clients (curl, wrk).

#include <fmt/format.h>

#include <future>
#include <set>
#include <thread>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ClusterTest : public TendTest {
 protected:
  bool haveWrk() { return runProgram({"sh", "-c", "command -v wrk"}).status == 0; }

  // The pids of app `name`'s instances, in instance order.
  std::vector<int> pids(const std::string& name) {
    std::vector<int> out;
    for (const auto& i : instancesOf(name)) out.push_back(i.value("pid", 0));
    return out;
  }

  bool allOnline(const std::string& name, size_t count) {
    auto list = instancesOf(name);
    if (list.size() != count) return false;
    for (const auto& i : list)
      if (i.value("status", "") != "online") return false;
    return true;
  }

  // The X-Backend-Pid of `n` requests, each on a connection of its own.
  std::set<std::string> answeringPids(int port, int n, const std::string& host = "") {
    std::vector<std::string> argv{"curl",      "-s", "-m", "10", "-o",
                                  "/dev/null", "-D", "-",  "-H", "Connection: close"};
    if (!host.empty()) argv.insert(argv.end(), {"-H", "Host: " + host});
    for (int i = 0; i < n; ++i) argv.push_back(fmt::format("http://127.0.0.1:{}/", port));
    RunResult r = runProgram(argv, seconds(30));
    std::set<std::string> out;
    const std::string key = "X-Backend-Pid: ";
    for (size_t p = 0; (p = r.out.find(key, p)) != std::string::npos; p += key.size())
      out.insert(r.out.substr(p + key.size(), r.out.find('\r', p) - p - key.size()));
    return out;
  }

  // wrk for `secs` seconds against `url`, in the background.
  std::future<RunResult> load(const std::string& url, int secs, const std::string& host = "") {
    std::vector<std::string> argv{"wrk", "-t2", "-c16", fmt::format("-d{}s", secs)};
    if (!host.empty()) argv.insert(argv.end(), {"-H", "Host: " + host});
    argv.push_back(url);
    return std::async(std::launch::async, [argv] { return runProgram(argv, seconds(60)); });
  }

  static void expectNoFailedRequest(const RunResult& r) {
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("Requests/sec"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
  }

  // The causes in app `name`'s restart history, ";"-separated.
  std::string restartCauses(const std::string& name) {
    RunResult d = tend({"describe", name, "--json"});
    json parsed = json::parse(d.out, nullptr, false);
    if (!parsed.is_array() || parsed.empty()) return "describe said: " + d.out + d.err;
    std::string out;
    for (const auto& h : parsed[0]["restart_history"]) out += h.value("reason", "") + ";";
    return out;
  }
};

// Two at a time (reload_batch: 2), with no request lost.
TEST_F(ClusterTest, ASharedSocketServesEveryInstanceAndSurvivesAReloadUnderLoad) {
  if (!haveWrk()) GTEST_SKIP() << "wrk not installed";
  const int port = freePortRun(1);
  const std::string config = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: web
    run: ["{}", "{}"]
    instances: 4
    port: {}
    share_port: socket
    reload_batch: 2
    env: {{ BACKEND_GRACEFUL: "1" }}
)",
                                                                BACKEND_BINARY, tag(), port));
  RunResult r = tend({"start", config});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_TRUE(waitFor([&] { return allOnline("web", 4); }));
  // Every instance takes connections from the one socket tend holds.
  ASSERT_TRUE(waitFor([&] { return answeringPids(port, 40).size() >= 2; }, seconds(20)));
  const std::vector<int> before = pids("web");

  auto wrk = load(fmt::format("http://127.0.0.1:{}/", port), 5);
  std::this_thread::sleep_for(milliseconds(1000));  // let the load get going
  RunResult reload = tend({"reload", "web"});
  EXPECT_EQ(reload.status, 0) << reload.out << reload.err;
  expectNoFailedRequest(wrk.get());

  const std::vector<int> after = pids("web");
  ASSERT_EQ(after.size(), 4u);
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_NE(after[i], before[i]) << "instance " << i << " was not replaced";
    EXPECT_GT(after[i], 0);
  }
  EXPECT_TRUE(allOnline("web", 4));
  for (int pid : before) EXPECT_TRUE(waitFor([&] { return !processAlive(pid); }));
  const std::string causes = restartCauses("web");
  EXPECT_NE(causes.find("reload"), std::string::npos) << causes;
}

TEST_F(ClusterTest, AReloadBehindTheGatewayUnderLoadLosesNoRequest) {
  if (!haveWrk()) GTEST_SKIP() << "wrk not installed";
  const int gateway = freePortRun(1);
  const int port = freePortRun(4);
  const std::string config =
      writeFile("tend.yaml", fmt::format(R"(gateway:
  listen: 127.0.0.1:{}
apps:
  - name: web
    run: ["{}", "{}"]
    instances: 4
    port: {}-{}
    on_demand:
      hosts: [web.localhost]
      idle_timeout: 10m
)",
                                         gateway, BACKEND_BINARY, tag(), port, port + 3));
  RunResult r = tend({"start", config});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_EQ(tend({"start", "web", "--wait"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return allOnline("web", 4); }));
  ASSERT_TRUE(waitFor([&] { return answeringPids(gateway, 8, "web.localhost").size() == 4; }));
  const std::vector<int> before = pids("web");

  auto wrk = load(fmt::format("http://127.0.0.1:{}/", gateway), 6, "web.localhost");
  std::this_thread::sleep_for(milliseconds(1000));
  RunResult reload = tend({"reload", "web"});
  EXPECT_EQ(reload.status, 0) << reload.out << reload.err;
  expectNoFailedRequest(wrk.get());

  const std::vector<int> after = pids("web");
  ASSERT_EQ(after.size(), 4u);
  for (size_t i = 0; i < after.size(); ++i) EXPECT_NE(after[i], before[i]) << "instance " << i;
  // The new instances serve through the gateway; the old ones are gone.
  EXPECT_TRUE(waitFor([&] { return answeringPids(gateway, 8, "web.localhost").size() == 4; }));
  for (int pid : before) EXPECT_TRUE(waitFor([&] { return !processAlive(pid); }));
}

// Its only instance is restarted in place, so for a moment nothing serves: the requests
// that come meanwhile wait for it, as in a cold start, rather than failing.
TEST_F(ClusterTest, AReloadOfASingleInstanceBehindTheGatewayUnderLoadLosesNoRequest) {
  if (!haveWrk()) GTEST_SKIP() << "wrk not installed";
  const int gateway = freePortRun(1);
  const int port = freePortRun(1);
  const std::string config =
      writeFile("tend.yaml", fmt::format(R"(gateway:
  listen: 127.0.0.1:{}
apps:
  - name: one
    run: ["{}", "{}"]
    port: {}
    on_demand:
      hosts: [one.localhost]
      idle_timeout: 10m
)",
                                         gateway, BACKEND_BINARY, tag(), port));
  RunResult r = tend({"start", config});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_EQ(tend({"start", "one", "--wait"}).status, 0);
  const int old_pid = pids("one")[0];
  auto wrk = load(fmt::format("http://127.0.0.1:{}/", gateway), 6, "one.localhost");
  std::this_thread::sleep_for(milliseconds(1000));
  for (int i = 0; i < 5; ++i) {
    RunResult reload = tend({"reload", "one"});
    EXPECT_EQ(reload.status, 0) << reload.out << reload.err;
  }
  expectNoFailedRequest(wrk.get());
  EXPECT_NE(pids("one")[0], old_pid);
}

TEST_F(ClusterTest, ReusePortInstancesBindTheSamePortThemselves) {
  const int port = freePortRun(1);
  const std::string config = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: web
    run: ["{}", "{}"]
    instances: 2
    port: {}
    share_port: reuseport
)",
                                                                BACKEND_BINARY, tag(), port));
  RunResult r = tend({"start", config});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_TRUE(waitFor([&] { return allOnline("web", 2); }));
  for (const auto& i : instancesOf("web")) EXPECT_EQ(i.value("port", 0), port);
  // The kernel spreads new connections over both listeners.
  ASSERT_TRUE(waitFor([&] { return answeringPids(port, 40).size() == 2; }, seconds(20)));
  RunResult logs = tend({"logs", "web", "--lines", "20"});
  EXPECT_NE(logs.out.find("binding with SO_REUSEPORT"), std::string::npos) << logs.out;
}

// With SO_REUSEPORT the new instance starts beside the old one; one that does not get
// ready leaves the old one serving (its ready check is not fooled by the old instance's
// listener on the same port: see the ready checks' ownership rule). (With a port per instance a
// reload restarts each in place: see
// Apply.AnInstanceThatDoesNotComeBackEndsTheReloadWithTheReason.)
TEST_F(ClusterTest, AReloadThatCannotGetANewInstanceReadyKeepsTheOldOnes) {
  const int port = freePortRun(1);
  const std::string flag = dir_ + "/broken";
  // The new process exits at once when the flag exists: it never gets ready.
  const std::string config = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: web
    run: ["/bin/sh", "-c", "if [ -e {} ]; then echo broken >&2; exit 3; fi; exec {} {}"]
    instances: 2
    port: {}
    share_port: reuseport
    max_restarts: 1
)",
                                                                flag, BACKEND_BINARY, tag(), port));
  RunResult r = tend({"start", config});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  ASSERT_TRUE(waitFor([&] { return allOnline("web", 2); }));
  const std::vector<int> before = pids("web");
  writeText(flag, "");
  RunResult reload = tend({"reload", "web"});
  EXPECT_EQ(reload.status, 1) << reload.out << reload.err;
  EXPECT_NE(reload.err.find("web[0]: the new instance did not get ready"), std::string::npos)
      << reload.err;
  EXPECT_NE(reload.err.find("keeps running"), std::string::npos) << reload.err;
  // Nothing was replaced, and the old instances still serve.
  EXPECT_EQ(pids("web"), before);
  EXPECT_TRUE(allOnline("web", 2));
  RunResult c = runProgram({"curl", "-s", "-m", "5", fmt::format("http://127.0.0.1:{}/", port)});
  EXPECT_NE(c.out.find("app=web"), std::string::npos) << c.out;
}

TEST_F(ClusterTest, ReloadingAStoppedAppStartsItAndBadTargetsAreErrors) {
  RunResult none = tend({"reload", "all"});  // no app at all: nothing to do, and an answer
  EXPECT_EQ(none.status, 0) << none.err;
  const std::string config = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: idle
    run: ["{}", "sleep", "{}"]
)",
                                                                testapp(), tag()));
  ASSERT_EQ(tend({"start", config}).status, 0);
  ASSERT_EQ(tend({"stop", "idle"}).status, 0);
  RunResult r = tend({"reload", "idle"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(waitFor([&] { return allOnline("idle", 1); }));

  RunResult unknown = tend({"reload", "nope"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("no app named 'nope'"), std::string::npos) << unknown.err;
  EXPECT_EQ(tend({"reload"}).status, 2);
}

TEST_F(ClusterTest, ASingleInstanceKeepsItsPortAcrossAReload) {
  // A port of its own and no shared socket: the new process cannot listen beside the old
  // one, so the instance is restarted in place, on the same port (as PM2 does in fork mode).
  const int port = freePortRun(2);
  const std::string config =
      writeFile("tend.yaml", fmt::format(R"(apps:
  - name: one
    run: ["{}", "{}"]
    port: {}-{}
)",
                                         BACKEND_BINARY, tag(), port, port + 1));
  ASSERT_EQ(tend({"start", config}).status, 0);
  ASSERT_TRUE(waitFor([&] { return allOnline("one", 1); }));
  const int old_pid = pids("one")[0];
  RunResult r = tend({"reload", "one"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto inst = instance("one");
  EXPECT_NE(inst.value("pid", 0), old_pid);
  EXPECT_EQ(inst.value("port", 0), port);
  EXPECT_EQ(inst.value("status", ""), "online");
  EXPECT_FALSE(processAlive(old_pid));
  const std::string causes = restartCauses("one");
  EXPECT_NE(causes.find("reload"), std::string::npos) << causes;
}

}  // namespace
}  // namespace tend::testing
