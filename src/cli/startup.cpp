#include "cli/startup.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/files.hpp"
#include "common/paths.hpp"
#include "common/run.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

namespace tend {
namespace {

// A value in double quotes as systemd unit files read it: C escapes for '\' '"' and
// newlines, '%' doubled (specifiers); in command lines '$' doubled too (variables).
std::string quoted(std::string_view value, bool command_line) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      case '%':
        out += "%%";
        break;
      case '$':
        out += command_line ? "$$" : "$";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

// A value taken to the end of the line (Description=, User=, conditions): only specifiers
// need escaping; newlines cannot be written at all.
std::string plain(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '%')
      out += "%%";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

// As systemd-escape does for a unit name's instance part.
std::string unitNamePart(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == ':' || c == '_' || c == '.' || c == '-')
      out += c;
    else
      out += fmt::format("\\x{:02x}", u);
  }
  return out;
}

std::string environmentLines(const StartupTarget& t) {
  std::string out = fmt::format("Environment={}\n", quoted("TEND_HOME=" + t.home, false));
  if (!t.path_env.empty())
    out += fmt::format("Environment={}\n", quoted("PATH=" + t.path_env, false));
  return out;
}

std::string shellLine(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const auto& a : argv) words.push_back(shellQuote(a));
  return join(words, " ");
}

