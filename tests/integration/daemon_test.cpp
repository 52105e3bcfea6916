// The daemon: autostart, one per TEND_HOME, the control socket, reconciling after a
// SIGKILL, `tend kill`, save and resurrect.

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;

class Daemon : public TendTest {
 protected:
  std::string twoApps() {
    return writeFile("tend.yaml", fmt::format(R"(apps:
  - name: alpha
    run: ["{0}", "sleep", "alpha-{1}"]
  - name: beta
    run: "exec {0} sleep beta-{1}"
    instances: 2
)",
                                              testapp(), tag()));
  }

  // Connects to the control socket directly, sends `bytes`, returns the reply line.
  std::string rawRequest(const std::string& bytes) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = home_ + "/tend.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return "connect failed";
    }
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    std::string reply;
    char c;
    while (::recv(fd, &c, 1, 0) == 1 && c != '\n') reply += c;
    ::close(fd);
    return reply;
  }
};

TEST_F(Daemon, FirstCommandStartsItAndPingAnswers) {
  RunResult r = tend({"ping"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("pong"), std::string::npos);
  pid_t pid = daemonPid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(processAlive(pid));
  struct stat st {};
  ASSERT_EQ(::stat((home_ + "/tend.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(readText(home_ + "/daemon.log").empty());
  EXPECT_EQ(::stat((home_ + "/state.db").c_str(), &st), 0);
}

TEST_F(Daemon, OnlyOneDaemonPerHome) {
  ASSERT_EQ(tend({"ping"}).status, 0);
  RunResult second = tend({"daemon"}, {}, std::chrono::seconds(10));
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
}

TEST_F(Daemon, StaleSocketAndPidFileAreIgnored) {
  ASSERT_EQ(::mkdir(home_.c_str(), 0700), 0);
  writeText(home_ + "/tend.pid", "999999\n");
  writeText(home_ + "/tend.sock", "not a socket");
  RunResult r = tend({"ping", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(json::parse(r.out)["pid"], 999999);
}

TEST_F(Daemon, TwoClisAtOnceShareOneDaemon) {
  auto a = std::async(std::launch::async, [&] {
    return tend({"start", testapp(), "--name", "a", "--", "sleep", tag()});
  });
  auto b = std::async(std::launch::async, [&] {
    return tend({"start", testapp(), "--name", "b", "--", "sleep", tag()});
  });
  RunResult ra = a.get(), rb = b.get();
  EXPECT_EQ(ra.status, 0) << ra.err;
  EXPECT_EQ(rb.status, 0) << rb.err;
  EXPECT_EQ(instance("a")["status"], "online");
  EXPECT_EQ(instance("b")["status"], "online");
  // Many concurrent readers are all answered.
  std::vector<std::future<RunResult>> lists;
  for (int i = 0; i < 8; ++i)
    lists.push_back(std::async(std::launch::async, [&] { return tend({"list", "--json"}); }));
  for (auto& f : lists) EXPECT_EQ(f.get().status, 0);
  int daemons = 0;
  for (pid_t pid : processesWith(TEND_BINARY)) {
    std::string env = readText("/proc/" + std::to_string(pid) + "/environ");
    if (env.find("TEND_HOME=" + home_) != std::string::npos) ++daemons;
  }
  EXPECT_EQ(daemons, 1);
}

TEST_F(Daemon, MalformedAndOversizedRequestsGetErrorsAndTheDaemonKeepsServing) {
  ASSERT_EQ(tend({"ping"}).status, 0);
  EXPECT_NE(rawRequest("this is not json\n").find("not valid JSON"), std::string::npos);
  EXPECT_NE(rawRequest("[1,2]\n").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(rawRequest("{\"cmd\":\"explode\"}\n").find("unknown command"), std::string::npos);
  EXPECT_NE(rawRequest("{\"cmd\":\"stop\"}\n").find("needs the field 'target'"), std::string::npos);
  EXPECT_NE(rawRequest("{\"cmd\":\"stop\",\"target\":5}\n").find("must be a string"),
            std::string::npos);
  EXPECT_NE(rawRequest("{\"cmd\":\"list\",\"extra\":1}\n").find("takes no field 'extra'"),
            std::string::npos);
  EXPECT_NE(rawRequest("{\"cmd\":\"start\",\"apps\":[{\"name\":\"x\"}]}\n").find("\"ok\":false"),
            std::string::npos);
  std::string huge(5 * 1024 * 1024, 'x');
  EXPECT_NE(rawRequest(huge + "\n").find("request too large"), std::string::npos);
  RunResult r = tend({"ping"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(list().empty());
}

TEST_F(Daemon, AfterSigkillTheNextDaemonRunsEachAppExactlyOnce) {
  ASSERT_EQ(tend({"start", twoApps()}).status, 0);
  std::vector<pid_t> old_pids;
  for (const auto& i : list()) old_pids.push_back(i["pid"].get<int>());
  ASSERT_EQ(old_pids.size(), 3u);
  pid_t daemon = daemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return !processAlive(daemon); }));

  // Any command brings a daemon back; it reconciles with what it finds.
  ASSERT_TRUE(waitFor(
      [&] {
        auto all = list();
        if (all.size() != 3) return false;
        for (const auto& i : all)
          if (i["status"] != "online") return false;
        return true;
      },
      std::chrono::seconds(20)));
  EXPECT_NE(daemonPid(), daemon);
  for (pid_t pid : old_pids)
    EXPECT_TRUE(waitFor([&] { return !processAlive(pid); })) << "old process " << pid << " left";
  // Waited for, not read once: a new process can be between its shell's exec and the
  // program's, when /proc shows no command line.
  EXPECT_TRUE(waitFor([&] { return processesWith("alpha-" + tag()).size() == 1u; }));
  EXPECT_TRUE(waitFor([&] { return processesWith("beta-" + tag()).size() == 2u; }))
      << processesWith("beta-" + tag()).size() << " beta processes";
}

TEST_F(Daemon, StoppedAppsStayStoppedAfterADaemonCrash) {
  ASSERT_EQ(tend({"start", twoApps()}).status, 0);
  ASSERT_EQ(tend({"stop", "alpha"}).status, 0);
  pid_t daemon = daemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  // Until it is gone, a command may reach the dying daemon and get no reply.
  ASSERT_TRUE(waitFor([&] { return !processAlive(daemon); }));
  ASSERT_TRUE(waitFor([&] { return instance("beta").value("status", "") == "online"; }));
  EXPECT_EQ(instance("alpha")["status"], "stopped");
  EXPECT_TRUE(processesWith("alpha-" + tag()).empty());
}

TEST_F(Daemon, KillStopsEveryAppAndLeavesNoProcessBehind) {
  ASSERT_EQ(tend({"start", twoApps()}).status, 0);
  std::string pidfile = dir_ + "/gc.pid";
  ASSERT_EQ(tend({"start", testapp(), "--name", "gc", "--", "grandchild", pidfile, tag()}).status,
            0);
  ASSERT_TRUE(waitFor([&] { return !readText(pidfile).empty(); }));
  pid_t daemon = daemonPid();
  RunResult r = tend({"kill"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(processAlive(daemon));
  EXPECT_TRUE(processesWith(tag()).empty());
  struct stat st {};
  EXPECT_NE(::stat((home_ + "/tend.sock").c_str(), &st), 0);
  // With no daemon, kill says so and succeeds.
  RunResult again = tend({"kill"});
  EXPECT_EQ(again.status, 0);
  EXPECT_NE(again.out.find("no daemon"), std::string::npos);
}

TEST_F(Daemon, SigtermStopsAppsAndTheNextDaemonBringsThemBack) {
  ASSERT_EQ(tend({"start", twoApps()}).status, 0);
  pid_t daemon = daemonPid();
  ASSERT_EQ(::kill(daemon, SIGTERM), 0);
  ASSERT_TRUE(waitFor([&] { return !processAlive(daemon); }));
  EXPECT_TRUE(processesWith(tag()).empty());
  list();  // starts a new daemon, which restores what should run
  EXPECT_TRUE(waitFor([&] { return processesWith(tag()).size() == 3; }));
}

TEST_F(Daemon, SaveThenResurrectRestoresTheAppsAndTheirState) {
  ASSERT_EQ(tend({"start", twoApps()}).status, 0);
  ASSERT_EQ(tend({"stop", "alpha"}).status, 0);
  RunResult save = tend({"save"});
  ASSERT_EQ(save.status, 0) << save.err;
  ASSERT_EQ(tend({"kill"}).status, 0);
  ASSERT_EQ(tend({"delete", "all"}).status, 0);
  EXPECT_TRUE(list().empty());
  RunResult r = tend({"resurrect"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(instance("beta", 1)["status"], "online");
  EXPECT_EQ(instance("alpha")["status"], "stopped");
}

// The mode of every entry under `root` (symbolic links left out), by path relative to it.
std::map<std::string, int> modesUnder(const std::string& root) {
  std::map<std::string, int> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    out[entry.path().lexically_relative(root).string()] = static_cast<int>(st.st_mode & 07777);
  }
  return out;
}

TEST_F(Daemon, AnOpenHomeAndEverythingInItAreMadePrivateAndThatIsSaidOnce) {
  // As an older tend, or another user's umask, left it: all readable by others.
  const mode_t old_umask = ::umask(022);
  ASSERT_EQ(::mkdir(home_.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((home_ + "/logs").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((home_ + "/notes").c_str(), 0755), 0);
  for (const char* file :
       {"state.db", "state.db-wal", "state.db-shm", "tend.pid", "tend.lock", "daemon.log",
        "dump.json", "logs/old-0-out.log", "logs/old-0-out.log.1", "notes/todo.txt"})
    writeText(home_ + "/" + file, "");
  writeText(home_ + "/api.token", std::string(64, 'c') + "\n");
  writeText(home_ + "/run.sh", "#!/bin/sh\n");
  for (auto& [path, mode] : modesUnder(home_))
    ASSERT_EQ(::chmod((home_ + "/" + path).c_str(), path == "run.sh" ? 0755 : 0644), 0) << path;
  // Only tend's own folders are 0755 now; make the others match a careless umask too.
  ASSERT_EQ(::chmod((home_ + "/logs").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((home_ + "/notes").c_str(), 0755), 0);

  const size_t open_entries = modesUnder(home_).size();
  RunResult r = tend({"ping"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The daemon runs with umask 022: everything it made since is private as well.
  r = tend({"start", testapp(), "--name", "m", "--", "print", "1", tag()});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(tend({"save"}).status, 0);
  ::umask(old_umask);

  struct stat st {};
  ASSERT_EQ(::stat(home_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  for (const auto& [path, mode] : modesUnder(home_)) {
    std::string full = home_ + "/" + path;
    ASSERT_EQ(::lstat(full.c_str(), &st), 0);
    int expected = S_ISDIR(st.st_mode) ? 0700 : path == "run.sh" ? 0700 : 0600;
    EXPECT_EQ(mode, expected) << path << " is " << fmt::format("{:04o}", mode);
  }
  for (const char* made : {"tend.sock", "logs/m-0-out.log", "logs/m-0-err.log"})
    EXPECT_TRUE(modesUnder(home_).contains(made)) << made;

  // Said once, in one line, naming what was open.
  auto said = [&] {
    std::string log = readText(home_ + "/daemon.log");
    std::vector<std::string> lines;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);)
      if (line.find("private") != std::string::npos) lines.push_back(line);
    return lines;
  };
  ASSERT_EQ(said().size(), 1u) << readText(home_ + "/daemon.log");
  EXPECT_NE(said()[0].find("warn made " + home_ + " private: the folder was 0755, now 0700; "),
            std::string::npos)
      << said()[0];
  EXPECT_NE(said()[0].find(fmt::format("{} entries in it could be read or entered by other users",
                                       open_entries)),
            std::string::npos)
      << said()[0];
  // A new daemon finds nothing to tighten and says nothing.
  ASSERT_EQ(tend({"kill"}).status, 0);
  ASSERT_EQ(tend({"ping"}).status, 0);
  EXPECT_EQ(said().size(), 1u) << readText(home_ + "/daemon.log");
}

}  // namespace
}  // namespace tend::testing
