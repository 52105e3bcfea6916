#include "api/app_changes.hpp"

#include <fmt/format.h>

#include "common/text.hpp"
#include "config/config.hpp"

namespace tend {

std::expected<AppSpec, std::string> withChanges(const AppSpec& spec,
                                                const nlohmann::json& changes) {
  if (!changes.is_object()) return std::unexpected("the changes must be a JSON object");
  nlohmann::json j = toJson(spec);
  for (const auto& [key, value] : changes.items()) {
    if (key == "port" || key == "instances") {
      if (!value.is_number_integer() && !value.is_string())
        return std::unexpected(fmt::format("{} must be a number or a string", key));
      j[key] = value;
    } else if (key == "max_memory" || key == "cwd") {
      if (!value.is_string()) return std::unexpected(fmt::format("{} must be a string", key));
      j[key] = value;
    } else if (key == "env") {
      if (!value.is_object()) return std::unexpected("env must be an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) return std::unexpected(fmt::format("env: {} must be a string", k));
        j["env"][k] = v;
      }
    } else if (key == "watch") {
      if (!value.is_boolean()) return std::unexpected("watch must be true or false");
    } else {
      return std::unexpected(fmt::format("'{}' cannot be changed from the command line", key));
    }
  }
  // After cwd: --watch means the app's working directory, whichever it is now.
  if (changes.contains("watch")) {
    if (changes["watch"].get<bool>())
      j["watch"] = nlohmann::json::array({j["cwd"]});
    else
      j.erase("watch");
  }
  auto checked = validateApp(fromJson(j), "", "/");
  if (!checked) {
    std::string message;
    for (const auto& e : checked.error()) message += (message.empty() ? "" : "; ") + e.message;
    return std::unexpected(fmt::format("{}: {}", spec.name, message));
  }
  return std::move(*checked);
}

bool runsTheSame(const AppSpec& a, const AppSpec& b) {
  return a.argv == b.argv && a.run_shell == b.run_shell && a.cwd == b.cwd &&
         a.start_cmd == b.start_cmd && a.stop_cmd == b.stop_cmd && a.check_cmd == b.check_cmd;
}

std::string commandText(const AppSpec& spec) {
  if (!spec.start_cmd.empty()) return spec.start_cmd;
  if (spec.run_shell && !spec.argv.empty()) return spec.argv.back();
  std::vector<std::string> words;
  for (const auto& w : spec.argv) words.push_back(shellQuote(w));
  return join(words, " ");
}

EnvList inheritableEnv(const nlohmann::json& env) {
  EnvList out;
  if (!env.is_object()) return out;
  for (const auto& [k, v] : env.items())
    if (v.is_string() && inheritableVariable(k) && k.find('=') == std::string::npos &&
        k.find('\0') == std::string::npos)
      out.emplace_back(k, v.get<std::string>());
  return out;
}

std::expected<AppSpec, std::string> planCliStart(const CliStart& start, const AppSpec* existing) {
  if (!existing || start.force) {
    AppSpec spec = start.requested;
    spec.inherited_env = start.caller_env;
    return spec;
  }
  if (!runsTheSame(*existing, start.requested)) {
    const std::string& name = existing->name;
    std::string where =
        existing->cwd != start.requested.cwd ? fmt::format(" in {}", existing->cwd) : "";
    return std::unexpected(fmt::format(
        "app '{}' already exists and runs `{}`{}; use --force to replace it, or `tend restart "
        "{}`",
        name, commandText(*existing), where, name));
  }
  // The same command again: a start of that app, with its options' changes (it keeps its
  // environment; `restart --update-env` refreshes that).
  return withChanges(*existing, start.changes);
}

}  // namespace tend