std::vector<std::string> systemctl(const StartupTarget& t, std::vector<std::string> args) {
  std::vector<std::string> argv{"systemctl"};
  if (t.user_unit) argv.push_back("--user");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

std::string daemonUnitName(const StartupTarget& target) {
  return fmt::format("tend-{}.service", unitNamePart(target.user));
}

std::string resurrectUnitName(const StartupTarget& target) {
  return fmt::format("tend-{}-resurrect.service", unitNamePart(target.user));
}

std::string daemonUnit(const StartupTarget& t) {
  std::string unit = fmt::format(
      "# Written by `tend startup`: runs the tend daemon for {user} at boot. The daemon starts\n"
      "# again the apps that were running when it stopped; {resurrect} then applies\n"
      "# what `tend save` remembered.\n"
      "[Unit]\n"
      "Description=tend process manager ({user})\n",
      fmt::arg("user", plain(t.user)), fmt::arg("resurrect", resurrectUnitName(t)));
  if (!t.user_unit)  // the user manager has no network targets
    unit += "Wants=network-online.target\nAfter=network-online.target\n";
  unit += "\n[Service]\nType=notify\nNotifyAccess=main\n";
  if (!t.user_unit) unit += fmt::format("User={}\n", plain(t.user));
  unit += environmentLines(t);
  unit += fmt::format(
      "ExecStart={bin} daemon\n"
      "Restart=on-failure\n"
      "RestartSec=1s\n"
      "# SIGTERM to the daemon alone: it stops its apps itself (their stop_signal and\n"
      "# kill_timeout, in dependency order). Whatever is left when it has exited, or at\n"
      "# TimeoutStopSec, gets SIGKILL.\n"
      "KillMode=mixed\n"
      "TimeoutStopSec={stop}s\n"
      "LimitNOFILE=65536\n"
      "\n[Install]\n"
      "WantedBy={wanted_by}\n",
      fmt::arg("bin", quoted(t.tend_binary, true)), fmt::arg("stop", t.stop_timeout.count()),
      fmt::arg("wanted_by", t.user_unit ? "default.target" : "multi-user.target"));
  return unit;
}

std::string resurrectUnit(const StartupTarget& t) {
  std::string unit = fmt::format(
      "# Written by `tend startup`: once per boot, after the daemon is ready, brings back\n"
      "# what `tend save` remembered for {user}. Skipped when nothing was saved.\n"
      "[Unit]\n"
      "Description=tend: restore the apps saved by tend save ({user})\n"
      "Requires={daemon}\n"
      "After={daemon}\n"
      "ConditionPathExists={dump}\n"
      "\n[Service]\n"
      "Type=oneshot\n",
      fmt::arg("user", plain(t.user)), fmt::arg("daemon", daemonUnitName(t)),
      fmt::arg("dump", plain(Paths::forHome(t.home).dump)));
  if (!t.user_unit) unit += fmt::format("User={}\n", plain(t.user));
  unit += environmentLines(t);
  unit += fmt::format(
      "ExecStart={bin} resurrect\n"
      "\n[Install]\n"
      "WantedBy={wanted_by}\n",
      fmt::arg("bin", quoted(t.tend_binary, true)),
      fmt::arg("wanted_by", t.user_unit ? "default.target" : "multi-user.target"));
  return unit;
}

std::string defaultUnitDir(const StartupTarget& target) {
  if (!target.user_unit) return "/etc/systemd/system";
  const char* config = std::getenv("XDG_CONFIG_HOME");
  if (config && *config == '/') return std::string(config) + "/systemd/user";
  return absolutePath("~/.config/systemd/user");
}

std::expected<StartupTarget, std::string> startupTargetForInvoker() {
  StartupTarget target;
  const uid_t uid = ::getuid();
  const char* sudo_user = std::getenv("SUDO_USER");
  const bool via_sudo = uid == 0 && sudo_user && *sudo_user && std::strcmp(sudo_user, "root");
  errno = 0;
  const passwd* pw = via_sudo ? ::getpwnam(sudo_user) : ::getpwuid(uid);
  if (!pw)
    return std::unexpected(
        via_sudo ? fmt::format("cannot find the user '{}' (from SUDO_USER)", sudo_user)
                 : fmt::format("cannot find the user with uid {}", uid));
  target.user = pw->pw_name;
  target.user_unit = uid != 0;
  const char* tend_home = std::getenv("TEND_HOME");
  if (tend_home && *tend_home)
    target.home = Paths::forHome(tend_home).home;
  else if (via_sudo)  // root's HOME is not theirs
    target.home = Paths::forHome(std::string(pw->pw_dir) + "/.tend").home;
  else
    target.home = Paths::fromEnvironment().home;

  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::unexpected("cannot find the tend executable: " + ec.message());
  target.tend_binary = self.string();
  if (const char* path = std::getenv("PATH")) target.path_env = path;
  return target;
}

std::string startupInstructions(const StartupTarget& t) {
  const std::string dir = defaultUnitDir(t);
  const std::string daemon_path = dir + "/" + daemonUnitName(t);
  const std::string resurrect_path = dir + "/" + resurrectUnitName(t);
  std::string out = fmt::format(
      "# {daemon_path}\n{daemon}\n# {resurrect_path}\n{resurrect}\n"
      "# `tend startup --install` writes both and enables them; by hand:\n"
      "#   {reload}\n#   {enable}\n",
      fmt::arg("daemon_path", daemon_path), fmt::arg("daemon", daemonUnit(t)),
      fmt::arg("resurrect_path", resurrect_path), fmt::arg("resurrect", resurrectUnit(t)),
      fmt::arg("reload", shellLine(systemctl(t, {"daemon-reload"}))),
      fmt::arg("enable",
               shellLine(systemctl(t, {"enable", daemonUnitName(t), resurrectUnitName(t)}))));
  if (t.user_unit)
    out += fmt::format(
        "#   {}   (so the units run at boot, not only while you are logged in)\n"
        "# Or as root, for a system unit: sudo env PATH=\"$PATH\" {} startup --install\n",
        shellLine({"loginctl", "enable-linger", t.user}), shellQuote(t.tend_binary));
  return out;
}

std::string runCommand(const std::vector<std::string>& argv) {
  auto ran = runCapturing(argv, "", std::chrono::minutes(2));
  if (!ran) return fmt::format("cannot run {}: {}", argv[0], ran.error());
  const int status = ran->status;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string why(trim(ran->err));
  if (why.empty())
    why = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                            : fmt::format("killed by {}", signalName(WTERMSIG(status)));
  return why;
}

std::expected<InstallReport, std::string> installStartup(const StartupTarget& t,
                                                         const InstallOptions& options) {
  InstallReport report;
  const std::string dir = options.unit_dir.empty() ? defaultUnitDir(t) : options.unit_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return std::unexpected(fmt::format("cannot create {}: {}", dir, ec.message()));
  for (const auto& [name, text] : {std::pair{daemonUnitName(t), daemonUnit(t)},
                                   std::pair{resurrectUnitName(t), resurrectUnit(t)}}) {
    const std::string path = dir + "/" + name;
    if (auto written = writeFileAtomically(path, text, 0644); !written)
      return std::unexpected(written.error());
    report.written.push_back(path);
  }
  auto run = [&](const std::vector<std::string>& argv) {
    report.commands.push_back(shellLine(argv));
    return options.run(argv);
  };
  if (std::string why = run(systemctl(t, {"daemon-reload"})); !why.empty())
    return std::unexpected(
        fmt::format("the units are written, but {} failed: {}", report.commands.back(), why));
  if (std::string why = run(systemctl(t, {"enable", daemonUnitName(t), resurrectUnitName(t)}));
      !why.empty())
    return std::unexpected(
        fmt::format("the units are written, but {} failed: {}", report.commands.back(), why));
  if (t.user_unit) {
    if (std::string why = run({"loginctl", "enable-linger", t.user}); !why.empty())
      report.notes.push_back(fmt::format(
          "{} failed ({}): the units run while {} is logged in; to run them at boot, ask an "
          "administrator to run it, or install a system unit with sudo",
          report.commands.back(), why, t.user));
  }
  const std::string ctl = t.user_unit ? "systemctl --user" : "systemctl";
  report.notes.push_back(fmt::format(
      "tend starts at boot as {}. To move the daemon running now under systemd: tend save && "
      "tend kill && {} start {}",
      daemonUnitName(t), ctl, resurrectUnitName(t)));
  return report;
}

std::expected<InstallReport, std::string> uninstallStartup(const StartupTarget& t,
                                                           const InstallOptions& options) {
  InstallReport report;
  const std::string dir = options.unit_dir.empty() ? defaultUnitDir(t) : options.unit_dir;
  const std::vector<std::string> disable =
      systemctl(t, {"disable", daemonUnitName(t), resurrectUnitName(t)});
  report.commands.push_back(shellLine(disable));
  if (std::string why = options.run(disable); !why.empty())
    report.notes.push_back(fmt::format("{} failed: {}", report.commands.back(), why));
  for (const auto& name : {daemonUnitName(t), resurrectUnitName(t)}) {
    const std::string path = dir + "/" + name;
    if (::unlink(path.c_str()) == 0)
      report.written.push_back(path);
    else if (errno != ENOENT)
      return std::unexpected(fmt::format("cannot remove {}: {}", path, std::strerror(errno)));
  }
  const std::vector<std::string> reload = systemctl(t, {"daemon-reload"});
  report.commands.push_back(shellLine(reload));
  if (std::string why = options.run(reload); !why.empty())
    report.notes.push_back(fmt::format("{} failed: {}", report.commands.back(), why));
  return report;
}

}  // namespace tend
