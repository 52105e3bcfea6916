#include "logs/json_line.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace tend {
namespace {

std::string quoted(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string jsonLineFields(std::string_view app, int instance, std::string_view stream) {
  return fmt::format(R"(","app":{},"instance":{},"stream":{},"message":)", quoted(app), instance,
                     quoted(stream));
}

void appendJsonLine(std::string& out, std::string_view time, std::string_view fields,
                    std::string_view message) {
  out += R"({"time":")";
  out += time;
  out += fields;
  out += quoted(message);
  out += '}';
}

std::optional<JsonLogRecord> parseJsonLine(std::string_view line) {
  if (!line.starts_with(R"({"time":")")) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto text = [&](const char* key) -> const std::string* {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const std::string* time = text("time");
  const std::string* message = text("message");
  if (!time || !message) return std::nullopt;
  JsonLogRecord r;
  r.time = *time;
  r.message = *message;
  if (const std::string* app = text("app")) r.app = *app;
  if (const std::string* stream = text("stream")) r.stream = *stream;
  if (auto it = j.find("instance"); it != j.end() && it->is_number_integer())
    r.instance = it->get<int>();
  return r;
}

std::string displayLogLine(const std::string& line) {
  auto record = parseJsonLine(line);
  if (!record) return line;
  return record->time + " " + record->message;
}

}  // namespace tend
