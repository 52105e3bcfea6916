// The daemon's log: repeated messages are rate-limited (RepeatLimiter, Logger) and the
// file is rotated by size (DaemonLogSink), so a flood of refused requests cannot grow it
// without bound. Time comes from a FakeClock.

#include <gtest/gtest.h>

#include <filesystem>

#include "common/logger.hpp"
#include "common/repeat_limiter.hpp"
#include "logs/daemon_log_sink.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

class LinesSink final : public LogSink {
 public:
  explicit LinesSink(std::vector<std::string>& lines) : lines_(lines) {}
  void writeLine(std::string_view line) override { lines_.emplace_back(line); }

 private:
  std::vector<std::string>& lines_;
};

TEST(RepeatLimiter, AdmitsABurstPerWindowAndCountsTheRest) {
  RepeatLimiter limiter({.burst = 3, .window_ms = 1000, .max_keys = 8});
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter.admit("refused {}", 100 + i);
  EXPECT_EQ(admitted, 3);
  EXPECT_TRUE(limiter.takeEnded(500).empty()) << "the window has not ended yet";
  auto ended = limiter.takeEnded(1100);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].key, "refused {}");
  EXPECT_EQ(ended[0].count, 7u);
  EXPECT_TRUE(limiter.takeEnded(1200).empty()) << "a count is reported once";
  // The next window admits a new burst.
  EXPECT_TRUE(limiter.admit("refused {}", 2200));
}

TEST(RepeatLimiter, KeysAreLimitedApart) {
  RepeatLimiter limiter({.burst = 1, .window_ms = 1000, .max_keys = 8});
  EXPECT_TRUE(limiter.admit("a", 0));
  EXPECT_FALSE(limiter.admit("a", 1));
  EXPECT_TRUE(limiter.admit("b", 2)) << "another kind of message is not held back by a flood";
}

TEST(RepeatLimiter, AQuietKeyStartsAFreshWindow) {
  RepeatLimiter limiter({.burst = 2, .window_ms = 1000, .max_keys = 8});
  EXPECT_TRUE(limiter.admit("a", 0));
  EXPECT_TRUE(limiter.admit("a", 1));
  EXPECT_TRUE(limiter.admit("a", 5000));
  EXPECT_TRUE(limiter.takeEnded(9000).empty()) << "nothing was suppressed";
}

TEST(RepeatLimiter, TracksAtMostMaxKeys) {
  RepeatLimiter limiter({.burst = 1, .window_ms = 1000, .max_keys = 4});
  for (int i = 0; i < 1000; ++i) limiter.admit("key " + std::to_string(i), 10);
  auto all = limiter.takeAll(20);
  // Four keys of their own, each admitted once, and one overflow key for the other 996.
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].key, RepeatLimiter::kOverflowKey);
  EXPECT_EQ(all[0].count, 995u);
}

TEST(Logger, SuppressesAFloodAndSaysHowManyOnceTheWindowEnds) {
  std::vector<std::string> lines;
  FakeClock clock;
  {
    Logger log(std::make_unique<LinesSink>(lines), false, clock,
               {.burst = 5, .window_ms = 10'000, .max_keys = 16});
    for (int i = 0; i < 1000; ++i) log.warn("gateway: answered {}: {}", 501, i);
    log.info("an unrelated message");
    EXPECT_EQ(lines.size(), 6u);
    clock.advance(std::chrono::seconds(11));
    log.tick();
    ASSERT_EQ(lines.size(), 7u);
    EXPECT_NE(lines.back().find("suppressed 995 more lines like \"gateway: answered {}: {}\""),
              std::string::npos)
        << lines.back();
    for (int i = 0; i < 10; ++i) log.warn("gateway: answered {}: {}", 501, i);
    EXPECT_EQ(lines.size(), 12u);
  }
  // What was still suppressed when the Logger went is said then.
  EXPECT_NE(lines.back().find("suppressed 5 more lines"), std::string::npos) << lines.back();
}

TEST(Logger, MessagesBuiltElsewhereAreEachTheirOwnKind) {
  std::vector<std::string> lines;
  FakeClock clock;
  Logger log(std::make_unique<LinesSink>(lines), false, clock,
             {.burst = 1, .window_ms = 10'000, .max_keys = 16});
  log.error("{}", "cannot open the store");
  log.error("{}", "cannot listen on the socket");
  log.error("{}", "cannot listen on the socket");
  EXPECT_EQ(lines.size(), 2u);
}

TEST(Logger, WriteIsNeverLimited) {
  std::vector<std::string> lines;
  FakeClock clock;
  Logger log(std::make_unique<LinesSink>(lines), false, clock,
             {.burst = 1, .window_ms = 10'000, .max_keys = 16});
  for (int i = 0; i < 5; ++i) log.write("info", "daemon started");
  EXPECT_EQ(lines.size(), 5u);
}

TEST(DaemonLogSink, RotatesTheFileBySize) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/daemon.log";
  FakeClock clock;
  DaemonLogSink sink(path, false, clock, /*max_size=*/1000, /*max_files=*/2);
  const std::string line(99, 'x');  // 100 bytes with its newline
  for (int i = 0; i < 100; ++i) sink.writeLine(line);
  namespace fs = std::filesystem;
  EXPECT_LE(fs::file_size(path), 1000u);
  EXPECT_EQ(fs::file_size(path + ".1"), 1000u);
  EXPECT_EQ(fs::file_size(path + ".2"), 1000u);
  EXPECT_FALSE(fs::exists(path + ".3")) << "only max_files rotated files are kept";
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace
}  // namespace tend
