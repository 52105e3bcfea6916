#include "store/sqlite.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace tend::sqlite {
namespace {

namespace fs = std::filesystem;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tend-sqlite-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
    path_ = (dir_ / "test.db").string();
    auto db = Database::open(path_);
    ASSERT_TRUE(db.has_value()) << db.error();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->exec("CREATE TABLE t(n INTEGER, s TEXT)").has_value());
  }
  void TearDown() override {
    db_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path dir_;
  std::string path_;
  std::optional<Database> db_;
};

TEST_F(SqliteTest, BoundValuesComeBackFromTheirColumns) {
  auto insert = db_->prepare("INSERT INTO t(n, s) VALUES(?1, ?2)");
  ASSERT_TRUE(insert.has_value()) << insert.error();
  ASSERT_TRUE(insert->bindAll(int64_t{1} << 50, std::string("hello\0world", 11)).has_value());
  ASSERT_TRUE(insert->run().has_value());
  EXPECT_EQ(db_->changes(), 1);
  EXPECT_EQ(db_->lastInsertRowid(), 1);

  auto select = db_->prepare("SELECT n, s FROM t");
  ASSERT_TRUE(select.has_value()) << select.error();
  auto row = select->step();
  ASSERT_TRUE(row.has_value() && *row);
  EXPECT_EQ(select->columnInt64(0), int64_t{1} << 50);
  EXPECT_EQ(select->columnText(1), std::string("hello\0world", 11));
  auto done = select->step();
  ASSERT_TRUE(done.has_value());
  EXPECT_FALSE(*done);
}

TEST_F(SqliteTest, NullColumnsReadAsZeroAndEmpty) {
  ASSERT_TRUE(db_->exec("INSERT INTO t VALUES(NULL, NULL)").has_value());
  auto select = db_->prepare("SELECT n, s FROM t");
  ASSERT_TRUE(select.has_value()) << select.error();
  ASSERT_TRUE(select->step().value_or(false));
  EXPECT_TRUE(select->columnIsNull(0));
  EXPECT_TRUE(select->columnIsNull(1));
  EXPECT_EQ(select->columnInt(0), 0);
  EXPECT_EQ(select->columnText(1), "");
}

TEST_F(SqliteTest, ResetLetsACachedStatementRunAgainWithFreshBindings) {
  auto insert = db_->prepare("INSERT INTO t(n, s) VALUES(?1, ?2)");
  ASSERT_TRUE(insert.has_value()) << insert.error();
  for (int i = 0; i < 3; ++i) {
    ResetOnExit reset(*insert);
    ASSERT_TRUE(insert->bindAll(i, "x").has_value());
    ASSERT_TRUE(insert->run().has_value());
  }
  {
    // Bindings are cleared by a reset: an unbound parameter is NULL.
    ResetOnExit reset(*insert);
    ASSERT_TRUE(insert->run().has_value());
  }
  auto count = db_->prepare("SELECT count(*), count(n) FROM t");
  ASSERT_TRUE(count.has_value()) << count.error();
  ASSERT_TRUE(count->step().value_or(false));
  EXPECT_EQ(count->columnInt(0), 4);
  EXPECT_EQ(count->columnInt(1), 3);
}

TEST_F(SqliteTest, ErrorsNameTheFileAndSayWhatWentWrong) {
  auto bad = db_->prepare("SELECT x FROM nowhere");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find(path_), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("no such table: nowhere"), std::string::npos) << bad.error();

  auto exec = db_->exec("CREATE TABLE t(x)");
  ASSERT_FALSE(exec.has_value());
  EXPECT_NE(exec.error().find(path_), std::string::npos) << exec.error();
  EXPECT_NE(exec.error().find("already exists"), std::string::npos) << exec.error();

  ASSERT_TRUE(db_->exec("CREATE TABLE u(k INTEGER UNIQUE)").has_value());
  auto insert = db_->prepare("INSERT INTO u VALUES(?1)");
  ASSERT_TRUE(insert.has_value()) << insert.error();
  ASSERT_TRUE(insert->bind(1, 5).has_value());
  ASSERT_TRUE(insert->run().has_value());
  insert->reset();
  ASSERT_TRUE(insert->bind(1, 5).has_value());
  auto dup = insert->run();
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().find(path_), std::string::npos) << dup.error();
  EXPECT_NE(dup.error().find("UNIQUE constraint failed"), std::string::npos) << dup.error();
  EXPECT_EQ(db_->lastErrorCode(), 2067 /* SQLITE_CONSTRAINT_UNIQUE */);
}

TEST_F(SqliteTest, BindingAnOutOfRangeParameterFails) {
  auto select = db_->prepare("SELECT ?1");
  ASSERT_TRUE(select.has_value()) << select.error();
  auto bound = select->bindAll(1, 2);
  ASSERT_FALSE(bound.has_value());
  EXPECT_NE(bound.error().find("parameter 2"), std::string::npos) << bound.error();
}

TEST_F(SqliteTest, OpeningInAMissingDirectoryFailsNamingThePath) {
  const std::string path = (dir_ / "missing" / "x.db").string();
  auto db = Database::open(path);
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().find(path), std::string::npos) << db.error();
  EXPECT_NE(db.error().find("unable to open"), std::string::npos) << db.error();
}

}  // namespace
}  // namespace tend::sqlite
