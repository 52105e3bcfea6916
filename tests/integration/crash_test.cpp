// The daemon killed (SIGKILL) at a named point of an operation (TEND_FAULT), and on a full
// disk: the daemon that comes back adopts or stops everything the dead one had started.
// After each, what `tend list` says and what `ps` shows agree, no process is left that tend
// does not know, and no port is held twice.

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class CrashSafety : public TendTest {
 protected:
  // Starts the daemon with the fault point armed; the commands after it run without.
  void armFault(const std::string& point) {
    RunResult r = tend({"ping"}, {{"TEND_FAULT", point}});
    ASSERT_EQ(r.status, 0) << r.err;
    daemon_ = daemonPid();
    ASSERT_GT(daemon_, 0);
  }
  void expectDaemonDied() {
    ASSERT_TRUE(waitFor([&] { return !processAlive(daemon_); }, seconds(30)))
        << "the daemon did not reach its fault point";
  }

  // `tend list` (a new daemon) and the processes that carry the test's tag agree: each
  // listed pid is alive, every tagged process is a listed instance, and no port is listed
  // twice. Waits for leftovers to be stopped (SIGTERM, then SIGKILL after 5 s).
  void expectListAndPsAgree() {
    json l;
    std::set<int> listed, tagged;
    const bool agree = waitFor(
        [&] {
          l = list();
          listed.clear();
          for (const auto& i : l)
            if (i.value("pid", 0) > 0) listed.insert(i.value("pid", 0));
          tagged.clear();
          for (pid_t p : processesWith(tag())) tagged.insert(p);
          return listed == tagged && std::ranges::all_of(l, [](const json& i) {
                   const std::string s = i.value("status", "");
                   return s == "online" || s == "stopped";
                 });
        },
        seconds(30));
    EXPECT_TRUE(agree) << "list: " << l.dump() << "\ntagged pids: " << fmt::format("{}", tagged);
    std::set<int> ports;
    for (const auto& i : l) {
      if (i["port"].is_number() && i.value("pid", 0) > 0) {
        EXPECT_TRUE(ports.insert(i["port"].get<int>()).second) << "port listed twice: " << l;
      }
    }
    for (int pid : tagged) remember(pid);
  }

  std::string listenApp(const std::string& name, int port, int instances, int spare = 0) {
    return fmt::format(
        "  - name: {}\n    run: [\"{}\", \"listen\", \"{}\"]\n    port: {}-{}\n    instances: "
        "{}\n",
        name, testapp(), tag(), port, port + instances - 1 + spare, instances);
  }

  pid_t daemon_ = 0;
};

// The apps of these tests write nothing: a process that writes to its stdout after the
// daemon died gets SIGPIPE, which would end it before the next daemon could.
TEST_F(CrashSafety, ASpawnTheDaemonDiedBeforeRecordingIsStoppedByTheNextDaemon) {
  armFault("spawn-unrecorded");
  RunResult r = tend({"start", "sleep 1000; : " + tag(), "--name", "web"});
  EXPECT_NE(r.status, 0);
  expectDaemonDied();
  // The process it spawned runs on, unrecorded...
  std::vector<pid_t> orphans;
  ASSERT_TRUE(waitFor([&] { return (orphans = processesWith(tag())).size() == 1; }))
      << orphans.size() << " processes";
  remember(orphans[0]);
  // ...until the next daemon finds it by its mark, stops it, and starts the app (it was
  // recorded as wanted) exactly once.
  expectListAndPsAgree();
  EXPECT_FALSE(processAlive(orphans[0]));
  EXPECT_EQ(processesWith(tag()).size(), 1u);
}

TEST_F(CrashSafety, KilledWhileAReloadRunsTheOldAndTheNewInstance) {
  // No port: the new instance starts beside the old one, and both run for a moment.
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: web
    run: "sleep 1000; : {}"
    instances: 2
)",
                                                       tag()));
  armFault("reload-both-running");
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  const auto before = processesWith(tag());
  ASSERT_EQ(before.size(), 2u);
  tend({"reload", "web"});
  expectDaemonDied();
  EXPECT_TRUE(waitFor([&] { return processesWith(tag()).size() == 3; }))
      << "the old instances and one new one";
  for (pid_t p : processesWith(tag())) remember(p);
  expectListAndPsAgree();
  EXPECT_EQ(processesWith(tag()).size(), 2u);
}

