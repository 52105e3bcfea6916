#pragma once
// `tend startup`: systemd units that run `tend daemon` at boot for one user and bring back
// the apps `tend save` remembered, and installing them (`--install`).
//
// Two units, so each part is robust on its own:
//
//   tend-<user>.service            Type=notify: `tend daemon`, ready once it sends READY=1.
//                                  Restart=on-failure. KillMode=mixed: on stop, SIGTERM goes
//                                  to the daemon alone, which stops its apps itself (their
//                                  stop_signal, kill_timeout, dependency order); whatever is
//                                  left when it exits, or at TimeoutStopSec, gets SIGKILL.
//                                  (The default, control-group, would SIGTERM every app at
//                                  the same moment as the daemon: wrong signal for apps with
//                                  another stop_signal, no dependency order, and a race with
//                                  the daemon's own stop. KillMode=process would leave
//                                  leftovers running in the cgroup.)
//   tend-<user>-resurrect.service  Type=oneshot: `tend resurrect`, once per boot, after the
//                                  daemon is ready; skipped when there is no dump.json.
//                                  A separate unit rather than ExecStartPost= on the daemon,
//                                  because ExecStartPost would run again on every automatic
//                                  restart after a crash and put back the saved set over
//                                  what the user has changed since (the daemon restores its
//                                  own state from state.db), and because it would count
//                                  against the daemon's start timeout.
//
// As root the units are system units (/etc/systemd/system, User=<user>); otherwise user
// units (~/.config/systemd/user), which run at boot only with lingering enabled
// (`loginctl enable-linger`), which --install asks for.

#include <chrono>
#include <expected>
#include <functional>
#include <string>
#include <vector>

namespace tend {

struct StartupTarget {
  std::string user;         // whose daemon (User= in a system unit)
  std::string home;         // TEND_HOME, absolute
  std::string tend_binary;  // absolute path of the tend executable
  std::string path_env;     // PATH for the daemon and so its apps; empty: systemd's default
  bool user_unit = false;   // a `systemctl --user` unit: no User=, WantedBy=default.target
  std::chrono::seconds stop_timeout{120};  // TimeoutStopSec: above the apps' kill_timeouts
};

// Who is asking: the invoking user (SUDO_USER when root runs it through sudo), TEND_HOME
// (from the environment, else ~/.tend of that user), this executable (/proc/self/exe) and
// PATH. A system unit when running as root, else a user unit.
std::expected<StartupTarget, std::string> startupTargetForInvoker();

// "tend-alice.service" and "tend-alice-resurrect.service" (characters a unit name cannot
// hold are escaped as systemd-escape does).
std::string daemonUnitName(const StartupTarget& target);
std::string resurrectUnitName(const StartupTarget& target);

// The unit files' text. Values are quoted and escaped for systemd (spaces, '%', '$', '"').
std::string daemonUnit(const StartupTarget& target);
std::string resurrectUnit(const StartupTarget& target);

// Where the units go: /etc/systemd/system, or $XDG_CONFIG_HOME/systemd/user (default
// ~/.config/systemd/user) for user units.
std::string defaultUnitDir(const StartupTarget& target);

// What `tend startup` prints without --install: both units, where they go, and the
// commands that install them.
std::string startupInstructions(const StartupTarget& target);

// Runs a command to its end: "" on success, else why not (its stderr, or exit status).
using CommandRunner = std::function<std::string(const std::vector<std::string>& argv)>;
// The real one: posix_spawnp, stdin on /dev/null, stderr captured.
std::string runCommand(const std::vector<std::string>& argv);

struct InstallOptions {
  std::string unit_dir;            // empty: defaultUnitDir(target)
  CommandRunner run = runCommand;  // systemctl and loginctl go through this
};

struct InstallReport {
  std::vector<std::string> written;   // unit files written (install) or removed (uninstall)
  std::vector<std::string> commands;  // what was run, as shell text
  std::vector<std::string> notes;     // for the person: what happens next, what failed softly
};

// Writes both units (atomically, mode 0644), then `systemctl [--user] daemon-reload` and
// `systemctl [--user] enable` of both; for user units also `loginctl enable-linger <user>`
// (a failure there is a note, not an error: the units still run while the user is logged
// in). Does not start the daemon: one may be running already outside systemd, and two
// cannot share a TEND_HOME; the notes say how to move it under systemd.
std::expected<InstallReport, std::string> installStartup(const StartupTarget& target,
                                                         const InstallOptions& options = {});

// `systemctl disable` of both units and removal of their files (missing ones are fine).
std::expected<InstallReport, std::string> uninstallStartup(const StartupTarget& target,
                                                           const InstallOptions& options = {});

}  // namespace tend
