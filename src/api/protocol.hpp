#pragma once
// The control protocol: one JSON object per line each way over the Unix socket.
//   request: {"cmd": "stop", "target": "api"}
//   reply:   {"ok": true, "data": ...}  or  {"ok": false, "error": "no app named 'x'"}
// Every request is validated here (known command, known fields of the right types) before
// anything acts on it; the API over HTTP will share the same validation.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

namespace tend {

constexpr size_t kMaxRequestBytes = 4 * 1024 * 1024;

struct Request {
  std::string cmd;
  nlohmann::json args;  // the whole validated object
  // Came over the local control socket from the daemon's own user (ControlServer sets it
  // after the SO_PEERCRED check); never over HTTP. Only such a request may see env values.
  bool local = false;
};

std::expected<Request, std::string> parseRequest(std::string_view line);

std::string okReply(const nlohmann::json& data);
std::string errorReply(const std::string& message);

}  // namespace tend
