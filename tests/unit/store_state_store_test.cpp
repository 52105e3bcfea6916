#include "store/state_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "store/sqlite.hpp"

namespace tend {
namespace {

namespace fs = std::filesystem;

// Each test gets its own directory, removed afterwards.
class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tend-store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
    path_ = (dir_ / "state.db").string();
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<StateStore> openStore() {
    auto store = StateStore::open(path_);
    EXPECT_TRUE(store.has_value()) << store.error();
    return store ? std::move(*store) : nullptr;
  }

  int64_t addApp(StateStore& store, const std::string& name, bool desired = true) {
    auto id = store.insertApp(name, nlohmann::json{{"name", name}, {"script", "run.sh"}}, desired);
    EXPECT_TRUE(id.has_value()) << id.error();
    return id.value_or(-1);
  }

  static StateStore::RestartRow restart(int64_t app_id, int64_t at_ms) {
    StateStore::RestartRow row;
    row.app_id = app_id;
    row.index = 0;
    row.at_ms = at_ms;
    row.reason = "exited with code 1";
    row.exit_code = 1;
    row.signal = 0;
    return row;
  }

  // Reads one integer through a separate connection, as an outside observer.
  int64_t queryInt(const std::string& sql) {
    auto db = sqlite::Database::open(path_);
    EXPECT_TRUE(db.has_value()) << db.error();
    if (!db) return -1;
    auto stmt = db->prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error();
    if (!stmt) return -1;
    auto row = stmt->step();
    EXPECT_TRUE(row.has_value() && *row) << (row ? "no row" : row.error());
    return stmt->columnInt64(0);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(StateStoreTest, OpenCreatesTheDatabaseInWalModeWithAVersionedSchema) {
  auto store = openStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::exists(path_));

  auto db = sqlite::Database::open(path_);
  ASSERT_TRUE(db.has_value()) << db.error();
  auto mode = db->prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.has_value()) << mode.error();
  ASSERT_TRUE(mode->step().value_or(false));
  EXPECT_EQ(mode->columnText(0), "wal");
  EXPECT_EQ(queryInt("PRAGMA user_version"), 1);
}

TEST_F(StateStoreTest, InsertedAppsLoadInIdOrderWithTheirSpecAndDesiredState) {
  auto store = openStore();
  ASSERT_TRUE(store);
  nlohmann::json web_spec = {{"name", "web"}, {"instances", 2}, {"env", {{"PORT", "8080"}}}};
  auto web = store->insertApp("web", web_spec, true);
  ASSERT_TRUE(web.has_value()) << web.error();
  auto worker = store->insertApp("worker", nlohmann::json{{"name", "worker"}}, false);
  ASSERT_TRUE(worker.has_value()) << worker.error();
  EXPECT_LT(*web, *worker);

  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  ASSERT_EQ(apps->size(), 2u);
  EXPECT_EQ((*apps)[0].id, *web);
  EXPECT_EQ((*apps)[0].name, "web");
  EXPECT_EQ((*apps)[0].spec, web_spec);
  EXPECT_TRUE((*apps)[0].desired_running);
  EXPECT_EQ((*apps)[1].id, *worker);
  EXPECT_EQ((*apps)[1].name, "worker");
  EXPECT_FALSE((*apps)[1].desired_running);
}

TEST_F(StateStoreTest, LoadAppsOfAnEmptyStoreIsEmpty) {
  auto store = openStore();
  ASSERT_TRUE(store);
  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  EXPECT_TRUE(apps->empty());
  auto instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  EXPECT_TRUE(instances->empty());
}

TEST_F(StateStoreTest, InsertingASecondAppWithTheSameNameFailsWithAClearMessage) {
  auto store = openStore();
  ASSERT_TRUE(store);
  addApp(*store, "web");
  auto again = store->insertApp("web", nlohmann::json::object(), false);
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().find("'web'"), std::string::npos) << again.error();
  EXPECT_NE(again.error().find("already exists"), std::string::npos) << again.error();
  EXPECT_EQ(store->loadApps()->size(), 1u);
}

