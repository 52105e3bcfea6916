#pragma once
// DependencyGraph: the order in which apps start and stop, from their depends_on. Pure
// logic: no processes, no timers; the Supervisor describes each app's state as a
// DependencyState and asks what to do. Not thread-safe.
//
// Starting: an app's dependencies start first (transitively), and its instances spawn once
// every dependency meets its condition (Gate). Stopping a set of apps: dependents before
// their dependencies, one level at a time (stopLevels).

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/app_spec.hpp"

namespace tend {

// What a dependency is doing, as far as the apps that need it care.
struct DependencyState {
  enum class Phase {
    Missing,    // no such app
    Stopped,    // not meant to run (a user stopped it)
    Pending,    // meant to run, not spawned yet (maybe waiting for its own dependencies)
    Started,    // spawned (some instance runs or ran), not every instance online
    Ready,      // every instance online
    Completed,  // every instance exited with code 0 and stays stopped
    Failed,     // errored, or exited otherwise and stays stopped
  };
  Phase phase = Phase::Missing;
  std::string detail;  // for Failed: why (the instance's last reason)
};

// Whether an app may spawn now.
struct Gate {
  enum class Kind { Go, Wait, Fail };
  Kind kind = Kind::Go;
  std::string reason;  // Wait: "waiting for db (ready)"; Fail: why it will not start
};

class DependencyGraph {
 public:
  // name -> what it depends on. Names that depend on unknown apps are allowed (they fail
  // at their gate); cycles are broken arbitrarily (the validator rejects them).
  void set(const std::string& app, std::vector<Dependency> deps);
  void remove(const std::string& app);
  const std::vector<Dependency>& dependencies(const std::string& app) const;

  // Every app `app` needs, directly or not, dependencies before the apps that need them;
  // without `app` itself and without unknown names.
  std::vector<std::string> startOrder(const std::string& app) const;
  // `apps` sorted so that each comes after the apps of the set it depends on.
  std::vector<std::string> sorted(const std::vector<std::string>& apps) const;
  // `apps` grouped for stopping: the first level holds the apps no other app of the set
  // depends on; each later level only apps whose dependents (within the set) are all in
  // earlier levels.
  std::vector<std::vector<std::string>> stopLevels(const std::vector<std::string>& apps) const;

  // Whether an app with these dependencies may spawn, given each dependency's state.
  static Gate gate(const std::vector<Dependency>& deps,
                   const std::function<DependencyState(const std::string&)>& state);

 private:
  std::map<std::string, std::vector<Dependency>> deps_;
};

}  // namespace tend