TEST_F(CrashSafety, KilledWhileAReloadRestartsAnInstanceOnItsPort) {
  const int port = freePortRun(2);
  std::string cfg = writeFile("tend.yaml", "apps:\n" + listenApp("web", port, 2));
  armFault("reload-restarting");
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  tend({"reload", "web"});
  expectDaemonDied();
  for (pid_t p : processesWith(tag())) remember(p);
  expectListAndPsAgree();
  ASSERT_TRUE(waitFor([&] {
    auto all = instancesOf("web");
    return all.size() == 2 && std::ranges::all_of(all, [](const json& i) {
             return i.value("status", "") == "online";
           });
  }));
  std::vector<int> ports;
  for (const auto& i : instancesOf("web")) ports.push_back(i.value("port", 0));
  EXPECT_EQ(ports, (std::vector<int>{port, port + 1}));
}

TEST_F(CrashSafety, KilledWhileScaling) {
  const int port = freePortRun(3);
  std::string cfg = writeFile("tend.yaml", "apps:\n" + listenApp("web", port, 1, 2));
  armFault("scale-started");
  ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
  tend({"scale", "web", "3"});
  expectDaemonDied();
  for (pid_t p : processesWith(tag())) remember(p);
  expectListAndPsAgree();
}

// The same at every other named point of a start, a reload and a scale: whatever the
// point, the next daemon ends with the app running exactly as declared.
struct FaultCase {
  const char* point;
  const char* operation;  // "start", "reload" or "scale"
  bool with_port;
};

// How ctest names each case.
void PrintTo(const FaultCase& c, std::ostream* os) {
  *os << c.point;
}

