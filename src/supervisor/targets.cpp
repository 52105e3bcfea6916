#include "supervisor/targets.hpp"

#include <fmt/format.h>

#include <set>

#include "config/config.hpp"

namespace tend {

std::expected<std::vector<size_t>, std::string> resolveTarget(const std::string& target,
                                                              std::span<const TargetApp> apps) {
  std::vector<size_t> out;
  if (target == "all") {
    for (size_t i = 0; i < apps.size(); ++i) out.push_back(i);
    return out;
  }
  for (size_t i = 0; i < apps.size(); ++i)
    if (apps[i].name == target) return std::vector<size_t>{i};
  if (!target.empty() && target.find_first_not_of("0123456789") == std::string::npos &&
      target.size() < 18) {
    const int64_t id = std::stoll(target);
    for (size_t i = 0; i < apps.size(); ++i)
      if (apps[i].id == id) return std::vector<size_t>{i};
  }
  for (size_t i = 0; i < apps.size(); ++i)
    if (!apps[i].group.empty() && apps[i].group == target) out.push_back(i);
  if (!out.empty()) return out;
  std::set<std::string> groups;
  std::vector<std::string> names;
  for (const auto& a : apps) {
    names.push_back(a.name);
    if (!a.group.empty() && groups.insert(a.group).second) names.push_back(a.group);
  }
  const std::string what = groups.empty() ? "app" : "app or group";
  const std::string hint = suggestNearest(target, names);
  return std::unexpected(
      hint.empty() ? fmt::format("no {} named '{}'", what, target)
                   : fmt::format("no {} named '{}' (did you mean '{}'?)", what, target, hint));
}

}  // namespace tend
