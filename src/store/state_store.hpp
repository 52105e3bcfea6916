#pragma once
// StateStore: the daemon's durable state in SQLite (WAL mode): app specs and desired state,
// the pid and start time of every running instance, and restart history. It survives a
// SIGKILL of the daemon, which uses it to reconcile on its next start.
//
// Not thread-safe: owned and used by the daemon's event-loop thread only. Every method
// returns an error text instead of throwing.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

namespace tend {

class StateStore {
 public:
  struct AppRow {
    int64_t id = 0;
    std::string name;
    nlohmann::json spec;  // toJson(AppSpec)
    bool desired_running = false;
  };
  struct InstanceRow {
    int64_t app_id = 0;
    int index = 0;
    int pid = 0;               // also the process group id
    uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22, to tell a reused pid apart
    int port = 0;              // 0: none
  };
  struct RestartRow {
    int64_t app_id = 0;
    int index = 0;
    int64_t at_ms = 0;   // wall clock
    std::string reason;  // "exited with code 1", "killed by SIGKILL", ...
    int exit_code = -1;
    int signal = 0;
  };

  // Opens (creating when missing) the database, sets WAL and creates the schema.
  static std::expected<std::unique_ptr<StateStore>, std::string> open(const std::string& path);
  virtual ~StateStore() = default;

  virtual std::expected<int64_t, std::string> insertApp(const std::string& name,
                                                        const nlohmann::json& spec,
                                                        bool desired_running) = 0;
  virtual std::expected<void, std::string> updateApp(int64_t id, const nlohmann::json& spec,
                                                     bool desired_running) = 0;
  virtual std::expected<void, std::string> setDesired(int64_t id, bool desired_running) = 0;
  // Also removes its instances and restart history.
  virtual std::expected<void, std::string> deleteApp(int64_t id) = 0;
  virtual std::expected<std::vector<AppRow>, std::string> loadApps() = 0;  // ordered by id

  virtual std::expected<void, std::string> putInstance(const InstanceRow& row) = 0;  // upsert
  virtual std::expected<void, std::string> removeInstance(int64_t app_id, int index) = 0;
  virtual std::expected<std::vector<InstanceRow>, std::string> loadInstances() = 0;

  virtual std::expected<void, std::string> addRestart(const RestartRow& row) = 0;
  // The newest `limit` rows for an app, newest first. History is capped per app (1000 rows).
  virtual std::expected<std::vector<RestartRow>, std::string> restarts(int64_t app_id,
                                                                       int limit) = 0;
};

}  // namespace tend
