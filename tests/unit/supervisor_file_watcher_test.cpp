#include <gtest/gtest.h>

#include "supervisor/file_watcher.hpp"

namespace tend {
namespace {

TEST(WatchIgnore, IgnoresDefaultFoldersAndEditorFilesAnywhere) {
  WatchIgnore ignore;
  EXPECT_TRUE(ignore.ignored(".git", "/app/.git"));
  EXPECT_TRUE(ignore.ignored(".git/index", "/app/.git/index"));
  EXPECT_TRUE(ignore.ignored("web/node_modules/x/y.js", "/app/web/node_modules/x/y.js"));
  EXPECT_TRUE(ignore.ignored("src/.app.js.swp", "/app/src/.app.js.swp"));
  EXPECT_TRUE(ignore.ignored("src/app.js~", "/app/src/app.js~"));
  EXPECT_FALSE(ignore.ignored("src/app.js", "/app/src/app.js"));
  EXPECT_FALSE(ignore.ignored("", "/app"));
}

TEST(WatchIgnore, APatternWithoutSlashMatchesAnyComponent) {
  WatchIgnore ignore({"*.log", "tmp"});
  EXPECT_TRUE(ignore.ignored("out.log", "/app/out.log"));
  EXPECT_TRUE(ignore.ignored("a/b/c.log", "/app/a/b/c.log"));
  EXPECT_TRUE(ignore.ignored("tmp", "/app/tmp"));
  EXPECT_TRUE(ignore.ignored("a/tmp/file.js", "/app/a/tmp/file.js"));
  EXPECT_FALSE(ignore.ignored("a/tmpfile.js", "/app/a/tmpfile.js"));
  EXPECT_FALSE(ignore.ignored("log.js", "/app/log.js"));
}

TEST(WatchIgnore, APatternWithSlashMatchesTheRelativePathOrAFolderAboveIt) {
  WatchIgnore ignore({"build/out/", "./src/*.gen.js"});
  EXPECT_TRUE(ignore.ignored("build/out", "/app/build/out"));
  EXPECT_TRUE(ignore.ignored("build/out/deep/x.js", "/app/build/out/deep/x.js"));
  EXPECT_FALSE(ignore.ignored("build/other.js", "/app/build/other.js"));
  EXPECT_TRUE(ignore.ignored("src/a.gen.js", "/app/src/a.gen.js"));
  // '*' does not cross a '/'.
  EXPECT_FALSE(ignore.ignored("src/sub/a.gen.js", "/app/src/sub/a.gen.js"));
  EXPECT_FALSE(ignore.ignored("other/build/out/x", "/app/other/build/out/x"));
}

TEST(WatchIgnore, AbsolutePatternsAndExactPaths) {
  WatchIgnore ignore({"/data/cache"});
  ignore.addExact("/app/logs/app-0-out.log");
  EXPECT_TRUE(ignore.ignored("x", "/data/cache/x"));
  EXPECT_TRUE(ignore.ignored("logs/app-0-out.log", "/app/logs/app-0-out.log"));
  EXPECT_FALSE(ignore.ignored("logs/app-1-out.log", "/app/logs/app-1-out.log"));
}

TEST(WatchIgnore, AnIgnoredFolderWinsEvenWhereItIsAlsoWatched) {
  // watch: [src, tmp], ignore_watch: [tmp], in an app whose folder is /app.
  WatchIgnore ignore({"tmp", "build/out"});
  EXPECT_TRUE(ignore.ignoredPath("/app/tmp", "/app/tmp", "/app"));
  EXPECT_TRUE(ignore.ignoredPath("/app/tmp/x.txt", "/app/tmp", "/app"));
  EXPECT_TRUE(ignore.ignoredPath("/app/tmp/deep/y.txt", "/app/tmp", "/app"));
  EXPECT_FALSE(ignore.ignoredPath("/app/src/app.js", "/app/src", "/app"));
  // A pattern with '/' counts from the app's folder too.
  EXPECT_TRUE(ignore.ignoredPath("/app/build/out/a.js", "/app/build", "/app"));
  EXPECT_FALSE(ignore.ignoredPath("/app/build/src/a.js", "/app/build", "/app"));
  // Relative to the watched folder as before.
  EXPECT_TRUE(ignore.ignoredPath("/elsewhere/tmp/x", "/elsewhere", "/app"));
  EXPECT_FALSE(ignore.ignoredPath("/elsewhere/x", "/elsewhere", "/app"));
}

class WatchDebouncerTest : public ::testing::Test {
 protected:
  FakeClock clock;
  WatchDebouncer d;
};

TEST_F(WatchDebouncerTest, ABurstOfChangesIsOneBatchDueAfterAQuietPeriod) {
  EXPECT_FALSE(d.deadline());
  EXPECT_TRUE(d.change(clock.now(), "src/app.js"));
  clock.advance(100ms);
  d.change(clock.now(), "src/util.js");
  clock.advance(100ms);
  d.change(clock.now(), "src/app.js");
  ASSERT_TRUE(d.deadline());
  EXPECT_EQ(*d.deadline(), clock.now() + WatchDebouncer::kQuiet);
  clock.advance(WatchDebouncer::kQuiet - 1ms);
  EXPECT_FALSE(d.due(clock.now()));
  clock.advance(1ms);
  EXPECT_EQ(d.due(clock.now()), "src/app.js and 1 other file");
  EXPECT_FALSE(d.deadline());
  EXPECT_FALSE(d.due(clock.now()));
}

TEST_F(WatchDebouncerTest, AChangeThatNeverStopsIsDueAfterTheMaximumDelay) {
  const TimePoint first = clock.now();
  d.change(clock.now(), "a");
  for (int i = 0; i < 100; ++i) {
    clock.advance(100ms);
    d.change(clock.now(), "b" + std::to_string(i));
    if (d.due(clock.now())) {
      EXPECT_EQ(clock.now(), first + WatchDebouncer::kMaxDelay);
      return;
    }
  }
  FAIL() << "never due";
}

TEST_F(WatchDebouncerTest, ChangesWhileTheAppSettlesAreIgnoredAndPendingOnesDropped) {
  d.change(clock.now(), "src/app.js");
  d.settle(clock.now());  // the app restarted: it reads the files as they are now
  EXPECT_FALSE(d.deadline());
  clock.advance(WatchDebouncer::kSettle - 1ms);
  EXPECT_FALSE(d.change(clock.now(), "written-by-the-app.txt"));
  EXPECT_FALSE(d.deadline());
  clock.advance(1ms);
  EXPECT_TRUE(d.change(clock.now(), "src/app.js"));
  EXPECT_TRUE(d.deadline());
}

TEST_F(WatchDebouncerTest, OneExternalChangeThenTheAppsOwnWriteIsOneRestart) {
  int restarts = 0;
  d.change(clock.now(), "src/app.js");
  clock.advance(WatchDebouncer::kQuiet);
  if (d.due(clock.now())) {
    ++restarts;
    d.settle(clock.now());  // the supervisor restarts it and settles at the spawn
  }
  for (int i = 0; i < 10; ++i) {  // the new process writes into its folder as it starts
    clock.advance(50ms);
    d.change(clock.now(), "state.json");
  }
  clock.advance(10s);
  if (d.due(clock.now())) ++restarts;
  EXPECT_EQ(restarts, 1);
}

TEST_F(WatchDebouncerTest, AnEditWithinTheSettleWindowAfterARestartRestartsWhenItEnds) {
  d.settle(clock.now());  // the first start
  clock.advance(5s);
  d.change(clock.now(), "src/app.js");
  clock.advance(WatchDebouncer::kQuiet);
  ASSERT_EQ(d.due(clock.now()), "src/app.js");
  const TimePoint restarted = clock.now();
  d.settle(restarted);  // the restart: the new process reads src/app.js now
  clock.advance(1s);
  EXPECT_FALSE(d.change(clock.now(), "src/app.js"));  // saved again: the process has old code
  ASSERT_TRUE(d.deadline());
  EXPECT_EQ(*d.deadline(), restarted + WatchDebouncer::kSettle);  // checked when it ends
  clock.advance(1s);
  EXPECT_FALSE(d.due(clock.now()));  // then debounced as any change
  clock.advance(WatchDebouncer::kQuiet);
  EXPECT_EQ(d.due(clock.now()), "src/app.js");
}

TEST_F(WatchDebouncerTest, WhatTheAppWritesAtEveryStartNeverRestartsIt) {
  int restarts = 0;
  auto start = [&] {
    d.settle(clock.now());
    clock.advance(100ms);
    d.change(clock.now(), "state.json");  // written by the app as it starts
  };
  start();
  for (int i = 0; i < 3; ++i) {
    clock.advance(10s);
    EXPECT_FALSE(d.due(clock.now()));
    d.change(clock.now(), "src/app.js");  // a user's edit
    clock.advance(WatchDebouncer::kQuiet);
    if (d.due(clock.now())) {
      ++restarts;
      start();
    }
  }
  clock.advance(10s);
  EXPECT_FALSE(d.due(clock.now()));
  EXPECT_FALSE(d.deadline());
  EXPECT_EQ(restarts, 3);
}

TEST_F(WatchDebouncerTest, ARestartWithinTheWindowKeepsWhatItHolds) {
  d.settle(clock.now());  // the first start
  clock.advance(5s);
  d.settle(clock.now());  // spawned
  clock.advance(500ms);
  d.change(clock.now(), "src/app.js");
  d.settle(clock.now());  // online: the same window, longer
  ASSERT_TRUE(d.deadline());
  EXPECT_EQ(*d.deadline(), clock.now() + WatchDebouncer::kSettle);
}

}  // namespace
}  // namespace tend
