#include "cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "cli/commands.hpp"
#include "cli/monit.hpp"
#include "common/paths.hpp"
#include "common/text.hpp"
#include "config/config.hpp"

namespace tend {

std::string unknownCommandMessage(const std::string& word,
                                  const std::vector<std::string>& commands) {
  std::vector<std::string> near = suggestSeveral(word, commands);
  std::string out = "tend: unknown command '" + printableText(word) + "'";
  if (!near.empty()) {
    std::vector<std::string> quoted;
    for (const auto& n : near) quoted.push_back("'" + n + "'");
    std::string list = quoted.back();
    if (quoted.size() > 1)
      list = join(std::vector<std::string>(quoted.begin(), quoted.end() - 1), ", ") + " or " +
             quoted.back();
    out += "; did you mean " + list + "?";
  }
  return out + "\nRun 'tend --help' for the list of commands.\n";
}

int runCli(int argc, char** argv) {
  // Names, commands, paths and --env values go to the daemon as JSON, which holds UTF-8 text
  // only: an argument that is not UTF-8 is refused here, by its position, before anything.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (size_t bad = invalidUtf8At(arg); bad != std::string_view::npos) {
      std::fprintf(stderr,
                   "tend: argument %d ('%s') is not valid UTF-8 (byte 0x%02X); tend takes names, "
                   "commands, paths and environment values as UTF-8 text\n",
                   i, printableText(arg).c_str(), static_cast<unsigned char>(arg[bad]));
      return kExitUsage;
    }
  }
  // $TEND_HOME (or $HOME) ends up in paths the daemon reports as JSON, and the CLI opens the
  // log files by those paths: a home that is not UTF-8 could not be found again.
  if (std::string home = Paths::fromEnvironment().home; !isUtf8(home)) {
    std::fprintf(stderr,
                 "tend: TEND_HOME (%s) is not valid UTF-8; tend keeps its paths as UTF-8 text: "
                 "set TEND_HOME to a folder whose name is\n",
                 printableText(home).c_str());
    return kExitUsage;
  }
  CLI::App app{"tend: keeps services running, and starts them on their first request", "tend"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tend 0.1.0");
  std::function<int()> run;
  bool as_json = false;

  StartOptions start;
  auto* c_start = app.add_subcommand(
      "start",
      "Start a config file's apps, a script, a command, or an existing app (options given with "
      "an existing app's name change those fields of it, kept, then it runs with them)");
  c_start->add_option("target", start.target,
                      "tend.yaml|.toml|.json, a script, a quoted command, or an app "
                      "name/id/group/all (several apps: tend start a b). None: the first of "
                      "tend.yaml, tend.yml, tend.toml, tend.json, ecosystem.config.js, "
                      "ecosystem.json in this folder");
  c_start->add_option("args", start.args, "Arguments for the script (after --)");
  c_start->add_option("--name", start.name, "App name (default: the script's name)");
  c_start->add_option("-i,--instances", start.instances, "Number of instances, or max");
  c_start->add_option("--port", start.port, "Port: P, A-B (one per instance), auto, auto:A-B");
  c_start->add_option("--env", start.env,
                      "Environment variable KEY=VALUE (repeatable); on a PM2 ecosystem file, NAME "
                      "picks its env_NAME");
  c_start->add_option("--cwd", start.cwd, "Working directory (default: the current one)");
  c_start->add_flag("--wait", start.wait,
                    "Return once every instance is online (its ready probe passed); exit 1 "
                    "with the reason when one fails to start");
  c_start->add_flag("--watch", start.watch, "Restart when files in the working directory change");
  c_start->add_option("--max-memory", start.max_memory, "Restart above this RSS, e.g. 512M");
  c_start->add_flag("--dry-run", start.dry_run,
                    "Print the plan (apps added, changed field by field, unchanged; the gateway's "
                    "and API's moves) and change nothing");
  c_start->add_flag("--prune", start.prune,
                    "With a config file: delete the apps that run now but are not in it");
  c_start->add_flag("--force,-f", start.force,
                    "Replace an existing app of that name that runs another command (or in "
                    "another folder): its old spec goes, this one runs. Without it that is "
                    "refused");
  c_start->add_flag("--json", start.json, "Print JSON");
  c_start->callback([&] { run = [&] { return cmdStart(start); }; });

  std::string target;
  std::vector<std::string> targets;
  std::string status_filter;
  RestartOptions restart;
  for (const char* verb : {"stop", "restart", "reload", "delete"}) {
    std::string what = std::string(1, static_cast<char>(std::toupper(verb[0]))) + (verb + 1);
    auto* c = app.add_subcommand(
        verb, std::string(verb) == "reload"
                  ? "Replace every instance of apps with no downtime (new one ready, then the "
                    "old one drained and stopped)"
                  : what + " apps by name, id, group or all, several at once (" + verb +
                        " a b c: an unknown one is reported, exit status 1, and the others are "
                        "still done)");
    c->add_option("target", targets,
                  "App names, ids, groups, all, or a config file (its apps; restart reads it "
                  "again)");
    c->add_option("--status", status_filter,
                  "Instead of names: every app whose instances all have this status (starting, "
                  "online, stopping, stopped, waiting, errored)");
    c->add_flag("--json", as_json, "Print JSON");
    if (std::string(verb) == "delete") c->alias("del");
    if (std::string(verb) == "restart") {
      c->add_option("--port", restart.port,
                    "Change the app's port first (kept): P, A-B, auto, auto:A-B");
      c->add_option("-i,--instances", restart.instances,
                    "Change the number of instances first (kept): N or max");
      c->add_option("--env", restart.env,
                    "Set an environment variable of the app first (kept), KEY=VALUE; repeatable");
      c->add_flag("--update-env", restart.update_env,
                  "Give the app this shell's environment (instead of the one it was started "
                  "with); its env and env_file still override it");
      c->callback([&] {
        run = [&] {
          restart.targets = targets;
          restart.status = status_filter;
          restart.json = as_json;
          return cmdRestart(restart);
        };
      });
      continue;
    }
    c->callback([&, verb] {
      run = [&, verb] { return cmdAction(verb, {targets, status_filter, as_json}); };
    });
  }

  auto* c_list = app.add_subcommand("list", "Show every app and instance");
  c_list->alias("ls");
  c_list->alias("status");
  c_list->add_flag("--json", as_json, "Print JSON");
  std::string list_group;
  c_list->add_option("--group", list_group, "Only the apps of this group");
  c_list->callback([&] { run = [&] { return cmdList(as_json, list_group); }; });

  auto* c_describe = app.add_subcommand("describe", "Everything known about one app");
  c_describe->alias("show");
  c_describe->add_option("target", target, "App name, id, or all")->required();
  c_describe->add_flag("--json", as_json, "Print JSON");
  bool show_env = false;
  c_describe->add_flag("--show-env", show_env,
                       "Show env values and the inherited environment too (they never leave the "
                       "daemon over HTTP; the local socket gives them to its own user)");
  c_describe->callback([&] { run = [&] { return cmdDescribe(target, as_json, show_env); }; });

  LogsOptions logs;
  auto* c_logs = app.add_subcommand("logs", "Show (and follow) the apps' stdout and stderr");
  c_logs->add_option("target", logs.targets, "App names, ids, groups, or all (the default)");
  c_logs->add_option("--lines,-n", logs.lines, "Lines to show from the end of each log file")
      ->check(CLI::NonNegativeNumber);
  c_logs->add_flag("-f,--follow", logs.follow, "Keep printing new lines until interrupted");
  c_logs->add_flag("--json", logs.json, "One JSON object per line");
  c_logs->add_flag("--raw", logs.raw,
                   "Lines as stored: an app with logs.format json shows its JSON objects");
  auto* out_flag = c_logs->add_flag("--out", logs.out_only, "Only stdout");
  c_logs->add_flag("--err", logs.err_only, "Only stderr")->excludes(out_flag);
  c_logs->callback([&] { run = [&] { return cmdLogs(logs); }; });

  std::string scale_to;
  auto* c_scale = app.add_subcommand("scale", "Change the number of instances of an app");
  c_scale->add_option("name", target, "App name or id")->required();
  c_scale
      ->add_option("instances", scale_to,
                   "How many instances (1-1024), or a change of it: +1, -1, +3")
      ->required();
  c_scale->add_flag("--json", as_json, "Print JSON");
  c_scale->callback([&] { run = [&] { return cmdScale(target, scale_to, as_json); }; });

  auto* c_monit = app.add_subcommand(
      "monit", "Live dashboard: status, cpu, memory and logs; keys restart, stop, start");
  std::string monit_interval = "1s";
  c_monit->add_option("--interval", monit_interval,
                      "How often the screen refreshes: seconds (2, 0.5) or a duration (500ms, 2s); "
                      "from 100ms to 1h (default: 1s)");
  c_monit->callback([&] { run = [&] { return cmdMonit(monit_interval); }; });

  auto* c_ping =
      app.add_subcommand("ping", "Check that the daemon answers (starting it if needed)");
  c_ping->add_flag("--json", as_json, "Print JSON");
  c_ping->callback([&] { run = [&] { return cmdPing(as_json); }; });

  auto* c_kill = app.add_subcommand("kill", "Stop every app, then the daemon");
  c_kill->callback([&] { run = [&] { return cmdKill(); }; });

  std::string init_path = "tend.yaml";
  bool force = false;
  auto* c_init = app.add_subcommand("init", "Write a commented example tend.yaml");
  c_init->add_option("path", init_path, "Where to write it (default: tend.yaml)");
  c_init->add_flag("--force", force, "Overwrite an existing file");
  c_init->callback([&] { run = [&] { return cmdInit(init_path, force); }; });

  std::vector<std::string> flush_targets;
  auto* c_flush = app.add_subcommand("flush", "Empty the apps' log files");
  c_flush->add_option("target", flush_targets, "App names, ids, groups, or all (the default)");
  c_flush->callback([&] { run = [&] { return cmdFlush(flush_targets); }; });

  bool install = false, uninstall = false;
  auto* c_startup =
      app.add_subcommand("startup", "Print (or --install) systemd units that run tend at boot");
  c_startup->add_flag("--install", install, "Write and enable the units");
  c_startup->add_flag("--uninstall", uninstall, "Disable and remove the units");
  c_startup->callback([&] { run = [&] { return cmdStartup(install, uninstall); }; });

  auto* c_save = app.add_subcommand("save", "Remember the apps and whether each runs");
  c_save->alias("dump");
  c_save->add_flag("--json", as_json, "Print JSON");
  c_save->callback([&] { run = [&] { return cmdSave(as_json); }; });

  auto* c_resurrect = app.add_subcommand("resurrect", "Bring back what `tend save` remembered");
  c_resurrect->add_flag("--json", as_json, "Print JSON");
  c_resurrect->callback([&] { run = [&] { return cmdResurrect(as_json); }; });

  bool no_open = false;
  auto* c_dashboard =
      app.add_subcommand("dashboard", "Print (and open) a one-time login link to the dashboard");
  c_dashboard->add_flag("--no-open", no_open, "Only print the link");
  c_dashboard->add_flag("--json", as_json, "Print JSON");
  c_dashboard->callback([&] { run = [&] { return cmdDashboard(no_open, as_json); }; });

  bool background = false;
  auto* c_daemon = app.add_subcommand("daemon", "Run the daemon in the foreground (for systemd)");
  c_daemon->add_flag("--background", background, "Started by the CLI: log to the file only");
  c_daemon->callback([&] { run = [&] { return cmdDaemon(background); }; });

  // An unknown command is named with its likely meanings (CLI11 would only say that an
  // argument was not expected).
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      names.push_back(sub->get_name());
      for (const auto& alias : sub->get_aliases()) names.push_back(alias);
    }
    if (std::ranges::find(names, std::string(argv[1])) == names.end()) {
      std::fputs(unknownCommandMessage(argv[1], names).c_str(), stderr);
      return kExitUsage;
    }
  }
  // `tend start a b -- x`: what follows `--` is the script's, never more apps to start.
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") start.after_dashdash = true;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tend: %s\nRun 'tend --help' or 'tend <command> --help'.\n", e.what());
    return kExitUsage;
  }
  return run ? run() : kExitUsage;
}

}  // namespace tend
