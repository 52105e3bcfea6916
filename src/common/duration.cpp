#include "common/duration.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <limits>

namespace tend {
namespace {

struct Unit {
  std::string_view name;
  int64_t millis;
};
constexpr std::array<Unit, 5> kDurationUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

}  // namespace

std::expected<Duration, std::string> parseDuration(std::string_view text) {
  const std::string shown(text);
  if (text.empty()) return std::unexpected("empty duration (write e.g. 500ms, 10s, 5m)");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      return std::unexpected(fmt::format(
          "invalid duration '{}': expected a number followed by ms, s, m, h or d", shown));
    }
    int64_t value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10)
        return std::unexpected(fmt::format("duration '{}' is too large", shown));
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      return std::unexpected(
          fmt::format("duration '{}' has no unit (write {}ms or {}s)", shown, value, value));
    }
    const Unit* found = nullptr;
    for (const auto& u : kDurationUnits)
      if (u.name == unit) found = &u;
    if (!found) {
      return std::unexpected(fmt::format(
          "duration '{}' has an unknown unit '{}' (use ms, s, m, h or d)", shown, unit));
    }
    if (value > std::numeric_limits<int64_t>::max() / found->millis ||
        total > std::numeric_limits<int64_t>::max() - value * found->millis)
      return std::unexpected(fmt::format("duration '{}' is too large", shown));
    total += value * found->millis;
  }
  return Duration(total);
}

std::expected<uint64_t, std::string> parseSize(std::string_view text) {
  const std::string shown(text);
  if (text.empty()) return std::unexpected("empty size (write e.g. 512M, 10M, 1G)");
  uint64_t value = 0;
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (value > (std::numeric_limits<uint64_t>::max() - 9) / 10)
      return std::unexpected(fmt::format("size '{}' is too large", shown));
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0)
    return std::unexpected(
        fmt::format("invalid size '{}': expected a number with an optional K, M or G", shown));
  std::string_view unit = text.substr(i);
  uint64_t mult = 1;
  if (!unit.empty()) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    std::string_view rest = unit.substr(1);
    if (u == 'B' && rest.empty()) {
      mult = 1;
    } else {
      if (u == 'K')
        mult = 1ull << 10;
      else if (u == 'M')
        mult = 1ull << 20;
      else if (u == 'G')
        mult = 1ull << 30;
      else
        return std::unexpected(
            fmt::format("size '{}' has an unknown unit '{}' (use K, M or G)", shown, unit));
      if (!(rest.empty() || rest == "B" || rest == "b"))
        return std::unexpected(
            fmt::format("size '{}' has an unknown unit '{}' (use K, M or G)", shown, unit));
    }
  }
  if (value > std::numeric_limits<uint64_t>::max() / mult)
    return std::unexpected(fmt::format("size '{}' is too large", shown));
  return value * mult;
}

std::string formatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0ms";
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    if (ms % it->millis == 0) return fmt::format("{}{}", ms / it->millis, it->name);
  }
  return fmt::format("{}ms", ms);
}

std::string humanDuration(Duration d) {
  int64_t ms = d.count();
  if (ms < 0) ms = 0;
  if (ms < 1000) return fmt::format("{}ms", ms);
  int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}s", s);
  int64_t m = s / 60;
  if (m < 60) return fmt::format("{}m", m);
  int64_t h = m / 60;
  if (h < 24) return fmt::format("{}h", h);
  return fmt::format("{}D", h / 24);
}

std::string humanSize(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{}b", bytes);
  double v = static_cast<double>(bytes) / 1024;
  if (v < 1024) return fmt::format("{:.1f}kb", v);
  v /= 1024;
  if (v < 1024) return fmt::format("{:.1f}mb", v);
  return fmt::format("{:.1f}gb", v / 1024);
}

}  // namespace tend
