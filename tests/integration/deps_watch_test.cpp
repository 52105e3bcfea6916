// depends_on (start order, conditions, stop order) and watch (restart on change) through
// the real binary.

#include <signal.h>
#include <sys/stat.h>
#include <algorithm>

#include <filesystem>

#include <fmt/format.h>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class DependsOn : public TendTest {
 protected:
  std::string configWith(const std::string& apps) {
    return writeFile("tend.yaml", "apps:\n" + apps);
  }
  json describe(const std::string& name) {
    RunResult d = tend({"describe", name, "--json"});
    EXPECT_EQ(d.status, 0) << d.err;
    return d.status == 0 ? json::parse(d.out)[0] : json::object();
  }
  // An app that writes its name to `order` when it is told to stop; `deps` is its
  // depends_on line, if any.
  std::string appRecordingItsStop(const std::string& name, const std::string& order,
                                  const std::string& deps) {
    // It says so in ORDER.up once its trap is set: a SIGTERM before that would end it
    // without a record.
    return fmt::format(R"(  - name: {0}
    run: "trap 'echo {0} >> {1}; exit 0' TERM; echo {0} >> {1}.up; while :; do sleep 0.1; done # {2}"
{3})",
                       name, order, tag(), deps);
  }
  // Waits until `count` apps made by appRecordingItsStop have set their trap.
  bool allRecording(const std::string& order, size_t count) {
    return waitFor([&] {
      std::string up = readText(order + ".up");
      return static_cast<size_t>(std::count(up.begin(), up.end(), '\n')) >= count;
    });
  }
};

