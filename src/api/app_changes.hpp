#pragma once
// What a command-line `start` or `restart` does to an app that may already exist: which
// spec it applies, or why it is refused. Pure logic (no supervisor, no I/O), so that the
// control handlers stay a thin layer and the rules are tested on their own.
//
// The rules (SPEC.md, "Changing what runs"):
//  - A name belongs to one app. A CLI start of a script or command under a name that runs
//    something else (another run/argv or cwd) is refused unless forced; forced, the new
//    spec replaces the old one.
//  - Starting an existing app (by its name, or the same command again) with options
//    changes those fields of its stored spec and keeps the others.
//  - The caller's environment is given to the apps a start creates; an existing app keeps
//    the one it has, except after `restart --update-env`.

#include <nlohmann/json.hpp>

#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/app_spec.hpp"

namespace tend {

using EnvList = std::vector<std::pair<std::string, std::string>>;

// The fields a CLI option may change, as JSON: {"port": 3002 | "3001-3004" | "auto",
// "instances": 2 | "max", "env": {"K": "V"} (merged over the app's env), "max_memory":
// "512M", "watch": true (the app's working directory), "cwd": "/abs/dir"}. Returns the
// changed, validated spec, or a one-line reason (an unknown field, a bad value).
std::expected<AppSpec, std::string> withChanges(const AppSpec& spec, const nlohmann::json& changes);

// True when both run the same thing: the same run (argv, shell or not) or the same
// start/stop/check commands, in the same working directory.
bool runsTheSame(const AppSpec& a, const AppSpec& b);

// The app's command as people read it: the shell string, or the argv shell-quoted.
std::string commandText(const AppSpec& spec);

// A caller's environment sent as a JSON object of strings, minus what an app must not
// inherit (inheritableVariable); non-string values are skipped.
EnvList inheritableEnv(const nlohmann::json& env);

// A CLI start of a script or command: `requested` is the whole spec the command line
// describes, `changes` the fields its options set (as for withChanges), `existing` the
// app of that name if there is one. Returns the spec to apply, or why not.
struct CliStart {
  AppSpec requested;
  nlohmann::json changes = nlohmann::json::object();
  bool force = false;
  std::optional<EnvList> caller_env;
};
std::expected<AppSpec, std::string> planCliStart(const CliStart& start, const AppSpec* existing);

}  // namespace tend
