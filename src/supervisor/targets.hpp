#pragma once
// What a command's target names: "all", an app's name, its id, or a group (every app whose
// `group` it is). Pure: the supervisor hands in a view of its apps.

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

namespace tend {

struct TargetApp {
  std::string name;
  int64_t id = 0;
  std::string group;  // "" for none
};

// The indexes into `apps` that `target` names, in the apps' order: all of them for "all",
// one for a name or an id, every member for a group. Names and groups never collide (the
// validator and the apply plan refuse it); a name wins if they ever did. An unknown target
// is an error naming it, with the nearest app or group name when there is a likely typo:
// "no app or group named 'wbe' (did you mean 'web'?)".
std::expected<std::vector<size_t>, std::string> resolveTarget(const std::string& target,
                                                              std::span<const TargetApp> apps);

}  // namespace tend