TEST_F(DependsOn, ADependentStartsOnlyOnceItsDependencyIsOnline) {
  std::string cfg = configWith(fmt::format(R"(  - name: api
    run: ["{0}", "sleep", "{1}"]
    depends_on: [db]
  - name: db
    run: ["{0}", "sleep", "{1}"]
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(instance("db").value("status", ""), "online");
  EXPECT_EQ(instance("api").value("status", ""), "online");
  std::string db_at = describe("db")["instances"][0].value("started_at", "");
  std::string api_at = describe("api")["instances"][0].value("started_at", "");
  ASSERT_FALSE(db_at.empty());
  EXPECT_LE(db_at, api_at);  // ISO timestamps sort as text
}

TEST_F(DependsOn, StartingAnAppAloneStartsWhatItNeeds) {
  std::string cfg = configWith(fmt::format(R"(  - name: db
    run: ["{0}", "sleep", "{1}"]
  - name: cache
    run: ["{0}", "sleep", "{1}"]
  - name: api
    run: ["{0}", "sleep", "{1}"]
    depends_on: {{db: ready, cache: started}}
)",
                                           testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_EQ(tend({"stop", "all"}).status, 0);
  EXPECT_EQ(instance("db").value("status", ""), "stopped");
  RunResult r = tend({"start", "api"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(instance("db").value("status", ""), "online");
  EXPECT_EQ(instance("cache").value("status", ""), "online");
  EXPECT_EQ(instance("api").value("status", ""), "online");
  // Stopping one app alone stops only it.
  ASSERT_EQ(tend({"stop", "db"}).status, 0);
  EXPECT_EQ(instance("api").value("status", ""), "online");
}

TEST_F(DependsOn, ADependentOfACompletedTaskStartsAfterItsCleanExit) {
  // api fails at once if the migration has not run yet.
  std::string cfg = configWith(fmt::format(R"(  - name: api
    run: "test -f migrated && exec {0} sleep {1}; exit 7"
    depends_on:
      - migrate: completed
  - name: migrate
    run: "sleep 1; touch migrated; exit 0 # {1}"
    autorestart: false
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(waitFor([&] { return instance("api").value("status", "") == "online"; }))
      << list().dump();
  json migrate = instance("migrate");
  EXPECT_EQ(migrate.value("status", ""), "stopped");
  EXPECT_EQ(migrate.value("last_exit_code", -1), 0);
  EXPECT_EQ(instance("api").value("restarts", -1), 0);
}

TEST_F(DependsOn, ADependentOfAFailedTaskDoesNotStartAndSaysWhy) {
  std::string cfg = configWith(fmt::format(R"(  - name: migrate
    run: "sleep 0.3; exit 1 # {1}"
    autorestart: false
  - name: api
    run: ["{0}", "sleep", "{1}"]
    depends_on: {{migrate: completed}}
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("dependency migrate failed: exited with code 1"), std::string::npos)
      << r.err;
  json api = instance("api");
  EXPECT_EQ(api.value("status", ""), "errored");
  EXPECT_EQ(api.value("pid", -1), 0);
  EXPECT_NE(api.value("reason", "").find("dependency migrate failed"), std::string::npos)
      << api.dump();
}

TEST_F(DependsOn, AWaitingDependentShowsWhatItWaitsFor) {
  std::string cfg = configWith(fmt::format(R"(  - name: migrate
    run: "sleep 3; exit 0 # {1}"
    autorestart: false
  - name: api
    run: ["{0}", "sleep", "{1}"]
    depends_on: {{migrate: completed}}
)",
                                           testapp(), tag()));
  RunResult r = tend({"start", cfg, "--json"}, {}, seconds(60));
  // The reply comes once api is online; before that, `tend list` shows it waiting.
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(instance("api").value("status", ""), "online");
  std::string log = readText(home_ + "/daemon.log");
  EXPECT_NE(log.find("api[0]: waiting for migrate (completed)"), std::string::npos) << log;
}

TEST_F(DependsOn, StopAllStopsDependentsBeforeTheirDependencies) {
  const std::string order = dir_ + "/order";
  auto app = [&](const std::string& name, const std::string& deps) {
    return appRecordingItsStop(name, order, deps);
  };
  std::string cfg = configWith(app("db", "") + app("api", "    depends_on: [db]\n") +
                               app("web", "    depends_on: [api]\n") + app("other", ""));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(allRecording(order, 4));
  RunResult r = tend({"stop", "all"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string text = readText(order);
  // other stops with web (neither is needed by anything); db last.
  EXPECT_LT(text.find("web"), text.find("api")) << text;
  EXPECT_LT(text.find("other"), text.find("api")) << text;
  EXPECT_LT(text.find("api"), text.find("db")) << text;
  EXPECT_NE(text.find("db"), std::string::npos) << text;
}

TEST_F(DependsOn, TheDaemonStopsDependentsFirstAndStartsDependenciesFirstWhenItComesBack) {
  const std::string order = dir_ + "/order";
  auto app = [&](const std::string& name, const std::string& deps) {
    return appRecordingItsStop(name, order, deps);
  };
  // api comes first in the file (and gets the lower id).
  std::string cfg = configWith(app("api", "    depends_on: [db]\n") + app("db", ""));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(allRecording(order, 2));
  pid_t daemon = daemonPid();
  ASSERT_EQ(::kill(daemon, SIGTERM), 0);
  ASSERT_TRUE(waitFor([&] { return !processAlive(daemon); }, seconds(30)));
  EXPECT_EQ(readText(order), "api\ndb\n");
  list();  // a new daemon, which restores what should run
  ASSERT_TRUE(waitFor([&] {
    return instance("api").value("status", "") == "online" &&
           instance("db").value("status", "") == "online";
  })) << list().dump();
  std::string db_at = describe("db")["instances"][0].value("started_at", "");
  std::string api_at = describe("api")["instances"][0].value("started_at", "");
  EXPECT_LE(db_at, api_at);
}

class Watch : public TendTest {
 protected:
  std::string app_dir() const { return dir_ + "/w"; }
  void SetUp() override {
    TendTest::SetUp();
    std::filesystem::create_directories(dir_ + "/w/src");
    writeText(dir_ + "/w/src/app.js", "one\n");
  }
  std::string start(const std::string& extra = "", const std::string& run = "") {
    std::string cfg = writeFile(
        "tend.yaml",
        fmt::format(R"(apps:
  - name: w
    run: {0}
    cwd: {1}
    watch: [.]
{2})",
                    run.empty() ? fmt::format(R"(["{}", "sleep", "{}"])", testapp(), tag()) : run,
                    app_dir(), extra));
    RunResult r = tend({"start", cfg});
    EXPECT_EQ(r.status, 0) << r.err;
    settled();
    return cfg;
  }
  // Changes within 2 s of a start are ignored (the settle window): wait past it.
  void settled() {
    ASSERT_TRUE(waitFor(
        [&] {
          json i = instance("w");
          return i.value("status", "") == "online" && i.value("uptime_ms", 0) > 2500;
        },
        seconds(20)))
        << list().dump();
  }
  std::vector<std::string> causes() {
    RunResult d = tend({"describe", "w", "--json"});
    EXPECT_EQ(d.status, 0) << d.err;
    std::vector<std::string> out;
    if (d.status != 0) return out;
    const json apps = json::parse(d.out);  // kept: a range-for over a temporary's part dangles
    for (const auto& h : apps[0]["restart_history"]) out.push_back(h.value("reason", ""));
    return out;
  }
};

TEST_F(Watch, EditingAWatchedFileRestartsTheAppOnceWithTheCause) {
  start();
  int pid = instance("w").value("pid", 0);
  writeText(app_dir() + "/src/app.js", "two\n");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  ASSERT_TRUE(waitFor([&] { return instance("w").value("status", "") == "online"; }));
  EXPECT_NE(instance("w").value("pid", 0), pid);
  EXPECT_FALSE(processAlive(pid));
  EXPECT_EQ(causes(), (std::vector<std::string>{"watch: src/app.js changed"}));
}

TEST_F(Watch, AFileInAnIgnoredFolderDoesNotCount) {
  std::filesystem::create_directories(app_dir() + "/cache");
  std::filesystem::create_directories(app_dir() + "/node_modules/x");
  start("    ignore_watch: [cache, \"*.tmp\"]\n");
  writeText(app_dir() + "/cache/data.bin", "x");
  writeText(app_dir() + "/node_modules/x/index.js", "x");
  writeText(app_dir() + "/src/scratch.tmp", "x");
  writeText(app_dir() + "/src/app.js", "two\n");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  // Had an ignored file counted, the cause would name it or say "and N other files".
  EXPECT_EQ(causes(), (std::vector<std::string>{"watch: src/app.js changed"}));
}

TEST_F(Watch, ASubfolderCreatedAfterTheStartIsWatched) {
  start();
  std::filesystem::create_directories(app_dir() + "/lib/deep");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  settled();
  writeText(app_dir() + "/lib/deep/mod.js", "x");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 2; })) << list().dump();
  EXPECT_EQ(causes().front(), "watch: lib/deep/mod.js changed");
}

TEST_F(Watch, AnAppWritingIntoItsWatchedFolderAtStartIsNotRestartedInALoop) {
  start("", fmt::format(R"("date +%s%N > started.txt; exec {} sleep {}")", testapp(), tag()));
  writeText(app_dir() + "/src/app.js", "two\n");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  // Each start writes started.txt into the watched folder: no second restart follows.
  EXPECT_FALSE(waitFor([&] { return instance("w").value("restarts", 0) >= 2; }, seconds(5)))
      << list().dump();
  EXPECT_EQ(instance("w").value("status", ""), "online");
}

TEST_F(Watch, AnEditSavedJustAfterARestartRestartsItAgain) {
  // Each process copies app.js when it starts: the copy shows which code it runs.
  start("", fmt::format(R"("cp src/app.js running.txt; exec {} sleep {}")", testapp(), tag()));
  int pid = instance("w").value("pid", 0);
  writeText(app_dir() + "/src/app.js", "two\n");
  ASSERT_TRUE(waitFor([&] {
    json i = instance("w");
    return i.value("pid", 0) != pid && i.value("pid", 0) != 0;
  })) << list().dump();
  // Saved again as the new process starts (within its settle window).
  writeText(app_dir() + "/src/app.js", "three\n");
  ASSERT_TRUE(
      waitFor([&] { return readText(app_dir() + "/running.txt") == "three\n"; }, seconds(15)))
      << list().dump() << readText(app_dir() + "/running.txt");
  // The second edit restarts it once more, even where the process that started in the
  // meantime happened to copy it already.
  ASSERT_TRUE(waitFor([&] { return causes().size() >= 2; }, seconds(15))) << list().dump();
  ASSERT_TRUE(waitFor([&] { return instance("w").value("status", "") == "online"; }));
  EXPECT_EQ(readText(app_dir() + "/running.txt"), "three\n");
  EXPECT_EQ(causes(),
            (std::vector<std::string>{"watch: src/app.js changed", "watch: src/app.js changed"}));
}

TEST_F(Watch, AnIgnoredFolderDoesNotCountEvenWhenItIsAlsoWatched) {
  std::filesystem::create_directories(app_dir() + "/tmp/deep");
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: w
    run: ["{}", "sleep", "{}"]
    cwd: {}
    watch: [src, tmp]
    ignore_watch: [tmp]
)",
                                                       testapp(), tag(), app_dir()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.err;
  settled();
  writeText(app_dir() + "/tmp/scratch.txt", "x");
  writeText(app_dir() + "/tmp/deep/more.txt", "x");
  writeText(app_dir() + "/src/app.js", "two\n");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  // Had a file in tmp counted, the cause would name it or say "and N other files".
  EXPECT_EQ(causes(), (std::vector<std::string>{"watch: src/app.js changed"}));
  std::string log = readText(home_ + "/daemon.log");
  EXPECT_NE(log.find("is in ignore_watch; not watched"), std::string::npos) << log;
}

TEST_F(Watch, ATreeOfFiveThousandFilesIsWatched) {
  for (int d = 0; d < 50; ++d) {
    std::string sub = fmt::format("{}/tree/d{}", app_dir(), d);
    std::filesystem::create_directories(sub);
    for (int f = 0; f < 100; ++f) writeText(fmt::format("{}/f{}.txt", sub, f), "x");
  }
  start();
  std::string log = readText(home_ + "/daemon.log");
  EXPECT_NE(log.find("w: watching 53 folders for changes"), std::string::npos) << log;
  EXPECT_EQ(log.find("watch: more than"), std::string::npos);
  EXPECT_EQ(log.find("inotify limit"), std::string::npos);
  writeText(app_dir() + "/tree/d49/f99.txt", "y");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  EXPECT_EQ(causes(), (std::vector<std::string>{"watch: tree/d49/f99.txt changed"}));
}

TEST_F(Watch, AStoppedAppIsNotStartedByAChange) {
  start();
  ASSERT_EQ(tend({"stop", "w"}).status, 0);
  writeText(app_dir() + "/src/app.js", "two\n");
  EXPECT_FALSE(waitFor([&] { return instance("w").value("status", "") != "stopped"; }, seconds(3)));
}

TEST_F(Watch, StartWithTheWatchFlagWatchesTheWorkingDirectory) {
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(app_dir());  // tend runs here: it watches this folder
  RunResult r = tend({"start", testapp(), "--name", "w", "--watch", "--", "sleep", tag()});
  std::filesystem::current_path(previous);
  ASSERT_EQ(r.status, 0) << r.err;
  settled();
  int pid = instance("w").value("pid", 0);
  writeText(app_dir() + "/src/app.js", "two\n");
  ASSERT_TRUE(waitFor([&] { return instance("w").value("restarts", 0) >= 1; })) << list().dump();
  EXPECT_NE(instance("w").value("pid", 0), pid);
  EXPECT_EQ(causes(), (std::vector<std::string>{"watch: src/app.js changed"}));
}

}  // namespace
}  // namespace tend::testing
