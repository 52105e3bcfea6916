#pragma once
// What each CLI command does once its arguments are parsed. Each returns the process exit
// status: 0 done, 1 the request failed (a one-line reason on stderr), 2 bad usage.

#include <optional>
#include <string>
#include <vector>

namespace tend {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct StartOptions {
  std::string target;  // config file, script, command, or an existing app
  std::string name;
  std::string instances;  // "N" or "max"
  std::string port;
  std::vector<std::string> env;  // K=V
  std::string cwd;
  bool wait = false;
  bool watch = false;
  std::string max_memory;
  std::vector<std::string> args;
  bool json = false;
  bool dry_run = false;         // print the plan, change nothing
  bool prune = false;           // a config file's apply deletes the apps not in it
  bool force = false;           // replace an app of that name that runs something else
  bool after_dashdash = false;  // `--` was given: the words after the target are arguments
};

int cmdStart(const StartOptions& options);

// `tend restart NAME [--port P] [--env K=V]... [-i N] [--update-env]`: changes those fields
// of the app (kept in its spec), then restarts it; --update-env gives it this shell's
// environment instead of the one it was created with.
struct RestartOptions {
  std::vector<std::string> targets;  // names, ids, groups, all, config files
  std::string status;                // --status: the apps in that status instead
  std::string instances;
  std::string port;
  std::vector<std::string> env;  // K=V
  bool update_env = false;
  bool json = false;
};
int cmdRestart(const RestartOptions& options);
// `tend stop|reload|delete A B ...`: each target in turn (a name, id, group, all or config
// file); one that fails is reported and the others still run; exit status 1 if any failed.
// `status`: instead of targets, every app whose instances all have that status.
struct ActionOptions {
  std::vector<std::string> targets;
  std::string status;
  bool json = false;
};
// verb: "stop", "reload" or "delete" (restart: cmdRestart)
int cmdAction(const std::string& verb, const ActionOptions& options);
// `instances`: a count, or a change of it ("+1", "-2").
int cmdScale(const std::string& target, const std::string& instances, bool json);
// `group`: only that group's apps ("" for all).
int cmdList(bool json, const std::string& group = "");
// `show_env`: env values too (and the inherited environment), which the daemon gives over
// its local socket only.
int cmdDescribe(const std::string& target, bool json, bool show_env = false);
struct LogsOptions {
  std::vector<std::string> targets;  // none: all
  int lines = 15;
  bool follow = false;
  bool json = false;
  bool out_only = false;  // --out: stdout only
  bool err_only = false;  // --err: stderr only
  bool raw = false;       // --raw: lines as stored (a JSON log's objects, not their messages)
};
int cmdLogs(const LogsOptions& options);
int cmdPing(bool json);
int cmdKill();
int cmdInit(const std::string& path, bool force);
int cmdFlush(const std::vector<std::string>& targets);  // none: all
// Prints the systemd units that run the daemon at boot; or installs / removes them.
int cmdStartup(bool install, bool uninstall);
int cmdSave(bool json);
int cmdResurrect(bool json);
int cmdDaemon(bool background);
// Prints a one-time login link to the web dashboard (and opens it, unless `no_open`).
int cmdDashboard(bool no_open, bool json);

}  // namespace tend
