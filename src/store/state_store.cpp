#include "store/state_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <iterator>
#include <string_view>
#include <utility>

#include "store/sqlite.hpp"

namespace tend {

namespace {

using sqlite::ResetOnExit;
using sqlite::Statement;

constexpr int kRestartHistoryCap = 1000;  // rows kept per app, the newest ones
constexpr int kBusyTimeoutMs = 2000;

// Schema migrations: kMigrations[i] takes the database from user_version i to i + 1. Append
// new steps; never edit one that has shipped.
constexpr std::string_view kMigrations[] = {
    // 0 -> 1: the first schema.
    R"sql(
CREATE TABLE apps(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE NOT NULL,
  spec TEXT NOT NULL,
  desired_running INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE instances(
  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  start_ticks INTEGER NOT NULL,
  port INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(app_id, idx)
);
CREATE TABLE restarts(
  id INTEGER PRIMARY KEY,
  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL,
  exit_code INTEGER NOT NULL,
  signal INTEGER NOT NULL
);
CREATE INDEX restarts_by_app ON restarts(app_id, id);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

std::unexpected<std::string> fail(std::string_view action, std::string_view detail) {
  std::string text(action);
  text += ": ";
  text += detail;
  return std::unexpected(std::move(text));
}

// Runs a query (a PRAGMA) and returns the statement positioned on its first row.
std::expected<Statement, std::string> queryRow(sqlite::Database& db, std::string_view sql) {
  auto stmt = db.prepare(sql);
  if (!stmt) return std::unexpected(std::move(stmt.error()));
  auto row = stmt->step();
  if (!row) return std::unexpected(std::move(row.error()));
  if (!*row) return std::unexpected(db.path() + ": '" + std::string(sql) + "' returned no row");
  return std::move(*stmt);
}

class SqliteStateStore final : public StateStore {
 public:
  explicit SqliteStateStore(sqlite::Database db) : db_(std::move(db)) {}

  // Connection settings, schema and prepared statements. On failure the error names the file
  // and initFailureCode() tells what SQLite saw.
  std::expected<void, std::string> init() {
    auto result = configure();
    if (!result) {
      init_failure_code_ = db_.lastErrorCode();
      return result;
    }
    result = migrate();  // records its own failure code: its ROLLBACK would overwrite it
    if (!result) return result;
    result = prepareStatements();
    if (!result) init_failure_code_ = db_.lastErrorCode();
    return result;
  }
  // The extended result code of the failure that made init() fail.
  int initFailureCode() const { return init_failure_code_; }

  std::expected<int64_t, std::string> insertApp(const std::string& name, const nlohmann::json& spec,
                                                bool desired_running) override {
    const std::string action = "cannot save app '" + name + "'";
    ResetOnExit reset(insert_app_);
    if (auto r = insert_app_.bindAll(name, specText(spec), desired_running); !r) {
      return fail(action, r.error());
    }
    if (auto r = insert_app_.run(); !r) {
      if (db_.lastErrorCode() == SQLITE_CONSTRAINT_UNIQUE) {
        return fail(action, "an app with that name already exists in " + db_.path());
      }
      return fail(action, r.error());
    }
    return db_.lastInsertRowid();
  }

  std::expected<void, std::string> updateApp(int64_t id, const nlohmann::json& spec,
                                             bool desired_running) override {
    const std::string action = "cannot update app " + std::to_string(id);
    ResetOnExit reset(update_app_);
    if (auto r = update_app_.bindAll(id, specText(spec), desired_running); !r) {
      return fail(action, r.error());
    }
    return runExpectingOneApp(update_app_, id, action);
  }

  std::expected<void, std::string> setDesired(int64_t id, bool desired_running) override {
    const std::string action = "cannot save the desired state of app " + std::to_string(id);
    ResetOnExit reset(set_desired_);
    if (auto r = set_desired_.bindAll(id, desired_running); !r) return fail(action, r.error());
    return runExpectingOneApp(set_desired_, id, action);
  }

  std::expected<void, std::string> deleteApp(int64_t id) override {
    // Instances and restart history go with it: ON DELETE CASCADE.
    const std::string action = "cannot delete app " + std::to_string(id);
    ResetOnExit reset(delete_app_);
    if (auto r = delete_app_.bindAll(id); !r) return fail(action, r.error());
    return runExpectingOneApp(delete_app_, id, action);
  }

  std::expected<std::vector<AppRow>, std::string> loadApps() override {
    const std::string_view action = "cannot load apps";
    ResetOnExit reset(load_apps_);
    std::vector<AppRow> apps;
    while (true) {
      auto more = load_apps_.step();
      if (!more) return fail(action, more.error());
      if (!*more) break;
      AppRow row;
      row.id = load_apps_.columnInt64(0);
      row.name = load_apps_.columnText(1);
      row.spec = nlohmann::json::parse(load_apps_.columnText(2), nullptr,
                                       /*allow_exceptions=*/false);
      if (row.spec.is_discarded()) {
        return fail(action,
                    db_.path() + ": the stored spec of app '" + row.name + "' is not valid JSON");
      }
      row.desired_running = load_apps_.columnInt64(3) != 0;
      apps.push_back(std::move(row));
    }
    return apps;
  }

  std::expected<void, std::string> putInstance(const InstanceRow& row) override {
    const std::string action = "cannot save instance " + std::to_string(row.index) + " of app " +
                               std::to_string(row.app_id);
    ResetOnExit reset(put_instance_);
    auto bound = put_instance_.bindAll(row.app_id, row.index, row.pid,
                                       static_cast<int64_t>(row.start_ticks), row.port);
    if (!bound) return fail(action, bound.error());
    if (auto r = put_instance_.run(); !r) {
      if (db_.lastErrorCode() == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return fail(action, "no app with that id in " + db_.path());
      }
      return fail(action, r.error());
    }
    return {};
  }

  // Removing an instance that is not stored is not an error: the caller wants it gone.
  std::expected<void, std::string> removeInstance(int64_t app_id, int index) override {
    const std::string action =
        "cannot remove instance " + std::to_string(index) + " of app " + std::to_string(app_id);
    ResetOnExit reset(remove_instance_);
    if (auto r = remove_instance_.bindAll(app_id, index); !r) return fail(action, r.error());
    if (auto r = remove_instance_.run(); !r) return fail(action, r.error());
    return {};
  }

  std::expected<std::vector<InstanceRow>, std::string> loadInstances() override {
    ResetOnExit reset(load_instances_);
    std::vector<InstanceRow> instances;
    while (true) {
      auto more = load_instances_.step();
      if (!more) return fail("cannot load instances", more.error());
      if (!*more) break;
      InstanceRow row;
      row.app_id = load_instances_.columnInt64(0);
      row.index = load_instances_.columnInt(1);
      row.pid = load_instances_.columnInt(2);
      row.start_ticks = static_cast<uint64_t>(load_instances_.columnInt64(3));
      row.port = load_instances_.columnInt(4);
      instances.push_back(row);
    }
    return instances;
  }

  std::expected<void, std::string> addRestart(const RestartRow& row) override {
    const std::string action = "cannot record a restart of app " + std::to_string(row.app_id);
    auto result = inTransaction([&]() -> std::expected<void, std::string> {
      {
        ResetOnExit reset(insert_restart_);
        auto bound = insert_restart_.bindAll(row.app_id, row.index, row.at_ms, row.reason,
                                             row.exit_code, row.signal);
        if (!bound) return bound;
        if (auto r = insert_restart_.run(); !r) {
          if (db_.lastErrorCode() == SQLITE_CONSTRAINT_FOREIGNKEY) {
            return std::unexpected("no app with that id in " + db_.path());
          }
          return r;
        }
      }
      ResetOnExit reset(trim_restarts_);
      if (auto r = trim_restarts_.bindAll(row.app_id, kRestartHistoryCap); !r) return r;
      return trim_restarts_.run();
    });
    if (!result) return fail(action, result.error());
    return {};
  }

  std::expected<std::vector<RestartRow>, std::string> restarts(int64_t app_id, int limit) override {
    std::vector<RestartRow> rows;
    // SQLite reads a negative LIMIT as "no limit"; here it means nothing.
    if (limit <= 0) return rows;
    limit = std::min(limit, kRestartHistoryCap);
    const std::string action = "cannot load the restarts of app " + std::to_string(app_id);
    ResetOnExit reset(load_restarts_);
    if (auto r = load_restarts_.bindAll(app_id, limit); !r) return fail(action, r.error());
    while (true) {
      auto more = load_restarts_.step();
      if (!more) return fail(action, more.error());
      if (!*more) break;
      RestartRow row;
      row.app_id = load_restarts_.columnInt64(0);
      row.index = load_restarts_.columnInt(1);
      row.at_ms = load_restarts_.columnInt64(2);
      row.reason = load_restarts_.columnText(3);
      row.exit_code = load_restarts_.columnInt(4);
      row.signal = load_restarts_.columnInt(5);
      rows.push_back(std::move(row));
    }
    return rows;
  }

 private:
  std::expected<void, std::string> configure() {
    // The timeout first, so that even the following PRAGMAs wait for a briefly held lock.
    if (auto r = db_.exec("PRAGMA busy_timeout=" + std::to_string(kBusyTimeoutMs)); !r) return r;
    // This is also the first statement to read the file, so a file that is not a database
    // is reported here.
    {
      auto row = queryRow(db_, "PRAGMA journal_mode=WAL");
      if (!row) return std::unexpected(std::move(row.error()));
      if (std::string mode = row->columnText(0); mode != "wal") {
        return std::unexpected(
            db_.path() + ": cannot switch to WAL mode (the journal mode stays '" + mode + "')");
      }
    }
    // NORMAL is durable across a crash of the daemon in WAL mode; a power loss may lose the
    // last transactions but never corrupts the file.
    if (auto r = db_.exec("PRAGMA synchronous=NORMAL"); !r) return r;
    // The state is small: a 256 KiB page cache (not SQLite's default 2 MiB) keeps the
    // daemon's memory down.
    if (auto r = db_.exec("PRAGMA cache_size=-256"); !r) return r;
    if (auto r = db_.exec("PRAGMA foreign_keys=ON"); !r) return r;
    // The PRAGMA is silently ignored by a SQLite built without foreign keys, and the cascades
    // depend on it.
    auto fk = queryRow(db_, "PRAGMA foreign_keys");
    if (!fk) return std::unexpected(std::move(fk.error()));
    if (fk->columnInt(0) != 1) {
      return std::unexpected(db_.path() + ": this SQLite library does not enforce foreign keys");
    }
    return {};
  }

  std::expected<void, std::string> migrate() {
    // IMMEDIATE takes the write lock before reading the version, so that two processes
    // opening a fresh file cannot both create the schema.
    if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) {
      init_failure_code_ = db_.lastErrorCode();
      return r;
    }
    auto result = migrateLocked();
    if (!result) {
      init_failure_code_ = db_.lastErrorCode();
      (void)db_.exec("ROLLBACK");
      return result;
    }
    if (auto r = db_.exec("COMMIT"); !r) {
      init_failure_code_ = db_.lastErrorCode();
      (void)db_.exec("ROLLBACK");
      return r;
    }
    return {};
  }

  std::expected<void, std::string> migrateLocked() {
    auto stored = queryRow(db_, "PRAGMA user_version");
    if (!stored) return std::unexpected(std::move(stored.error()));
    const int64_t version = stored->columnInt64(0);
    stored->reset();
    if (version > kSchemaVersion) {
      return std::unexpected(db_.path() + ": written by a newer tend (schema version " +
                             std::to_string(version) + "; this tend knows up to " +
                             std::to_string(kSchemaVersion) + ")");
    }
    if (version < 0) {
      return std::unexpected(db_.path() + ": unknown schema version " + std::to_string(version));
    }
    // Nothing is written when the schema is current, so a daemon can start (and run its
    // apps) on a full disk.
    if (version == kSchemaVersion) return {};
    for (int64_t step = version; step < kSchemaVersion; ++step) {
      if (auto r = db_.exec(kMigrations[step]); !r) return r;
    }
    return db_.exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
  }

  std::expected<void, std::string> prepareStatements() {
    const std::pair<Statement*, std::string_view> statements[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&insert_app_, "INSERT INTO apps(name, spec, desired_running) VALUES(?1, ?2, ?3)"},
        {&update_app_, "UPDATE apps SET spec = ?2, desired_running = ?3 WHERE id = ?1"},
        {&set_desired_, "UPDATE apps SET desired_running = ?2 WHERE id = ?1"},
        {&delete_app_, "DELETE FROM apps WHERE id = ?1"},
        {&load_apps_, "SELECT id, name, spec, desired_running FROM apps ORDER BY id"},
        {&put_instance_,
         "INSERT INTO instances(app_id, idx, pid, start_ticks, port) VALUES(?1, ?2, ?3, ?4, ?5) "
         "ON CONFLICT(app_id, idx) DO UPDATE SET pid = excluded.pid, "
         "start_ticks = excluded.start_ticks, port = excluded.port"},
        {&remove_instance_, "DELETE FROM instances WHERE app_id = ?1 AND idx = ?2"},
        {&load_instances_,
         "SELECT app_id, idx, pid, start_ticks, port FROM instances ORDER BY app_id, idx"},
        {&insert_restart_,
         "INSERT INTO restarts(app_id, idx, at_ms, reason, exit_code, signal) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
        // Keeps the newest ?2 rows of the app: deletes from the (?2 + 1)-th newest down.
        {&trim_restarts_,
         "DELETE FROM restarts WHERE app_id = ?1 AND id <= "
         "(SELECT id FROM restarts WHERE app_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"},
        {&load_restarts_,
         "SELECT app_id, idx, at_ms, reason, exit_code, signal FROM restarts "
         "WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2"},
    };
    for (const auto& [target, sql] : statements) {
      auto stmt = db_.prepare(sql);
      if (!stmt) return std::unexpected(std::move(stmt.error()));
      *target = std::move(*stmt);
    }
    return {};
  }

  // Runs `body` in a write transaction: commits when it succeeds, rolls back when it fails.
  template <typename Body>
  std::expected<void, std::string> inTransaction(Body&& body) {
    {
      ResetOnExit reset(begin_);
      if (auto r = begin_.run(); !r) return r;
    }
    auto result = body();
    if (result) {
      ResetOnExit reset(commit_);
      result = commit_.run();
    }
    if (!result) {
      // A failed COMMIT (SQLITE_BUSY) leaves the transaction open.
      ResetOnExit reset(rollback_);
      (void)rollback_.run();
    }
    return result;
  }

  // For UPDATE and DELETE by app id: no row changed means no such app.
  std::expected<void, std::string> runExpectingOneApp(Statement& stmt, int64_t id,
                                                      std::string_view action) {
    if (auto r = stmt.run(); !r) return fail(action, r.error());
    if (db_.changes() == 0) {
      return fail(action, "no app with id " + std::to_string(id) + " in " + db_.path());
    }
    return {};
  }

  // Never throws: invalid UTF-8 in a string is replaced rather than rejected.
  static std::string specText(const nlohmann::json& spec) {
    return spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  // Declared first so that it is destroyed last, after the statements prepared on it.
  sqlite::Database db_;
  Statement begin_;
  Statement commit_;
  Statement rollback_;
  Statement insert_app_;
  Statement update_app_;
  Statement set_desired_;
  Statement delete_app_;
  Statement load_apps_;
  Statement put_instance_;
  Statement remove_instance_;
  Statement load_instances_;
  Statement insert_restart_;
  Statement trim_restarts_;
  Statement load_restarts_;
  int init_failure_code_ = 0;
};

}  // namespace

std::expected<std::unique_ptr<StateStore>, std::string> StateStore::open(const std::string& path) {
  const std::string_view action = "cannot open the state database";
  auto db = sqlite::Database::open(path);
  if (!db) return fail(action, db.error());
  auto store = std::make_unique<SqliteStateStore>(std::move(*db));
  if (auto r = store->init(); !r) {
    // Say what to do about a damaged file rather than only what SQLite saw.
    std::string detail = r.error();
    int code = store->initFailureCode() & 0xff;  // the primary code
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
      detail +=
          " (the file is damaged or is not a tend state database; move it aside and tend "
          "starts with an empty state)";
    }
    return fail(action, detail);
  }
  return store;
}

}  // namespace tend
