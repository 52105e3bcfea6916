// `tend startup`: the unit files' text, installing them (with systemctl recorded, not
// run), and the units checked by `systemd-analyze verify` when systemd is installed.

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/startup.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

StartupTarget alice() {
  StartupTarget t;
  t.user = "alice";
  t.home = "/home/alice/.tend";
  t.tend_binary = "/usr/local/bin/tend";
  t.path_env = "/home/alice/.nvm/versions/node/v20/bin:/usr/local/bin:/usr/bin:/bin";
  return t;
}

TEST(StartupUnit, RunsTheDaemonForTheUserAsANotifyService) {
  const std::string unit = daemonUnit(alice());
  for (const char* line :
       {"[Unit]\n", "Description=tend process manager (alice)\n", "After=network-online.target\n",
        "[Service]\n", "Type=notify\n", "NotifyAccess=main\n", "User=alice\n",
        "Environment=\"TEND_HOME=/home/alice/.tend\"\n",
        "Environment=\"PATH=/home/alice/.nvm/versions/node/v20/bin:/usr/local/bin:/usr/bin:/"
        "bin\"\n",
        "ExecStart=\"/usr/local/bin/tend\" daemon\n", "Restart=on-failure\n", "KillMode=mixed\n",
        "TimeoutStopSec=120s\n", "[Install]\n", "WantedBy=multi-user.target\n"})
    EXPECT_TRUE(contains(unit, line)) << "missing " << line << " in:\n" << unit;
  EXPECT_FALSE(contains(unit, "ExecStartPost")) << unit;  // resurrect is its own unit
  EXPECT_EQ(daemonUnitName(alice()), "tend-alice.service");
}

TEST(StartupUnit, ResurrectsTheSavedSetOnceAfterTheDaemonIsReady) {
  const std::string unit = resurrectUnit(alice());
  for (const char* line :
       {"Requires=tend-alice.service\n", "After=tend-alice.service\n",
        "ConditionPathExists=/home/alice/.tend/dump.json\n", "Type=oneshot\n", "User=alice\n",
        "Environment=\"TEND_HOME=/home/alice/.tend\"\n",
        "ExecStart=\"/usr/local/bin/tend\" resurrect\n", "WantedBy=multi-user.target\n"})
    EXPECT_TRUE(contains(unit, line)) << "missing " << line << " in:\n" << unit;
  EXPECT_FALSE(contains(unit, "Restart=")) << unit;
  EXPECT_EQ(resurrectUnitName(alice()), "tend-alice-resurrect.service");
}

TEST(StartupUnit, AUserUnitHasNoUserLineAndStartsWithTheUserManager) {
  StartupTarget t = alice();
  t.user_unit = true;
  for (const std::string& unit : {daemonUnit(t), resurrectUnit(t)}) {
    EXPECT_FALSE(contains(unit, "User=")) << unit;
    EXPECT_FALSE(contains(unit, "network-online")) << unit;
    EXPECT_TRUE(contains(unit, "WantedBy=default.target\n")) << unit;
  }
}

TEST(StartupUnit, EscapesWhatSystemdWouldReadSpecially) {
  StartupTarget t = alice();
  t.tend_binary = "/opt/my tools/50%/te$nd";
  t.home = "/srv/\"odd\" home";
  t.path_env.clear();
  const std::string unit = daemonUnit(t);
  EXPECT_TRUE(contains(unit, "ExecStart=\"/opt/my tools/50%%/te$$nd\" daemon\n")) << unit;
  EXPECT_TRUE(contains(unit, "Environment=\"TEND_HOME=/srv/\\\"odd\\\" home\"\n")) << unit;
  EXPECT_FALSE(contains(unit, "PATH=")) << unit;
  t.user = "a b";
  EXPECT_EQ(daemonUnitName(t), "tend-a\\x20b.service");
}

TEST(StartupUnit, InstructionsShowBothUnitsAndTheCommands) {
  StartupTarget t = alice();
  const std::string text = startupInstructions(t);
  EXPECT_TRUE(contains(text, "# /etc/systemd/system/tend-alice.service\n")) << text;
  EXPECT_TRUE(contains(text, "# /etc/systemd/system/tend-alice-resurrect.service\n")) << text;
  EXPECT_TRUE(contains(text, "systemctl enable tend-alice.service tend-alice-resurrect.service"))
      << text;
  t.user_unit = true;
  EXPECT_TRUE(contains(startupInstructions(t), "loginctl enable-linger alice"));
}

