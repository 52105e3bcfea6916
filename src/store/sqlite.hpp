#pragma once
// A thin RAII layer over the SQLite C API: a Database owns one connection, a Statement owns
// one prepared statement. Nothing here throws; every failure is an error text that names the
// database file and carries SQLite's own message.
//
// Not thread-safe: a Database and its Statements belong to one thread. Statements must not
// outlive the Database they were prepared on.
//
// File descriptors: SQLite's unix VFS opens the database, its -wal and -shm files with
// O_CLOEXEC (os_unix.c, robust_open), so a child spawned after open() inherits none of them.
// tests/unit/store_state_store_test.cpp checks this.

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tend::sqlite {

class Statement;

class Database {
 public:
  // Opens read-write, creating the file when missing. Note that SQLite reads the file lazily:
  // a file that is not a database is only reported by the first statement that touches it.
  static std::expected<Database, std::string> open(const std::string& path);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database() = default;

  // Runs one or more statements that return no rows of interest (DDL, PRAGMA settings).
  std::expected<void, std::string> exec(std::string_view sql);
  std::expected<Statement, std::string> prepare(std::string_view sql);

  int64_t lastInsertRowid() const;
  // Rows changed by the most recent INSERT, UPDATE or DELETE.
  int64_t changes() const;
  // The extended result code of the most recent failure, e.g. SQLITE_CONSTRAINT_UNIQUE.
  int lastErrorCode() const;

  const std::string& path() const { return path_; }
  // "<path>: <what>: <SQLite's message for the last failure>".
  std::string error(std::string_view what) const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
};

class Statement {
 public:
  // An empty statement, only to be assigned a prepared one (handy for members of a class
  // that prepares its statements after construction).
  Statement() = default;
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  ~Statement() = default;

  // Parameters are numbered from 1. Text is copied by SQLite.
  std::expected<void, std::string> bind(int index, int64_t value);
  std::expected<void, std::string> bind(int index, int value) {
    return bind(index, static_cast<int64_t>(value));
  }
  std::expected<void, std::string> bind(int index, bool value) {
    return bind(index, static_cast<int64_t>(value ? 1 : 0));
  }
  std::expected<void, std::string> bind(int index, std::string_view value);
  std::expected<void, std::string> bind(int index, const char* value) {
    return bind(index, std::string_view(value));
  }
  std::expected<void, std::string> bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }

  // Binds the arguments to parameters 1, 2, ... in order; stops at the first failure.
  template <typename... Args>
  std::expected<void, std::string> bindAll(const Args&... args) {
    std::expected<void, std::string> result;
    int index = 1;
    (void)((result = bind(index++, args), result.has_value()) && ...);
    return result;
  }

  // Advances to the next row: true when a row is available, false when the statement is done.
  std::expected<bool, std::string> step();
  // Steps a statement that returns no rows (INSERT, UPDATE, DELETE, BEGIN, ...) to its end.
  std::expected<void, std::string> run();

  // Column accessors for the current row, numbered from 0. NULL reads as 0 or "".
  int64_t columnInt64(int column) const;
  int columnInt(int column) const;
  std::string columnText(int column) const;
  bool columnIsNull(int column) const;

  // Makes the statement ready to run again and clears its bindings. Until a statement that
  // returned rows is reset, it keeps its read transaction open (and WAL checkpoints waiting).
  void reset();

 private:
  friend class Database;
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::string error(std::string_view what) const;

  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

// Resets a (typically cached) statement when the scope ends, however the scope is left.
class [[nodiscard]] ResetOnExit {
 public:
  explicit ResetOnExit(Statement& stmt) : stmt_(stmt) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() { stmt_.reset(); }

 private:
  Statement& stmt_;
};

}  // namespace tend::sqlite