TEST_F(StateStoreTest, SpecWithInvalidUtf8IsStoredWithoutThrowing) {
  auto store = openStore();
  ASSERT_TRUE(store);
  nlohmann::json spec = {{"args", std::string("bad \xff byte")}};
  auto id = store->insertApp("odd", spec, false);
  ASSERT_TRUE(id.has_value()) << id.error();
  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_TRUE((*apps)[0].spec["args"].is_string());
}

TEST_F(StateStoreTest, UpdateAppReplacesSpecAndDesiredState) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t id = addApp(*store, "web", true);
  nlohmann::json spec = {{"name", "web"}, {"instances", 4}};
  auto updated = store->updateApp(id, spec, false);
  ASSERT_TRUE(updated.has_value()) << updated.error();

  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].spec, spec);
  EXPECT_FALSE((*apps)[0].desired_running);
  EXPECT_EQ((*apps)[0].name, "web");
}

TEST_F(StateStoreTest, UpdateAppOfAnUnknownIdFails) {
  auto store = openStore();
  ASSERT_TRUE(store);
  auto updated = store->updateApp(42, nlohmann::json::object(), true);
  ASSERT_FALSE(updated.has_value());
  EXPECT_NE(updated.error().find("no app with id 42"), std::string::npos) << updated.error();
}

TEST_F(StateStoreTest, SetDesiredChangesOnlyTheDesiredState) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t id = addApp(*store, "web", false);
  ASSERT_TRUE(store->setDesired(id, true).has_value());
  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  EXPECT_TRUE((*apps)[0].desired_running);
  EXPECT_EQ((*apps)[0].spec["script"], "run.sh");

  ASSERT_TRUE(store->setDesired(id, false).has_value());
  EXPECT_FALSE((*store->loadApps())[0].desired_running);
}

TEST_F(StateStoreTest, SetDesiredOfAnUnknownIdFails) {
  auto store = openStore();
  ASSERT_TRUE(store);
  auto result = store->setDesired(7, true);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().find("no app with id 7"), std::string::npos) << result.error();
}

TEST_F(StateStoreTest, DeleteAppRemovesIt) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t web = addApp(*store, "web");
  int64_t worker = addApp(*store, "worker");
  auto deleted = store->deleteApp(web);
  ASSERT_TRUE(deleted.has_value()) << deleted.error();
  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].id, worker);
}

TEST_F(StateStoreTest, DeleteAppOfAnUnknownIdFails) {
  auto store = openStore();
  ASSERT_TRUE(store);
  auto deleted = store->deleteApp(3);
  ASSERT_FALSE(deleted.has_value());
  EXPECT_NE(deleted.error().find("no app with id 3"), std::string::npos) << deleted.error();
}

TEST_F(StateStoreTest, DeleteAppAlsoRemovesItsInstancesAndRestartHistory) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t web = addApp(*store, "web");
  int64_t worker = addApp(*store, "worker");
  ASSERT_TRUE(store->putInstance({web, 0, 100, 5, 3000}).has_value());
  ASSERT_TRUE(store->putInstance({web, 1, 101, 6, 3001}).has_value());
  ASSERT_TRUE(store->putInstance({worker, 0, 200, 7, 0}).has_value());
  ASSERT_TRUE(store->addRestart(restart(web, 1)).has_value());
  ASSERT_TRUE(store->addRestart(restart(worker, 2)).has_value());

  ASSERT_TRUE(store->deleteApp(web).has_value());

  auto instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].app_id, worker);
  EXPECT_TRUE(store->restarts(web, 10)->empty());
  EXPECT_EQ(store->restarts(worker, 10)->size(), 1u);
  EXPECT_EQ(queryInt("SELECT count(*) FROM restarts WHERE app_id = " + std::to_string(web)), 0);
}

TEST_F(StateStoreTest, IdsAreNeverReusedAfterADelete) {
  int64_t highest = 0;
  {
    auto store = openStore();
    ASSERT_TRUE(store);
    addApp(*store, "a");
    highest = addApp(*store, "b");
    ASSERT_TRUE(store->deleteApp(highest).has_value());
    int64_t next = addApp(*store, "c");
    EXPECT_GT(next, highest);
    highest = next;
    ASSERT_TRUE(store->deleteApp(next).has_value());
  }
  // Nor after a restart of the daemon.
  auto store = openStore();
  ASSERT_TRUE(store);
  EXPECT_GT(addApp(*store, "d"), highest);
}

