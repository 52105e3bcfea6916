#pragma once
// The parts of an http ready/health check that the config spells as text: which statuses
// pass (`expect`) and which methods may be sent (`method`). Pure; no I/O.

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace tend {

// The statuses a check passes on, inclusive: `first`..`last`.
struct StatusRange {
  int first = 200;
  int last = 200;
  bool operator==(const StatusRange&) const = default;
};

// "200" -> 200..200, "200-299" -> 200..299, "2xx" (or "2XX") -> 200..299. Statuses are
// 100 to 599, and a range's first is not above its last. The error says what was wrong
// with `text` (without naming the key).
std::expected<StatusRange, std::string> parseStatusRange(std::string_view text);

// The config's spelling of a range: "200", "200-299".
std::string formatStatusRange(const StatusRange& range);

// GET, HEAD, POST and PUT (upper case, as sent); others are not probe methods.
bool probeMethodAllowed(std::string_view method);
inline constexpr std::string_view kProbeMethods = "GET, HEAD, POST or PUT";

}  // namespace tend