class StartupInstall : public ::testing::Test {
 protected:
  tend::testing::TempDir temp;
  std::vector<std::string> ran;
  std::string fail_on;  // a command (as joined words) that fails
  InstallOptions options() {
    InstallOptions o;
    o.unit_dir = temp.path() + "/units";
    o.run = [this](const std::vector<std::string>& argv) -> std::string {
      std::string line;
      for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
      ran.push_back(line);
      return line == fail_on ? "Failed to connect to bus" : "";
    };
    return o;
  }
};

TEST_F(StartupInstall, WritesBothUnitsAndEnablesThem) {
  auto report = installStartup(alice(), options());
  ASSERT_TRUE(report) << report.error();
  const std::string dir = temp.path() + "/units";
  EXPECT_EQ(report->written, (std::vector<std::string>{dir + "/tend-alice.service",
                                                       dir + "/tend-alice-resurrect.service"}));
  EXPECT_EQ(readAll(dir + "/tend-alice.service"), daemonUnit(alice()));
  EXPECT_EQ(readAll(dir + "/tend-alice-resurrect.service"), resurrectUnit(alice()));
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/tend-alice.service").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(ran, (std::vector<std::string>{
                     "systemctl daemon-reload",
                     "systemctl enable tend-alice.service tend-alice-resurrect.service"}));
  ASSERT_FALSE(report->notes.empty());
  EXPECT_TRUE(contains(report->notes.back(), "tend kill")) << report->notes.back();
}

TEST_F(StartupInstall, AUserUnitAlsoAsksForLingering) {
  StartupTarget t = alice();
  t.user_unit = true;
  fail_on = "loginctl enable-linger alice";
  auto report = installStartup(t, options());
  ASSERT_TRUE(report) << report.error();
  EXPECT_EQ(ran, (std::vector<std::string>{
                     "systemctl --user daemon-reload",
                     "systemctl --user enable tend-alice.service tend-alice-resurrect.service",
                     "loginctl enable-linger alice"}));
  // Lingering refused is a note: the units still run while alice is logged in.
  EXPECT_TRUE(contains(report->notes.front(), "Failed to connect to bus"));
}

TEST_F(StartupInstall, ASystemctlFailureIsAnError) {
  fail_on = "systemctl enable tend-alice.service tend-alice-resurrect.service";
  auto report = installStartup(alice(), options());
  ASSERT_FALSE(report);
  EXPECT_TRUE(contains(report.error(), "the units are written, but systemctl enable"))
      << report.error();
  EXPECT_TRUE(contains(report.error(), "Failed to connect to bus"));
}

TEST_F(StartupInstall, UninstallDisablesAndRemovesThem) {
  ASSERT_TRUE(installStartup(alice(), options()));
  ran.clear();
  auto report = uninstallStartup(alice(), options());
  ASSERT_TRUE(report) << report.error();
  EXPECT_FALSE(std::filesystem::exists(temp.path() + "/units/tend-alice.service"));
  EXPECT_FALSE(std::filesystem::exists(temp.path() + "/units/tend-alice-resurrect.service"));
  EXPECT_EQ(ran, (std::vector<std::string>{
                     "systemctl disable tend-alice.service tend-alice-resurrect.service",
                     "systemctl daemon-reload"}));
  EXPECT_TRUE(uninstallStartup(alice(), options()));  // again: nothing left, still fine
}

TEST(StartupTarget, IsTheInvokingUserWithThisBinaryAndTheirHome) {
  tend::testing::TempDir temp;
  ::setenv("TEND_HOME", temp.path().c_str(), 1);
  auto target = startupTargetForInvoker();
  ::unsetenv("TEND_HOME");
  ASSERT_TRUE(target) << target.error();
  EXPECT_EQ(target->home, temp.path());
  EXPECT_EQ(target->tend_binary, std::filesystem::read_symlink("/proc/self/exe").string());
  EXPECT_EQ(target->user_unit, ::getuid() != 0);
  if (::getuid() != 0 || std::getenv("SUDO_USER")) return;
  const passwd* pw = ::getpwuid(0);
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(target->user, pw->pw_name);
}