TEST_F(StateStoreTest, PutInstanceInsertsAndThenUpdatesTheSameSlot) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t id = addApp(*store, "web");
  const uint64_t big_ticks = (uint64_t{1} << 40) + 17;
  ASSERT_TRUE(store->putInstance({id, 0, 100, big_ticks, 3000}).has_value());

  auto instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].pid, 100);
  EXPECT_EQ((*instances)[0].start_ticks, big_ticks);
  EXPECT_EQ((*instances)[0].port, 3000);

  auto replaced = store->putInstance({id, 0, 222, 99, 0});
  ASSERT_TRUE(replaced.has_value()) << replaced.error();
  instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].app_id, id);
  EXPECT_EQ((*instances)[0].index, 0);
  EXPECT_EQ((*instances)[0].pid, 222);
  EXPECT_EQ((*instances)[0].start_ticks, 99u);
  EXPECT_EQ((*instances)[0].port, 0);
}

TEST_F(StateStoreTest, LoadInstancesIsOrderedByAppThenIndex) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t a = addApp(*store, "a");
  int64_t b = addApp(*store, "b");
  ASSERT_TRUE(store->putInstance({b, 1, 4, 1, 0}).has_value());
  ASSERT_TRUE(store->putInstance({a, 1, 2, 1, 0}).has_value());
  ASSERT_TRUE(store->putInstance({b, 0, 3, 1, 0}).has_value());
  ASSERT_TRUE(store->putInstance({a, 0, 1, 1, 0}).has_value());
  auto instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  ASSERT_EQ(instances->size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*instances)[i].pid, i + 1);
}

TEST_F(StateStoreTest, PutInstanceForAnUnknownAppFails) {
  auto store = openStore();
  ASSERT_TRUE(store);
  auto put = store->putInstance({99, 0, 100, 1, 0});
  ASSERT_FALSE(put.has_value());
  EXPECT_NE(put.error().find("no app with that id"), std::string::npos) << put.error();
  EXPECT_TRUE(store->loadInstances()->empty());
}

TEST_F(StateStoreTest, RemoveInstanceRemovesOnlyThatSlotAndToleratesAMissingOne) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t id = addApp(*store, "web");
  ASSERT_TRUE(store->putInstance({id, 0, 100, 1, 0}).has_value());
  ASSERT_TRUE(store->putInstance({id, 1, 101, 1, 0}).has_value());
  auto removed = store->removeInstance(id, 0);
  ASSERT_TRUE(removed.has_value()) << removed.error();
  auto instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].index, 1);

  EXPECT_TRUE(store->removeInstance(id, 0).has_value());
  EXPECT_TRUE(store->removeInstance(12345, 0).has_value());
}

TEST_F(StateStoreTest, RestartsComeBackNewestFirstUpToTheLimit) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t web = addApp(*store, "web");
  int64_t other = addApp(*store, "other");
  for (int i = 0; i < 5; ++i) {
    auto row = restart(web, 1000 + i);
    row.index = i % 2;
    row.reason = "restart " + std::to_string(i);
    row.exit_code = i == 4 ? -1 : i;
    row.signal = i == 4 ? 9 : 0;
    ASSERT_TRUE(store->addRestart(row).has_value());
  }
  ASSERT_TRUE(store->addRestart(restart(other, 5000)).has_value());

  auto all = store->restarts(web, 100);
  ASSERT_TRUE(all.has_value()) << all.error();
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].reason, "restart 4");
  EXPECT_EQ((*all)[0].at_ms, 1004);
  EXPECT_EQ((*all)[0].exit_code, -1);
  EXPECT_EQ((*all)[0].signal, 9);
  EXPECT_EQ((*all)[0].index, 0);
  EXPECT_EQ((*all)[0].app_id, web);
  EXPECT_EQ((*all)[4].reason, "restart 0");

  auto newest_two = store->restarts(web, 2);
  ASSERT_TRUE(newest_two.has_value()) << newest_two.error();
  ASSERT_EQ(newest_two->size(), 2u);
  EXPECT_EQ((*newest_two)[0].reason, "restart 4");
  EXPECT_EQ((*newest_two)[1].reason, "restart 3");

  EXPECT_TRUE(store->restarts(web, 0)->empty());
  EXPECT_TRUE(store->restarts(web, -1)->empty());
  EXPECT_TRUE(store->restarts(12345, 10)->empty());
}

