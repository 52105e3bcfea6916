#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <cassert>
#include <climits>
#include <cstring>

namespace tend::sqlite {

namespace {

// "<path>: <what>: <detail>", or "<path>: <detail>" when `what` is empty.
std::string describe(std::string_view path, std::string_view what, std::string_view detail) {
  std::string text(path);
  text += ": ";
  if (!what.empty()) {
    text += what;
    text += ": ";
  }
  text += detail;
  return text;
}

}  // namespace

// ---- Database ----

void Database::Closer::operator()(sqlite3* db) const {
  // close_v2 also copes with statements still alive (it defers the close until they go).
  sqlite3_close_v2(db);
}

std::expected<Database, std::string> Database::open(const std::string& path) {
  // NOMUTEX: a connection is used from one thread only (see the header), so SQLite's
  // per-connection mutex would only cost time.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_EXRESCODE
  flags |= SQLITE_OPEN_EXRESCODE;
#endif
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // Even on failure SQLite usually hands back a handle, which carries the message and must
  // be closed.
  std::unique_ptr<sqlite3, Closer> db(raw);
  if (rc != SQLITE_OK) {
    std::string detail = db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc);
    // "unable to open database file" says little; the errno behind it says why.
    if (int err = db ? sqlite3_system_errno(db.get()) : 0; err != 0) {
      detail += " (";
      detail += std::strerror(err);
      detail += ")";
    }
    return std::unexpected(describe(path, "", detail));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // Refuse SQL that could corrupt the file on purpose (writable_schema and the like).
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  return Database(db.release(), path);
}

std::expected<void, std::string> Database::exec(std::string_view sql) {
  assert(db_);
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string detail = message ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return std::unexpected(describe(path_, text, detail));
  }
  return {};
}

std::expected<Statement, std::string> Database::prepare(std::string_view sql) {
  assert(db_);
  if (sql.size() > static_cast<size_t>(INT_MAX)) {
    return std::unexpected(describe(path_, "prepare", "statement too long"));
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::unexpected(error("cannot prepare '" + std::string(sql) + "'"));
  }
  assert(stmt != nullptr && "prepare() needs a statement, not only whitespace or a comment");
  return Statement(stmt);
}

int64_t Database::lastInsertRowid() const {
  return sqlite3_last_insert_rowid(db_.get());
}

int64_t Database::changes() const {
  return sqlite3_changes64(db_.get());
}

int Database::lastErrorCode() const {
  return sqlite3_extended_errcode(db_.get());
}

std::string Database::error(std::string_view what) const {
  return describe(path_, what, db_ ? sqlite3_errmsg(db_.get()) : "no connection");
}

// ---- Statement ----

void Statement::Finalizer::operator()(sqlite3_stmt* stmt) const {
  sqlite3_finalize(stmt);
}

std::string Statement::error(std::string_view what) const {
  sqlite3* db = sqlite3_db_handle(stmt_.get());
  const char* path = sqlite3_db_filename(db, "main");
  std::string sql = sqlite3_sql(stmt_.get());
  std::string context(what);
  context += " '" + sql + "'";
  return describe(path && *path ? path : ":memory:", context, sqlite3_errmsg(db));
}

std::expected<void, std::string> Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_.get(), index, value) != SQLITE_OK) {
    return std::unexpected(error("cannot bind parameter " + std::to_string(index) + " of"));
  }
  return {};
}

std::expected<void, std::string> Statement::bind(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) {
    return std::unexpected(error("cannot bind parameter " + std::to_string(index) + " of"));
  }
  return {};
}

std::expected<bool, std::string> Statement::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(error("cannot run"));
}

std::expected<void, std::string> Statement::run() {
  while (true) {
    auto more = step();
    if (!more) return std::unexpected(std::move(more.error()));
    if (!*more) return {};
  }
}

int64_t Statement::columnInt64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

int Statement::columnInt(int column) const {
  return sqlite3_column_int(stmt_.get(), column);
}

std::string Statement::columnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  if (text == nullptr) return {};
  // column_bytes after column_text gives the length of the UTF-8 form just produced.
  int size = sqlite3_column_bytes(stmt_.get(), column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

bool Statement::columnIsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

void Statement::reset() {
  // reset() repeats the last step's error code, which step() has already reported.
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

}  // namespace tend::sqlite
