#include "api/scale_change.hpp"

#include <fmt/format.h>

namespace tend {

std::expected<ScaleChange, std::string> parseScaleArgument(std::string_view text) {
  ScaleChange change;
  std::string_view digits = text;
  int sign = 1;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    change.relative = true;
    sign = digits.front() == '-' ? -1 : 1;
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 4 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::unexpected(fmt::format(
        "scale takes a number of instances (4), or a change of it (+1, -1); got '{}'", text));
  int n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  change.value = sign * n;
  return change;
}

std::expected<int, std::string> scaledCount(const std::string& app, int current,
                                            ScaleChange change) {
  const long wanted =
      change.relative ? static_cast<long>(current) + change.value : static_cast<long>(change.value);
  if (wanted < 1) {
    if (!change.relative)
      return std::unexpected(fmt::format(
          "{} cannot have {} instances; scale keeps at least 1 (`tend stop {}` stops it)", app,
          wanted, app));
    return std::unexpected(fmt::format(
        "{} has {} instance{}; {:+} would leave {}, and scale keeps at least 1 (`tend stop {}` "
        "stops it)",
        app, current, current == 1 ? "" : "s", change.value, wanted, app));
  }
  if (wanted > kMaxScaleInstances)
    return std::unexpected(
        fmt::format("{} would have {} instances; the most is {}", app, wanted, kMaxScaleInstances));
  return static_cast<int>(wanted);
}

}  // namespace tend