TEST_F(StateStoreTest, RestartsAreOrderedByInsertionEvenWhenTheWallClockGoesBack) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t web = addApp(*store, "web");
  ASSERT_TRUE(store->addRestart(restart(web, 2000)).has_value());
  ASSERT_TRUE(store->addRestart(restart(web, 1000)).has_value());
  auto rows = store->restarts(web, 10);
  ASSERT_TRUE(rows.has_value()) << rows.error();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].at_ms, 1000);
}

TEST_F(StateStoreTest, RestartHistoryKeepsTheNewestThousandRowsPerApp) {
  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t busy = addApp(*store, "busy");
  int64_t calm = addApp(*store, "calm");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->addRestart(restart(calm, i)).has_value());
  for (int i = 0; i < 1005; ++i) {
    auto added = store->addRestart(restart(busy, i));
    ASSERT_TRUE(added.has_value()) << added.error();
  }

  auto rows = store->restarts(busy, 5000);
  ASSERT_TRUE(rows.has_value()) << rows.error();
  ASSERT_EQ(rows->size(), 1000u);
  EXPECT_EQ(rows->front().at_ms, 1004);
  EXPECT_EQ(rows->back().at_ms, 5);
  EXPECT_EQ(queryInt("SELECT count(*) FROM restarts WHERE app_id = " + std::to_string(busy)), 1000);
  // Another app's history is not touched by the cap.
  EXPECT_EQ(store->restarts(calm, 5000)->size(), 3u);
}

TEST_F(StateStoreTest, AddRestartForAnUnknownAppFails) {
  auto store = openStore();
  ASSERT_TRUE(store);
  auto added = store->addRestart(restart(77, 1));
  ASSERT_FALSE(added.has_value());
  EXPECT_NE(added.error().find("no app with that id"), std::string::npos) << added.error();
  // The failed transaction was rolled back, and the store still works.
  int64_t id = addApp(*store, "web");
  EXPECT_TRUE(store->addRestart(restart(id, 1)).has_value());
}

TEST_F(StateStoreTest, ReopeningKeepsAppsInstancesAndRestarts) {
  int64_t id = 0;
  {
    auto store = openStore();
    ASSERT_TRUE(store);
    id = addApp(*store, "web", true);
    ASSERT_TRUE(store->putInstance({id, 2, 4242, 123456, 8080}).has_value());
    ASSERT_TRUE(store->addRestart(restart(id, 99)).has_value());
  }
  auto store = openStore();
  ASSERT_TRUE(store);
  auto apps = store->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].id, id);
  EXPECT_EQ((*apps)[0].name, "web");
  EXPECT_TRUE((*apps)[0].desired_running);
  EXPECT_EQ((*apps)[0].spec["script"], "run.sh");

  auto instances = store->loadInstances();
  ASSERT_TRUE(instances.has_value()) << instances.error();
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].index, 2);
  EXPECT_EQ((*instances)[0].pid, 4242);
  EXPECT_EQ((*instances)[0].start_ticks, 123456u);
  EXPECT_EQ((*instances)[0].port, 8080);

  auto restarts = store->restarts(id, 10);
  ASSERT_TRUE(restarts.has_value()) << restarts.error();
  ASSERT_EQ(restarts->size(), 1u);
  EXPECT_EQ((*restarts)[0].at_ms, 99);
  EXPECT_EQ((*restarts)[0].reason, "exited with code 1");
}

