// `tend monit` in a real terminal: a tmux server of the test's own runs a shell in a pane,
// the test types into it (send-keys) and reads the screen back (capture-pane).

#include <fmt/format.h>

#include <signal.h>

#include <sstream>

#include "harness.hpp"

namespace tend::testing {
namespace {

class Monit : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    socket_ = dir_ + "/tmux.sock";  // removed with the test's directory
  }
  void TearDown() override {
    tmux({"kill-server"});  // whatever happened: no tmux server outlives the test
    TendTest::TearDown();
  }

  RunResult tmux(const std::vector<std::string>& args) {
    // -f /dev/null: no user configuration; env -u TMUX: works from inside a tmux too.
    std::vector<std::string> argv{"env", "-u", "TMUX", "tmux", "-f", "/dev/null", "-S", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return runProgram(argv, std::chrono::seconds(10));
  }

  // A shell in a pane of `cols` x `rows`, with this test's TEND_HOME, at its prompt.
  void openShell(int cols, int rows) {
    std::string shell = fmt::format("env TEND_HOME={} PS1='ready$ ' sh", home_);
    RunResult r = tmux({"new-session", "-d", "-s", "t", "-x", std::to_string(cols), "-y",
                        std::to_string(rows), shell});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(waitFor([&] { return screen().find("ready$") != std::string::npos; })) << screen();
  }

  // Types a line into the pane's shell and presses Enter.
  void type(const std::string& line) {
    ASSERT_EQ(tmux({"send-keys", "-t", "t", "-l", line}).status, 0);
    ASSERT_EQ(tmux({"send-keys", "-t", "t", "Enter"}).status, 0);
  }
  void keys(const std::string& key) { ASSERT_EQ(tmux({"send-keys", "-t", "t", key}).status, 0); }

  // Runs monit from the shell the way a person would; then says how it exited and whether
  // the terminal's settings are what they were before.
  void runMonit(const std::string& options = "") {
    type(
        fmt::format("echo before-monit; s=$(stty -g); {} monit{}; echo \"monit exited $?\"; "
                    "[ \"$s\" = \"$(stty -g)\" ] && echo terminal-restored",
                    TEND_BINARY, options));
  }

  // The pane's text; -J joins lines the terminal wrapped (so a long typed command is one
  // line, and a frame row that wrapped would show as too long).
  std::string screen() { return tmux({"capture-pane", "-p", "-J", "-t", "t"}).out; }
  std::vector<std::string> lines() {
    std::vector<std::string> out;
    std::istringstream in(screen());
    for (std::string l; std::getline(in, l);) {
      while (!l.empty() && l.back() == ' ') l.pop_back();
      out.push_back(l);
    }
    return out;
  }
  std::string format(const std::string& f) {
    std::string out = tmux({"display-message", "-p", "-t", "t", f}).out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  bool hasLine(const std::string& text) {
    for (const auto& l : lines())
      if (l == text) return true;
    return false;
  }
  // A row that starts with `start` (">" marks the selection) and mentions every word.
  bool hasRow(const std::string& start, const std::vector<std::string>& words) {
    for (const auto& l : lines()) {
      if (l.rfind(start, 0) != 0) continue;
      bool all = true;
      for (const auto& w : words) all = all && l.find(w) != std::string::npos;
      if (all) return true;
    }
    return false;
  }

  // After monit quit: the shell saw it exit 0 with the terminal settings unchanged, and the
  // screen is the shell's again (alternate screen left, cursor shown, earlier output back).
  void expectCleanExit() {
    EXPECT_TRUE(waitFor([&] { return hasLine("terminal-restored"); })) << screen();
    EXPECT_TRUE(hasLine("monit exited 0")) << screen();
    EXPECT_TRUE(hasLine("before-monit")) << screen();
    EXPECT_EQ(format("#{alternate_on}"), "0");
    EXPECT_EQ(format("#{cursor_flag}"), "1");
    EXPECT_EQ(screen().find("tend monit ·"), std::string::npos) << screen();
  }

  void startSleeper(const std::string& name) {
    ASSERT_EQ(tend({"start", testapp(), "--name", name, "--", "sleep", tag()}).status, 0);
    ASSERT_TRUE(waitFor([&] { return instance(name).value("status", "") == "online"; }));
  }

  std::string socket_;
};

TEST_F(Monit, ShowsTheAppsRestartsTheSelectedOneAndQuitsWithQ) {
  startSleeper("alpha");
  startSleeper("beta");
  int alpha_pid = instance("alpha").value("pid", 0);
  int beta_pid = instance("beta").value("pid", 0);
  openShell(120, 40);
  runMonit();

  ASSERT_TRUE(waitFor([&] {
    return hasRow(">", {"alpha", "online", std::to_string(alpha_pid)}) &&
           hasRow(" ", {"beta", "online", std::to_string(beta_pid)});
  })) << screen();
  EXPECT_EQ(format("#{alternate_on}"), "1");
  EXPECT_NE(screen().find("2 instances, 2 online"), std::string::npos) << screen();

  keys("Down");
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"beta"}); })) << screen();
  // The log pane follows the selection: beta's first line names its pid.
  ASSERT_TRUE(waitFor([&] {
    return screen().find(fmt::format("testapp started pid={}", beta_pid)) != std::string::npos;
  })) << screen();

  keys("r");
  int new_pid = 0;
  ASSERT_TRUE(waitFor([&] {
    auto b = instance("beta");
    new_pid = b.value("pid", 0);
    return new_pid != 0 && new_pid != beta_pid && b.value("status", "") == "online";
  })) << screen();
  EXPECT_EQ(instance("alpha").value("pid", 0), alpha_pid);  // only the selected app
  EXPECT_TRUE(waitFor([&] {
    std::string s = screen();
    return s.find("restarted beta") != std::string::npos &&
           s.find(fmt::format("testapp started pid={}", new_pid)) != std::string::npos &&
           hasRow(">", {"beta", "online", std::to_string(new_pid)});
  })) << screen();

  keys("q");
  expectCleanExit();
}