class CrashAtPoint : public CrashSafety, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(CrashAtPoint, TheNextDaemonRunsTheAppExactlyAsDeclared) {
  const FaultCase c = GetParam();
  const int port = freePortRun(3);
  const std::string app = c.with_port ? listenApp("web", port, 2, 1)
                                      : fmt::format(
                                            "  - name: web\n    run: \"sleep 1000; : {}\"\n"
                                            "    instances: 2\n",
                                            tag());
  std::string cfg = writeFile("tend.yaml", "apps:\n" + app);
  armFault(c.point);
  const std::string op = c.operation;
  if (op == "start") {
    tend({"start", cfg});
  } else {
    ASSERT_EQ(tend({"start", cfg, "--wait"}).status, 0);
    if (op == "reload") tend({"reload", "web"});
    if (op == "scale") tend({"scale", "web", "3"});
  }
  expectDaemonDied();
  for (pid_t p : processesWith(tag())) remember(p);
  expectListAndPsAgree();
  const size_t expected = op == "scale" ? 0 : 2;  // a scale may or may not have been recorded
  ASSERT_TRUE(waitFor(
      [&] {
        auto all = instancesOf("web");
        return (expected == 0 || all.size() == expected) &&
               std::ranges::all_of(all,
                                   [](const json& i) { return i.value("status", "") == "online"; });
      },
      seconds(20)))
      << list().dump();
  if (c.with_port) {
    std::vector<int> ports;
    for (const auto& i : instancesOf("web")) ports.push_back(i.value("port", 0));
    for (size_t i = 0; i < ports.size(); ++i) EXPECT_EQ(ports[i], port + static_cast<int>(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Points, CrashAtPoint,
                         ::testing::Values(FaultCase{"start-registered", "start", true},
                                           FaultCase{"spawn-recorded", "start", false},
                                           FaultCase{"reload-both-running", "reload", false},
                                           FaultCase{"reload-swapped", "reload", false},
                                           FaultCase{"reload-restarting", "reload", true},
                                           FaultCase{"scale-recorded", "scale", true}),
                         [](const ::testing::TestParamInfo<FaultCase>& info) {
                           std::string name = info.param.point;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// TEND_HOME on a small tmpfs that fills up: a start whose process cannot be recorded does
// not leave it running, and nothing is orphaned by a kill -9 of the daemon afterwards.
class FullDisk : public CrashSafety {
 protected:
  void SetUp() override {
    CrashSafety::SetUp();
    mount_ = dir_ + "/small";
    std::filesystem::create_directories(mount_);
    if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=2m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
    mounted_ = true;
    home_ = mount_ + "/home";
  }
  void TearDown() override {
    CrashSafety::TearDown();
    if (!mounted_) return;
    ::umount2(mount_.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void fill() {
    // A file that takes every free block.
    runProgram({"sh", "-c", "dd if=/dev/zero of=" + mount_ + "/filler bs=64k 2>/dev/null; sync"});
  }
  // After a start on the full disk (`r`): it failed with `why` and left no process, or it
  // was recorded after all (the database had the room). Either way a kill -9 of the daemon
  // then leaves nothing the next one does not know.
  void expectNothingUnknownAfterACrash(const RunResult& r, const std::string& why) {
    if (r.status == 0) {
      remember(instance("web").value("pid", 0));
    } else {
      EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
      EXPECT_TRUE(waitFor([&] { return processesWith(tag()).empty(); }))
          << "a process runs that the state database does not know";
    }
    killDaemon();
    std::filesystem::remove(mount_ + "/filler");
    expectListAndPsAgree();
  }

  // kill -9 of the daemon, and its end: a CLI that connected to a dying daemon would
  // see its connection closed unanswered.
  void killDaemon() {
    const pid_t pid = daemonPid();
    ::kill(pid, SIGKILL);
    EXPECT_TRUE(waitFor([&] { return !processAlive(pid); }));
  }

  std::string mount_;
  bool mounted_ = false;
};

TEST_F(FullDisk, AStartThatCannotBeRecordedLeavesNothingRunning) {
  ASSERT_EQ(tend({"ping"}).status, 0);
  fill();
  RunResult r = tend({"start", testapp(), "--name", "web", "--", "sleep", tag()});
  expectNothingUnknownAfterACrash(r, "full");
}

TEST_F(FullDisk, AnAppStartedAgainOnAFullDiskLeavesNothingUnknownAfterACrash) {
  RunResult r = tend({"start", "sleep 1000; : " + tag(), "--name", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(tend({"stop", "web"}).status, 0);
  fill();
  r = tend({"start", "web"});
  expectNothingUnknownAfterACrash(r, "full");
}

// A full disk costs no app: an instance that dies meanwhile is restarted though its new
// process cannot be recorded yet, and it is recorded once there is room, so a later crash
// of the daemon still leaves nothing unknown.
TEST_F(FullDisk, AnInstanceKilledWhileTheDiskIsFullIsRestartedAndRecordedOnceThereIsRoom) {
  RunResult r = tend({"start", "sleep 1000; : " + tag(), "--name", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  const int first = instance("web").value("pid", 0);
  ASSERT_GT(first, 0);
  fill();
  ::kill(first, SIGKILL);
  json inst;
  EXPECT_TRUE(waitFor([&] {
    inst = instance("web");
    return inst.value("status", "") == "online" && inst.value("pid", 0) != first &&
           inst.value("pid", 0) > 0;
  })) << "not restarted on the full disk: "
      << inst.dump();
  const int second = inst.value("pid", 0);
  remember(second);
  std::filesystem::remove(mount_ + "/filler");
  // Recorded at the next sample (every 2 s); the daemon says so in its log.
  EXPECT_TRUE(waitFor([&] {
    return readText(home_ + "/daemon.log").find(fmt::format("pid {} is recorded", second)) !=
           std::string::npos;
  })) << readText(home_ + "/daemon.log");
  killDaemon();
  expectListAndPsAgree();
}

// The next daemon starts on the full disk (it writes nothing to open its database) and
// runs the apps; once there is room, list and ps agree after yet another crash.
TEST_F(FullDisk, ADaemonKilledWhileTheDiskIsFullComesBackAndRunsTheApps) {
  RunResult r = tend({"start", "sleep 1000; : " + tag(), "--name", "web"});
  ASSERT_EQ(r.status, 0) << r.err;
  fill();
  killDaemon();
  RunResult ping = tend({"ping"});
  EXPECT_EQ(ping.status, 0) << ping.out << ping.err;
  json inst;
  EXPECT_TRUE(waitFor([&] {
    inst = instance("web");
    return inst.value("status", "") == "online";
  })) << inst.dump();
  remember(inst.value("pid", 0));
  std::filesystem::remove(mount_ + "/filler");
  killDaemon();
  expectListAndPsAgree();
}

}  // namespace
}  // namespace tend::testing
