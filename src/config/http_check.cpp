#include "config/http_check.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace tend {

namespace {

std::optional<int> statusNumber(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::expected<StatusRange, std::string> parseStatusRange(std::string_view text) {
  const std::string shape = fmt::format(
      "expected an HTTP status (200), a range (200-299) or a class (2xx), got '{}'", text);
  if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && (text[1] == 'x' || text[1] == 'X') &&
      (text[2] == 'x' || text[2] == 'X')) {
    int first = (text[0] - '0') * 100;
    return StatusRange{first, first + 99};
  }
  std::string_view low = text;
  std::string_view high = text;
  if (size_t dash = text.find('-'); dash != std::string_view::npos) {
    low = text.substr(0, dash);
    high = text.substr(dash + 1);
  }
  auto first = statusNumber(low);
  auto last = statusNumber(high);
  if (!first || !last) return std::unexpected(shape);
  for (int v : {*first, *last})
    if (v < 100 || v > 599)
      return std::unexpected(fmt::format("{} is not an HTTP status (100 to 599)", v));
  if (*first > *last)
    return std::unexpected(
        fmt::format("the range {}-{} is empty (write the lower status first)", *first, *last));
  return StatusRange{*first, *last};
}

std::string formatStatusRange(const StatusRange& range) {
  if (range.first == range.last) return std::to_string(range.first);
  return fmt::format("{}-{}", range.first, range.last);
}

bool probeMethodAllowed(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "POST" || method == "PUT";
}

}  // namespace tend