// The daemon forks children while the store is open: none may inherit the database.
TEST_F(StateStoreTest, EveryDescriptorTheStoreOpensIsCloseOnExec) {
  auto listFds = [] {
    std::map<int, std::string> fds;
    for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
      int fd = std::stoi(entry.path().filename().string());
      std::error_code ec;
      fds[fd] = fs::read_symlink(entry.path(), ec).string();
    }
    return fds;
  };
  const auto before = listFds();

  auto store = openStore();
  ASSERT_TRUE(store);
  int64_t id = addApp(*store, "web");  // a write, so the -wal and -shm files are open
  ASSERT_TRUE(store->putInstance({id, 0, 1, 1, 0}).has_value());
  ASSERT_TRUE(store->loadApps().has_value());

  const std::string canonical = fs::canonical(path_).string();
  std::set<std::string> seen;
  for (const auto& [fd, target] : listFds()) {
    // The listing's own descriptor was open in `before`, and its number is free for reuse.
    if (auto old = before.find(fd); old != before.end() && old->second == target) continue;
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 && errno == EBADF) continue;  // the directory listing's own descriptor
    ASSERT_GE(flags, 0) << "fd " << fd << ": " << std::strerror(errno);
    EXPECT_TRUE(flags & FD_CLOEXEC) << "fd " << fd << " -> " << target << " is not close-on-exec";
    if (target.starts_with(canonical)) seen.insert(target.substr(canonical.size()));
  }
  EXPECT_TRUE(seen.contains("")) << "the database file itself is not open";
  EXPECT_TRUE(seen.contains("-wal")) << "the -wal file is not open";
  EXPECT_TRUE(seen.contains("-shm")) << "the -shm file is not open";
}

TEST_F(StateStoreTest, AFileThatIsNotADatabaseGivesAnErrorNamingThePath) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "this is not sqlite " << i << '\n';
  }
  auto store = StateStore::open(path_);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().find(path_), std::string::npos) << store.error();
  EXPECT_NE(store.error().find("not a database"), std::string::npos) << store.error();
  EXPECT_NE(store.error().find("move it aside"), std::string::npos) << store.error();
}

TEST_F(StateStoreTest, ADatabaseWithADamagedSchemaGivesAnErrorNamingThePath) {
  {
    auto store = openStore();
    ASSERT_TRUE(store);
    addApp(*store, "web");
  }
  // Keep the valid header but overwrite the first page's b-tree (the schema table).
  {
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file);
    file.seekp(100);
    for (int i = 0; i < 400; ++i) file.put(static_cast<char>(0xA5));
  }
  auto store = StateStore::open(path_);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().find(path_), std::string::npos) << store.error();
  EXPECT_NE(store.error().find("move it aside"), std::string::npos) << store.error();
}

TEST_F(StateStoreTest, AnUnopenablePathGivesAnErrorNamingIt) {
  const std::string missing_dir = (dir_ / "no" / "such" / "dir" / "state.db").string();
  auto store = StateStore::open(missing_dir);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().find(missing_dir), std::string::npos) << store.error();

  // A directory where the file should be.
  fs::create_directory(path_);
  auto on_dir = StateStore::open(path_);
  ASSERT_FALSE(on_dir.has_value());
  EXPECT_NE(on_dir.error().find(path_), std::string::npos) << on_dir.error();
}

TEST_F(StateStoreTest, ADatabaseFromANewerTendIsRefused) {
  {
    auto store = openStore();
    ASSERT_TRUE(store);
  }
  {
    auto db = sqlite::Database::open(path_);
    ASSERT_TRUE(db.has_value()) << db.error();
    ASSERT_TRUE(db->exec("PRAGMA user_version=99").has_value());
  }
  auto store = StateStore::open(path_);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().find("newer"), std::string::npos) << store.error();
  EXPECT_NE(store.error().find(path_), std::string::npos) << store.error();
  EXPECT_EQ(queryInt("PRAGMA user_version"), 99);
}

TEST_F(StateStoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  auto first = openStore();
  auto second = openStore();
  ASSERT_TRUE(first && second);
  int64_t id = addApp(*first, "web");
  auto apps = second->loadApps();
  ASSERT_TRUE(apps.has_value()) << apps.error();
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].id, id);
}

}  // namespace
}  // namespace tend