TEST(StartupTarget, UnderSudoItIsTheUserWhoRanSudo) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root (as under sudo)";
  const passwd* nobody = ::getpwnam("nobody");
  if (!nobody) GTEST_SKIP() << "no user 'nobody'";
  const std::string nobody_home = nobody->pw_dir;
  const char* old_sudo = std::getenv("SUDO_USER");
  const std::string saved = old_sudo ? old_sudo : "";
  const char* old_home = std::getenv("TEND_HOME");
  const std::string saved_home = old_home ? old_home : "";
  ::setenv("SUDO_USER", "nobody", 1);
  ::unsetenv("TEND_HOME");
  auto target = startupTargetForInvoker();
  if (old_sudo)
    ::setenv("SUDO_USER", saved.c_str(), 1);
  else
    ::unsetenv("SUDO_USER");
  if (old_home) ::setenv("TEND_HOME", saved_home.c_str(), 1);
  ASSERT_TRUE(target) << target.error();
  EXPECT_EQ(target->user, "nobody");
  EXPECT_FALSE(target->user_unit);
  EXPECT_EQ(target->home,
            (std::filesystem::path(nobody_home) / ".tend").lexically_normal().string());
}

// ---- systemd-analyze verify ------------------------------------------------------------

bool haveSystemdAnalyze() {
  return std::system("command -v systemd-analyze >/dev/null 2>&1") == 0;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `systemd-analyze [--user] verify` on the two units written into `dir`. Returns its
// exit status and what it printed about them (it may also talk about the host's units).
std::pair<int, std::string> verify(const StartupTarget& t, const std::string& dir,
                                   const std::string& runtime_dir) {
  const std::string out = dir + "/verify.out";
  std::string cmd = (t.user_unit ? "XDG_RUNTIME_DIR=" + quote(runtime_dir) + " " : "") +
                    "systemd-analyze " + (t.user_unit ? "--user " : "") + "verify " +
                    quote(dir + "/" + daemonUnitName(t)) + " " +
                    quote(dir + "/" + resurrectUnitName(t)) + " >" + quote(out) + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::string about_ours;
  std::istringstream lines(readAll(out));
  for (std::string line; std::getline(lines, line);)
    if (contains(line, dir) || contains(line, daemonUnitName(t)) ||
        contains(line, resurrectUnitName(t)) || contains(line, "tend"))
      about_ours += line + "\n";
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1,
          about_ours.empty() ? readAll(out) : about_ours};
}

class StartupVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveSystemdAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed";
    // A stand-in for the tend binary, in a folder with a space, to check the quoting.
    std::filesystem::create_directories(temp.path() + "/my bin");
    binary = temp.write("my bin/tend", "#!/bin/sh\nexit 0\n");
    ::chmod(binary.c_str(), 0755);
    std::filesystem::create_directories(temp.path() + "/run");
    ::chmod((temp.path() + "/run").c_str(), 0700);
  }

  StartupTarget target(bool user_unit) {
    StartupTarget t;
    const passwd* pw = ::getpwuid(::getuid());
    t.user = pw ? pw->pw_name : "root";
    t.home = temp.path() + "/home/.tend";
    t.tend_binary = binary;
    t.path_env = "/usr/local/bin:/usr/bin:/bin";
    t.user_unit = user_unit;
    return t;
  }

  tend::testing::TempDir temp;
  std::string binary;
};

TEST_F(StartupVerify, SystemUnitsPassSystemdAnalyzeVerify) {
  const StartupTarget t = target(false);
  InstallOptions o;
  o.unit_dir = temp.path() + "/units";
  o.run = [](const std::vector<std::string>&) { return std::string(); };
  ASSERT_TRUE(installStartup(t, o));
  auto [status, output] = verify(t, o.unit_dir, temp.path() + "/run");
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(output.empty() || !contains(output, o.unit_dir)) << output;
}

TEST_F(StartupVerify, UserUnitsPassSystemdAnalyzeVerify) {
  const StartupTarget t = target(true);
  InstallOptions o;
  o.unit_dir = temp.path() + "/units";
  o.run = [](const std::vector<std::string>&) { return std::string(); };
  ASSERT_TRUE(installStartup(t, o));
  auto [status, output] = verify(t, o.unit_dir, temp.path() + "/run");
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(output.empty() || !contains(output, o.unit_dir)) << output;
}

TEST_F(StartupVerify, VerifyCatchesABrokenUnit) {
  // The check itself works: a unit with a typo and a missing binary is reported.
  const StartupTarget t = target(false);
  const std::string dir = temp.path() + "/units";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + daemonUnitName(t))
      << "[Service]\nTyep=notify\nExecStart=/nonexistent/tend daemon\n";
  std::ofstream(dir + "/" + resurrectUnitName(t)) << resurrectUnit(t);
  auto [status, output] = verify(t, dir, temp.path() + "/run");
  EXPECT_NE(status, 0) << output;
  EXPECT_TRUE(contains(output, "Tyep")) << output;
}

}  // namespace
}  // namespace tend