TEST_F(Monit, StopsAndStartsTheSelectedApp) {
  startSleeper("solo");
  openShell(100, 30);
  runMonit();
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"solo", "online"}); })) << screen();

  keys("s");
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"solo", "stopped"}); })) << screen();
  EXPECT_EQ(instance("solo").value("status", ""), "stopped");
  EXPECT_TRUE(waitFor([&] { return screen().find("stopped solo") != std::string::npos; }));

  keys("a");
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"solo", "online"}); })) << screen();
  EXPECT_EQ(instance("solo").value("status", ""), "online");

  keys("q");
  expectCleanExit();
}

TEST_F(Monit, CtrlCLeavesTheTerminalClean) {
  startSleeper("api");
  openShell(120, 40);
  runMonit();
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"api", "online"}); })) << screen();
  keys("C-c");
  expectCleanExit();
  EXPECT_EQ(instance("api").value("status", ""), "online");  // monit only watched
}

TEST_F(Monit, QuitsAtOnceWhileAStopIsStillUnderWay) {
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: stubborn
    run: ["{}", "ignore-term", "{}"]
    kill_timeout: 60s
)",
                                                       testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(waitFor([&] { return instance("stubborn").value("status", "") == "online"; }));
  int pid = instance("stubborn").value("pid", 0);
  openShell(120, 40);
  runMonit();
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"stubborn", "online"}); })) << screen();

  keys("s");  // the app ignores SIGTERM: the daemon will wait its kill_timeout out
  ASSERT_TRUE(waitFor([&] { return screen().find("stopping stubborn") != std::string::npos; }))
      << screen();
  keys("q");  // monit abandons the reply instead of waiting for it
  expectCleanExit();
  EXPECT_TRUE(waitFor([&] { return instance("stubborn").value("status", "") == "stopping"; }));
  ::kill(pid, SIGKILL);  // so that the teardown's `tend kill` need not wait either
}

TEST_F(Monit, AStopTypedRightBeforeQuittingIsStillCarriedOut) {
  startSleeper("quick");
  openShell(120, 40);
  runMonit();
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"quick", "online"}); })) << screen();
  // Both keys in one read: monit quits before its action thread could have sent the stop.
  ASSERT_EQ(tmux({"send-keys", "-t", "t", "-l", "sq"}).status, 0);
  expectCleanExit();
  EXPECT_TRUE(waitFor([&] { return instance("quick").value("status", "") == "stopped"; }))
      << instance("quick");
}

TEST_F(Monit, RedrawsForANewSizeAndClipsToANarrowTerminal) {
  startSleeper("a-service-with-a-rather-long-name");
  openShell(120, 40);
  runMonit();
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"a-service-with-a-rather-long-name"}); }))
      << screen();

  ASSERT_EQ(tmux({"resize-window", "-t", "t", "-x", "40", "-y", "12"}).status, 0);
  // The frame fits the new size: the title first, the keys last, nothing wrapped.
  ASSERT_TRUE(waitFor([&] {
    auto l = lines();
    return l.size() == 12 && l.front().rfind(" tend monit", 0) == 0 &&
           l.back().find("r restart") != std::string::npos;
  })) << screen();
  for (const auto& l : lines()) {
    size_t cols = 0;
    for (unsigned char c : l) cols += (c & 0xC0) != 0x80;
    EXPECT_LE(cols, 40u) << l;
  }
  EXPECT_TRUE(hasRow(">", {"a-service"})) << screen();

  keys("q");
  expectCleanExit();
}

TEST_F(Monit, StartsTheDaemonLikeListDoes) {
  openShell(100, 30);
  runMonit();
  ASSERT_TRUE(waitFor([&] { return screen().find("no apps") != std::string::npos; })) << screen();
  EXPECT_GT(daemonPid(), 0);
  keys("q");
  expectCleanExit();
}

TEST_F(Monit, TheTitleLineHasTheSystemsLoadAndMemoryAndIntervalSetsTheRefresh) {
  startSleeper("alpha");
  openShell(140, 30);
  runMonit(" --interval 3");
  ASSERT_TRUE(waitFor([&] { return hasRow(">", {"alpha", "online"}); })) << screen();
  const std::string s = screen();
  EXPECT_NE(s.find("load "), std::string::npos) << s;
  EXPECT_NE(s.find("mem "), std::string::npos) << s;
  EXPECT_NE(s.find(" core"), std::string::npos) << s;
  // Refreshed every 3 s, the uptime column (the row's last) skips seconds: of 4s..9s it
  // shows two; at the default of 1 s it would show all six.
  std::set<int> seen;
  auto uptime = [&] {
    for (const auto& l : lines()) {
      if (!l.starts_with(">") || l.find("alpha") == std::string::npos || !l.ends_with("s"))
        continue;
      size_t space = l.rfind(' ');
      return std::atoi(l.c_str() + space + 1);
    }
    return -1;
  };
  EXPECT_TRUE(waitFor(
      [&] {
        int up = uptime();
        if (up >= 4 && up <= 9) seen.insert(up);
        return up >= 10;
      },
      std::chrono::seconds(30)))
      << screen();
  EXPECT_GE(seen.size(), 1u);
  EXPECT_LE(seen.size(), 3u) << screen();
  keys("q");
  expectCleanExit();
}

TEST_F(Monit, RefusesWhenNotOnATerminal) {
  RunResult r = tend({"monit"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("needs a terminal"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace tend::testing
