#include "cli/targets.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/text.hpp"

namespace tend {

const std::vector<std::string>& instanceStatuses() {
  static const std::vector<std::string> kStatuses = {"starting", "online",  "stopping",
                                                     "stopped",  "waiting", "errored"};
  return kStatuses;
}

std::vector<std::string> appsInStatus(const nlohmann::json& list, const std::string& status) {
  std::vector<std::string> order;
  std::vector<bool> all;
  for (const auto& inst : list) {
    const std::string name = inst.value("name", "");
    const bool match = inst.value("status", "") == status;
    auto it = std::ranges::find(order, name);
    if (it == order.end()) {
      order.push_back(name);
      all.push_back(match);
    } else {
      const size_t i = static_cast<size_t>(it - order.begin());
      all[i] = all[i] && match;
    }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < order.size(); ++i)
    if (all[i]) out.push_back(order[i]);
  return out;
}

const std::vector<std::string>& defaultConfigNames() {
  static const std::vector<std::string> kNames = {
      "tend.yaml", "tend.yml", "tend.toml", "tend.json", "ecosystem.config.js", "ecosystem.json"};
  return kNames;
}

std::expected<std::string, std::string> findDefaultConfig(const std::string& dir) {
  for (const auto& name : defaultConfigNames()) {
    const std::string path = dir == "." ? name : dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return path;
  }
  return std::unexpected(fmt::format(
      "no config file here: looked in {} for {}; name one (tend start FILE), or create one "
      "with `tend init`",
      dir == "." ? "the current folder" : dir, join(defaultConfigNames(), ", ")));
}

}  // namespace tend
