#include "supervisor/dependency_graph.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/text.hpp"

namespace tend {

void DependencyGraph::set(const std::string& app, std::vector<Dependency> deps) {
  if (deps.empty())
    deps_.erase(app);
  else
    deps_[app] = std::move(deps);
}

void DependencyGraph::remove(const std::string& app) {
  deps_.erase(app);
}

const std::vector<Dependency>& DependencyGraph::dependencies(const std::string& app) const {
  static const std::vector<Dependency> kNone;
  auto it = deps_.find(app);
  return it == deps_.end() ? kNone : it->second;
}

std::vector<std::string> DependencyGraph::startOrder(const std::string& app) const {
  std::vector<std::string> out;
  std::set<std::string> seen{app};
  // Depth-first, post-order: a dependency is listed after its own dependencies.
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    for (const Dependency& d : dependencies(name)) {
      if (!seen.insert(d.app).second) continue;
      visit(d.app);
      out.push_back(d.app);
    }
  };
  visit(app);
  return out;
}

std::vector<std::string> DependencyGraph::sorted(const std::vector<std::string>& apps) const {
  const std::set<std::string> in(apps.begin(), apps.end());
  std::vector<std::string> out;
  std::set<std::string> done, on_path;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (done.contains(name) || !on_path.insert(name).second) return;
    for (const Dependency& d : dependencies(name))
      if (in.contains(d.app)) visit(d.app);
    on_path.erase(name);
    done.insert(name);
    out.push_back(name);
  };
  for (const std::string& a : apps) visit(a);
  return out;
}

std::vector<std::vector<std::string>> DependencyGraph::stopLevels(
    const std::vector<std::string>& apps) const {
  // An app's level is one more than the deepest level of its dependents within the set.
  const std::vector<std::string> order = sorted(apps);  // dependencies first
  std::map<std::string, size_t> level;
  for (auto it = order.rbegin(); it != order.rend(); ++it) level.emplace(*it, 0);
  for (auto it = order.rbegin(); it != order.rend(); ++it)  // dependents first
    for (const Dependency& d : dependencies(*it))
      if (auto dep = level.find(d.app); dep != level.end())
        dep->second = std::max(dep->second, level[*it] + 1);
  std::vector<std::vector<std::string>> out;
  for (const std::string& a : apps) {
    const size_t l = level[a];
    if (out.size() <= l) out.resize(l + 1);
    if (std::ranges::find(out[l], a) == out[l].end()) out[l].push_back(a);
  }
  return out;
}

Gate DependencyGraph::gate(const std::vector<Dependency>& deps,
                           const std::function<DependencyState(const std::string&)>& state) {
  using Phase = DependencyState::Phase;
  std::vector<std::string> waiting;
  for (const Dependency& d : deps) {
    const DependencyState s = state(d.app);
    const std::string_view cond = conditionName(d.condition);
    switch (s.phase) {
      case Phase::Missing:
        return {Gate::Kind::Fail, fmt::format("depends on '{}', which does not exist", d.app)};
      case Phase::Stopped:
        return {Gate::Kind::Fail, fmt::format("dependency {} is stopped", d.app)};
      case Phase::Failed:
        return {Gate::Kind::Fail, fmt::format("dependency {} failed{}", d.app,
                                              s.detail.empty() ? "" : ": " + s.detail)};
      case Phase::Completed:
        if (d.condition == DependencyCondition::Ready)
          return {Gate::Kind::Fail, fmt::format("dependency {} exited (it must stay online){}",
                                                d.app, s.detail.empty() ? "" : ": " + s.detail)};
        continue;
      case Phase::Ready:
        if (d.condition == DependencyCondition::Completed) break;
        continue;
      case Phase::Started:
        if (d.condition == DependencyCondition::Started) continue;
        break;
      case Phase::Pending:
        break;
    }
    waiting.push_back(fmt::format("{} ({})", d.app, cond));
  }
  if (waiting.empty()) return {Gate::Kind::Go, ""};
  return {Gate::Kind::Wait, "waiting for " + join(waiting, ", ")};
}

}  // namespace tend
