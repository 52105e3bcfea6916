#include "api/protocol.hpp"

#include <fmt/format.h>

#include <map>
#include <vector>

namespace tend {
namespace {

enum class Type { String, Array, Bool, Int, Object };

struct Field {
  const char* name;
  Type type;
  bool required;
};

const std::map<std::string, std::vector<Field>, std::less<>>& commands() {
  static const std::map<std::string, std::vector<Field>, std::less<>> kCommands{
      {"ping", {}},
      // "group": only that group's apps.
      {"list", {{"group", Type::String, false}}},
      {"kill", {}},
      {"save", {}},
      {"resurrect", {}},
      {"dashboard", {}},
      {"start",
       {{"target", Type::String, false},
        {"apps", Type::Array, false},
        {"gateway", Type::Object, false},
        {"api", Type::Object, false},
        // A config's `webhooks` list (toJson of each WebhookSpec); [] removes them.
        {"webhooks", Type::Array, false},
        {"wait", Type::Bool, false},
        {"plan", Type::Bool, false},  // reply {"plan", "apps"} instead of the list alone
        {"dry_run", Type::Bool, false},
        {"prune", Type::Bool, false},
        // The fields the command line's options change ({"port": 3002, ...}): of the
        // target app, or (with "script") of the existing app a script start names.
        {"set", Type::Object, false},
        // The apps come from a CLI start of a script or command (not a config file): a
        // name that runs something else is refused unless "force".
        {"script", Type::Bool, false},
        {"force", Type::Bool, false},
        // The caller's environment ({"NAME": "value"}), given to the apps this creates.
        {"caller_env", Type::Object, false},
        // With a config's apps: existing apps take caller_env too (restart --update-env).
        {"update_env", Type::Bool, false},
        // The apps must be new (the HTTP API's POST /api/apps): an existing name is refused.
        {"create", Type::Bool, false}}},
      {"stop", {{"target", Type::String, true}}},
      // "set": fields to change first (kept); "caller_env": --update-env.
      {"restart",
       {{"target", Type::String, true},
        {"set", Type::Object, false},
        {"caller_env", Type::Object, false}}},
      {"reload", {{"target", Type::String, true}}},
      // "instances": the count; or "by": a change of it (+1, -1). Exactly one.
      {"scale",
       {{"target", Type::String, true}, {"instances", Type::Int, false}, {"by", Type::Int, false}}},
      {"delete", {{"target", Type::String, true}}},
      // "show_env": env values too (the local socket only: see Request::local).
      {"describe", {{"target", Type::String, true}, {"show_env", Type::Bool, false}}},
      {"logs", {{"target", Type::String, true}}},
      {"flush", {{"target", Type::String, true}}},
  };
  return kCommands;
}

bool hasType(const nlohmann::json& v, Type t) {
  switch (t) {
    case Type::String:
      return v.is_string();
    case Type::Array:
      return v.is_array();
    case Type::Bool:
      return v.is_boolean();
    case Type::Int:
      return v.is_number_integer();
    case Type::Object:
      return v.is_object();
  }
  return false;
}

const char* typeName(Type t) {
  switch (t) {
    case Type::String:
      return "a string";
    case Type::Array:
      return "an array";
    case Type::Bool:
      return "a boolean";
    case Type::Int:
      return "an integer";
    case Type::Object:
      return "an object";
  }
  return "?";
}

}  // namespace

std::expected<Request, std::string> parseRequest(std::string_view line) {
  if (line.size() > kMaxRequestBytes)
    return std::unexpected(
        fmt::format("request too large ({} bytes, limit {})", line.size(), kMaxRequestBytes));
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected("malformed request: not valid JSON");
  if (!j.is_object()) return std::unexpected("malformed request: expected a JSON object");
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string())
    return std::unexpected("malformed request: \"cmd\" must be a string");
  const auto& table = commands();
  auto spec = table.find(cmd->get<std::string>());
  if (spec == table.end())
    return std::unexpected(fmt::format("unknown command '{}'", cmd->get<std::string>()));
  for (const auto& [key, value] : j.items()) {
    if (key == "cmd") continue;
    const Field* field = nullptr;
    for (const Field& f : spec->second)
      if (key == f.name) field = &f;
    if (!field) return std::unexpected(fmt::format("'{}' takes no field '{}'", spec->first, key));
    if (!hasType(value, field->type))
      return std::unexpected(fmt::format("field '{}' must be {}", key, typeName(field->type)));
  }
  for (const Field& f : spec->second)
    if (f.required && !j.contains(f.name))
      return std::unexpected(fmt::format("'{}' needs the field '{}'", spec->first, f.name));
  if (spec->first == "start" && j.contains("target") == j.contains("apps"))
    return std::unexpected("'start' needs exactly one of 'target' and 'apps'");
  if (spec->first == "start" && j.contains("gateway") && !j.contains("apps"))
    return std::unexpected("'gateway' comes with 'apps' (a config file)");
  if (spec->first == "start" && j.contains("api") && !j.contains("apps"))
    return std::unexpected("'api' comes with 'apps' (a config file)");
  if (spec->first == "start" && j.contains("webhooks") && !j.contains("apps"))
    return std::unexpected("'webhooks' comes with 'apps' (a config file)");
  if (spec->first == "start" && (j.contains("script") || j.contains("force")) &&
      !j.contains("apps"))
    return std::unexpected("'script' and 'force' come with 'apps'");
  if (spec->first == "start" && j.contains("create") && !j.contains("apps"))
    return std::unexpected("'create' comes with 'apps'");
  if (spec->first == "scale" && j.contains("instances") == j.contains("by"))
    return std::unexpected("'scale' needs exactly one of 'instances' and 'by'");
  return Request{spec->first, std::move(j)};
}

std::string okReply(const nlohmann::json& data) {
  nlohmann::json j{{"ok", true}, {"data", data}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string errorReply(const std::string& message) {
  nlohmann::json j{{"ok", false}, {"error", message}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tend
