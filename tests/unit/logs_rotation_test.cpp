// LogWriter's rotation, failure handling and truncation, and reading logs back across
// rotation. The disk is simulated through the LogFs seam (a full disk, a refused rename);
// one test uses the real /dev/full.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "logs/log_reader.hpp"
#include "logs/log_writer.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

namespace fs = std::filesystem;

// The real file system with faults on demand: a disk that takes only `space` more bytes,
// and opens, renames or truncations that fail.
class FaultyFs final : public LogFs {
 public:
  std::optional<uint64_t> space;  // nullopt: unlimited
  std::error_code fail_open;
  std::error_code fail_rename;
  std::error_code fail_truncate;
  int opens = 0;
  int writes = 0;

  std::expected<UniqueFd, std::error_code> openAppend(const std::string& path) override {
    ++opens;
    if (fail_open) return std::unexpected(fail_open);
    return real().openAppend(path);
  }
  bool pretend_not_regular = false;
  int renames = 0;

  std::expected<FileInfo, std::error_code> stat(int fd) override {
    auto info = real().stat(fd);
    if (info && pretend_not_regular) info->regular = false;
    return info;
  }
  std::expected<size_t, std::error_code> write(int fd, std::string_view data) override {
    ++writes;
    if (space) {
      if (*space == 0) return std::unexpected(std::make_error_code(std::errc::no_space_on_device));
      data = data.substr(0, std::min<uint64_t>(data.size(), *space));
      *space -= data.size();
    }
    return real().write(fd, data);
  }
  std::error_code truncate(int fd, uint64_t size) override {
    if (fail_truncate) return fail_truncate;
    return real().truncate(fd, size);
  }
  std::error_code rename(const std::string& from, const std::string& to) override {
    ++renames;
    if (fail_rename) return fail_rename;
    return real().rename(from, to);
  }
  std::error_code remove(const std::string& path) override { return real().remove(path); }
};

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  return fs::exists(path);
}

class LogRotation : public ::testing::Test {
 protected:
  tend::testing::TempDir temp;
  const std::string log = temp.path() + "/app.log";
  FaultyFs faulty;
  int64_t now = 1'700'000'000'000;
};

TEST_F(LogRotation, RotatesBeforeALineWouldTakeTheFilePastMaxSize) {
  LogWriter w(log, false, /*max_size=*/30, /*max_files=*/5);
  for (int i = 0; i < 4; ++i) w.write("123456789", now);  // 10 bytes each with '\n'
  EXPECT_EQ(readAll(log + ".1"), "123456789\n123456789\n123456789\n");
  EXPECT_EQ(readAll(log), "123456789\n");
  EXPECT_FALSE(exists(log + ".2"));
  EXPECT_TRUE(w.lastError().empty());
}

TEST_F(LogRotation, JsonLinesRotateWholeAtTheirWrittenSize) {
  // Each line is {"time":"...","app":"a","instance":0,"stream":"out","message":"lineN"}.
  const size_t line_bytes = std::string(R"({"time":"2023-11-14T22:13:20.000Z","app":"a",)"
                                        R"("instance":0,"stream":"out","message":"line0"})")
                                .size() +
                            1;
  LogWriter w(log, true, /*max_size=*/line_bytes * 2, /*max_files=*/3);
  w.setJson("a", 0, "out");
  for (int i = 0; i < 3; ++i) w.write("line" + std::to_string(i), now);
  EXPECT_EQ(readAll(log + ".1").size(), line_bytes * 2);
  EXPECT_EQ(readAll(log),
            R"({"time":"2023-11-14T22:13:20.000Z","app":"a","instance":0,"stream":"out",)"
            R"("message":"line2"})"
            "\n");
}

TEST_F(LogRotation, KeepsMaxFilesRotatedFilesAndDropsTheOldest) {
  LogWriter w(log, false, /*max_size=*/10, /*max_files=*/3);
  for (int i = 0; i < 6; ++i) w.write("line" + std::to_string(i), now);  // one per file
  EXPECT_EQ(readAll(log), "line5\n");
  EXPECT_EQ(readAll(log + ".1"), "line4\n");
  EXPECT_EQ(readAll(log + ".2"), "line3\n");
  EXPECT_EQ(readAll(log + ".3"), "line2\n");
  EXPECT_FALSE(exists(log + ".4"));
}

TEST_F(LogRotation, NeverLosesOrSplitsALineAcrossFiles) {
  constexpr uint64_t kMax = 1000;
  LogWriter w(log, true, kMax, /*max_files=*/1000);
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    std::string line = "line " + std::to_string(i) + " " + std::string(i % 97, 'x');
    w.write(line, now + i);
    expected += formatTimestamp(now + i) + " " + line + "\n";
  }
  std::string joined;
  int files = 0;
  for (int i = 1000; i >= 1; --i) {
    const std::string path = rotatedLogPath(log, i);
    if (!exists(path)) continue;
    std::string text = readAll(path);
    ++files;
    EXPECT_LE(text.size(), kMax) << path;
    EXPECT_EQ(text.back(), '\n') << path;
    joined += text;
  }
  joined += readAll(log);
  EXPECT_GT(files, 100);
  EXPECT_EQ(joined, expected);
  EXPECT_EQ(w.droppedLines(), 0u);
}

TEST_F(LogRotation, AppendedLinesAreWrittenWithOneWritePerBatch) {
  LogWriter w(log, false, /*max_size=*/0, /*max_files=*/5, faulty);
  for (int i = 0; i < 100; ++i) w.append("line " + std::to_string(i), now);
  EXPECT_EQ(faulty.writes, 0);
  EXPECT_EQ(readAll(log), "");
  w.flush(now);
  EXPECT_EQ(faulty.writes, 1);
  std::string text = readAll(log);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 100);
  EXPECT_EQ(text.substr(0, 14), "line 0\nline 1\n");
  w.flush(now);  // nothing pending: no write
  EXPECT_EQ(faulty.writes, 1);
}

TEST_F(LogRotation, ABatchIsWrittenOnceItHoldsBatchBytes) {
  LogWriter w(log, false, /*max_size=*/0, /*max_files=*/5, faulty);
  const std::string line(999, 'x');  // 1000 bytes with its '\n'
  for (size_t i = 0; i < LogWriter::kBatchBytes / 1000 + 1; ++i) w.append(line, now);
  EXPECT_EQ(faulty.writes, 1);  // without any flush: memory stays bounded
  EXPECT_EQ(readAll(log).size() % 1000, 0u);
}

TEST_F(LogRotation, BatchedLinesStillRotateBetweenLines) {
  constexpr uint64_t kMax = 1000;
  LogWriter w(log, true, kMax, /*max_files=*/1000);
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    std::string line = "line " + std::to_string(i) + " " + std::string(i % 97, 'x');
    w.append(line, now + i / 10);
    expected += formatTimestamp(now + i / 10) + " " + line + "\n";
    if (i % 50 == 49) w.flush(now);
  }
  w.flush(now);
  std::string joined;
  for (int i = 1000; i >= 1; --i) {
    const std::string path = rotatedLogPath(log, i);
    if (!exists(path)) continue;
    std::string text = readAll(path);
    EXPECT_LE(text.size(), kMax) << path;
    EXPECT_EQ(text.back(), '\n') << path;
    joined += text;
  }
  joined += readAll(log);
  EXPECT_EQ(joined, expected);
}

TEST_F(LogRotation, AFailedBatchCountsEveryLineDropped) {
  faulty.space = 25;  // room for part of the batch only
  LogWriter w(log, false, /*max_size=*/0, /*max_files=*/5, faulty);
  for (int i = 0; i < 10; ++i) w.append("0123456789", now);  // 11 bytes each
  w.flush(now);
  EXPECT_EQ(w.droppedLines(), 10u);
  EXPECT_EQ(readAll(log), "");  // the written part was cut off: no half line
  EXPECT_FALSE(w.lastError().empty());
}

TEST_F(LogRotation, ALineLongerThanMaxSizeGoesWholeIntoAFileOfItsOwn) {
  LogWriter w(log, false, /*max_size=*/16, /*max_files=*/5);
  w.write("short", now);
  const std::string huge(1 << 20, 'h');
  w.write(huge, now);
  w.write("after", now);
  EXPECT_EQ(readAll(log + ".2"), "short\n");
  EXPECT_EQ(readAll(log + ".1"), huge + "\n");
  EXPECT_EQ(readAll(log), "after\n");
}

TEST_F(LogRotation, BinaryBytesArePassedThroughUnchanged) {
  LogWriter w(log, false);
  const std::string binary("\x00\x01\xff\xfe\x1b[31m\r", 9);
  w.write(binary, now);
  EXPECT_EQ(readAll(log), binary + "\n");
}

TEST_F(LogRotation, CountsWhatAnExistingFileAlreadyHolds) {
  temp.write("app.log", std::string(25, 'o').append(1, '\n'));  // 26 bytes from an earlier daemon
  LogWriter w(log, false, /*max_size=*/30, /*max_files=*/5);
  w.write("123456789", now);
  EXPECT_EQ(readAll(log + ".1").size(), 26u);
  EXPECT_EQ(readAll(log), "123456789\n");
}

TEST_F(LogRotation, ZeroMaxFilesStartsTheSameFileAgain) {
  LogWriter w(log, false, /*max_size=*/10, /*max_files=*/0);
  w.write("first", now);
  w.write("second", now);
  EXPECT_EQ(readAll(log), "second\n");
  EXPECT_FALSE(exists(log + ".1"));
}

TEST_F(LogRotation, AFullDiskDropsLinesKeepsTheReasonAndWritingResumesWhenSpaceReturns) {
  std::vector<std::string> status;
  LogWriter w(log, false, LogWriter::kDefaultMaxSize, 5, faulty);
  w.setStatusHandler([&](const std::string& s) { status.push_back(s); });
  w.write("before", now);
  faulty.space = 0;
  w.write("lost 1", now);
  EXPECT_NE(w.lastError().find("No space left on device"), std::string::npos) << w.lastError();
  EXPECT_NE(w.lastError().find(log), std::string::npos);
  EXPECT_EQ(w.droppedLines(), 1u);

  // Within the retry interval, lines are counted and dropped without touching the disk.
  const int writes = faulty.writes;
  const int opens = faulty.opens;
  for (int i = 0; i < 1000; ++i) w.write("lost", now + 1 + i % 999);
  EXPECT_EQ(faulty.writes, writes);
  EXPECT_EQ(faulty.opens, opens);
  EXPECT_EQ(w.droppedLines(), 1001u);

  // Still full at the next try: one more attempt, then quiet again.
  w.write("lost 2", now + LogWriter::kRetryIntervalMs);
  EXPECT_EQ(faulty.writes, writes + 1);
  EXPECT_EQ(w.droppedLines(), 1002u);

  faulty.space.reset();  // space is back
  w.write("after", now + 2 * LogWriter::kRetryIntervalMs);
  EXPECT_EQ(readAll(log), "before\nafter\n");
  EXPECT_TRUE(w.lastError().empty());
  EXPECT_EQ(w.droppedLines(), 1002u);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_NE(status[0].find("No space left on device"), std::string::npos) << status[0];
  EXPECT_NE(status[1].find("1002 lines could not be written"), std::string::npos) << status[1];
}

TEST_F(LogRotation, AWallClockThatJumpsBackDoesNotDelayTheRetry) {
  LogWriter w(log, false, LogWriter::kDefaultMaxSize, 5, faulty);
  faulty.space = 0;
  w.write("lost", now);
  faulty.space.reset();
  w.write("kept", now - 60'000);
  EXPECT_EQ(readAll(log), "kept\n");
}

TEST_F(LogRotation, APartlyWrittenLineIsCutOffSoTheFileNeverHoldsHalfALine) {
  LogWriter w(log, false, LogWriter::kDefaultMaxSize, 5, faulty);
  faulty.space = 15;
  w.write("123456789", now);  // 10 bytes: fits
  w.write("abcdefghi", now);  // 5 bytes fit, then ENOSPC
  EXPECT_EQ(readAll(log), "123456789\n");
  faulty.space.reset();
  w.write("third", now + LogWriter::kRetryIntervalMs);
  EXPECT_EQ(readAll(log), "123456789\nthird\n");
  EXPECT_EQ(w.droppedLines(), 1u);
}

TEST_F(LogRotation, WhenThePieceCannotBeCutTheNextLineStillStartsOnItsOwnLine) {
  LogWriter w(log, false, LogWriter::kDefaultMaxSize, 5, faulty);
  faulty.space = 15;
  faulty.fail_truncate = std::make_error_code(std::errc::io_error);
  w.write("123456789", now);
  w.write("abcdefghi", now);
  faulty.space.reset();
  w.write("third", now + LogWriter::kRetryIntervalMs);
  EXPECT_EQ(readAll(log), "123456789\nabcde\nthird\n");
}

TEST_F(LogRotation, TheRealFullDeviceIsReportedAndNeverBlocks) {
  if (!exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  LogWriter w("/dev/full", true);
  for (int i = 0; i < 3; ++i) w.write("into the void", now + i * LogWriter::kRetryIntervalMs);
  EXPECT_NE(w.lastError().find("cannot write /dev/full: No space left on device"),
            std::string::npos)
      << w.lastError();
  EXPECT_EQ(w.droppedLines(), 3u);
}

TEST_F(LogRotation, AFileThatCannotBeOpenedIsTriedAgainLater) {
  LogWriter w(log, false, LogWriter::kDefaultMaxSize, 5, faulty);
  faulty.fail_open = std::make_error_code(std::errc::permission_denied);
  w.write("lost", now);
  EXPECT_NE(w.lastError().find("cannot open " + log + ": Permission denied"), std::string::npos)
      << w.lastError();
  faulty.fail_open = {};
  w.write("lost too", now + 10);  // within the retry interval
  w.write("kept", now + LogWriter::kRetryIntervalMs);
  EXPECT_EQ(readAll(log), "kept\n");
  EXPECT_EQ(w.droppedLines(), 2u);
  EXPECT_TRUE(w.lastError().empty());
}

TEST_F(LogRotation, WhenRotationFailsLinesAreStillWrittenPastTheLimit) {
  std::vector<std::string> status;
  LogWriter w(log, false, /*max_size=*/10, /*max_files=*/3, faulty);
  w.setStatusHandler([&](const std::string& s) { status.push_back(s); });
  faulty.fail_rename = std::make_error_code(std::errc::permission_denied);
  w.write("one", now);
  w.write("two", now);
  w.write("three", now);
  w.write("four", now);
  EXPECT_EQ(readAll(log), "one\ntwo\nthree\nfour\n");
  EXPECT_NE(w.lastError().find("cannot rotate"), std::string::npos) << w.lastError();
  EXPECT_EQ(w.droppedLines(), 0u);
  EXPECT_EQ(status.size(), 1u);

  faulty.fail_rename = {};
  w.write("five", now + LogWriter::kRetryIntervalMs);
  EXPECT_EQ(readAll(log + ".1"), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(readAll(log), "five\n");
  EXPECT_TRUE(w.lastError().empty());
  EXPECT_EQ(status.size(), 2u);
}

TEST_F(LogRotation, OnlyRegularFilesAreRotatedOrEmptied) {
  // As for out_file: /dev/null. (Simulated: renaming the real /dev/null as root would be bad.)
  faulty.pretend_not_regular = true;
  LogWriter w(log, false, /*max_size=*/10, /*max_files=*/3, faulty);
  for (int i = 0; i < 10; ++i) w.write("a line longer than ten bytes", now);
  EXPECT_EQ(faulty.renames, 0);
  ASSERT_TRUE(w.truncate());
  EXPECT_EQ(readAll(log).size(), 10 * 29u);
  EXPECT_TRUE(w.lastError().empty());
}

TEST_F(LogRotation, TruncateEmptiesTheFileAndRemovesTheRotatedOnes) {
  LogWriter w(log, false, /*max_size=*/10, /*max_files=*/3);
  for (int i = 0; i < 4; ++i) w.write("line" + std::to_string(i), now);
  ASSERT_TRUE(exists(log + ".3"));
  ASSERT_TRUE(w.truncate());
  EXPECT_EQ(readAll(log), "");
  EXPECT_FALSE(exists(log + ".1"));
  EXPECT_FALSE(exists(log + ".2"));
  EXPECT_FALSE(exists(log + ".3"));
  w.write("fresh", now);  // the writer knows the file is empty: no rotation yet
  EXPECT_EQ(readAll(log), "fresh\n");
  EXPECT_FALSE(exists(log + ".1"));
}

TEST_F(LogRotation, TruncateRemovesLeftoversOfALargerMaxFiles) {
  for (int i = 1; i <= 7; ++i) temp.write("app.log." + std::to_string(i), "old\n");
  temp.write("app.log", "current\n");
  ASSERT_TRUE(truncateLogFiles(log, 3));
  for (int i = 1; i <= 7; ++i) EXPECT_FALSE(exists(log + "." + std::to_string(i))) << i;
  EXPECT_EQ(readAll(log), "");
}

TEST_F(LogRotation, TruncatingLogsThatWereNeverWrittenIsNotAnError) {
  EXPECT_TRUE(truncateLogFiles(temp.path() + "/missing-dir/app.log", 5));
}

TEST_F(LogRotation, TruncateAfterAFailureRetriesTheNextLineAtOnce) {
  LogWriter w(log, false, LogWriter::kDefaultMaxSize, 5, faulty);
  faulty.space = 0;
  w.write("lost", now);
  faulty.space.reset();
  ASSERT_TRUE(w.truncate());
  w.write("kept", now + 1);
  EXPECT_EQ(readAll(log), "kept\n");
}

TEST_F(LogRotation, TailReadsOlderFilesWhenTheCurrentOneIsShort) {
  temp.write("app.log.2", "a\nb\nc\n");
  temp.write("app.log.1", "d\ne\nf\n");
  temp.write("app.log", "g\nh\n");
  temp.write("app.log.4", "unreachable\n");  // after a gap: not part of the chain
  EXPECT_EQ(tailLinesAcrossRotation(log, 2), (std::vector<std::string>{"g", "h"}));
  EXPECT_EQ(tailLinesAcrossRotation(log, 4), (std::vector<std::string>{"e", "f", "g", "h"}));
  EXPECT_EQ(tailLinesAcrossRotation(log, 100),
            (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h"}));
  EXPECT_TRUE(tailLinesAcrossRotation(log, 0).empty());
}

TEST_F(LogRotation, TailAcrossRotationReadsOlderFilesWhenTheCurrentOneIsMissing) {
  temp.write("app.log.1", "older\n");  // e.g. between a rotation's rename and the next line
  EXPECT_EQ(tailLinesAcrossRotation(log, 5), std::vector<std::string>{"older"});
}

// Runs followFiles on a thread until `want` lines have arrived or 20 s have passed.
class Following {
 public:
  Following(std::vector<FollowedFile> files, size_t want) : files_(std::move(files)) {
    thread_ = std::thread([this, want] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      followFiles(
          files_,
          [this](const FollowedFile&, const std::string& line) {
            std::lock_guard lock(mutex_);
            lines_.push_back(line);
          },
          [&] {
            std::lock_guard lock(mutex_);
            return lines_.size() < want && std::chrono::steady_clock::now() < deadline;
          },
          [this] { started_ = true; });
    });
    while (!started_) std::this_thread::yield();
  }
  ~Following() {
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> finish() {
    thread_.join();
    return lines_;
  }

 private:
  std::vector<FollowedFile> files_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
  std::atomic<bool> started_{false};
};

TEST_F(LogRotation, FollowingSeesEveryLineAcrossRotations) {
  LogWriter w(log, false, /*max_size=*/200, /*max_files=*/1000);
  w.write("written before following", now);
  constexpr int kLines = 3000;
  Following following({{log, "app", false}}, kLines);
  std::vector<std::string> expected;
  for (int i = 0; i < kLines; ++i) {
    expected.push_back("line " + std::to_string(i));
    w.write(expected.back(), now);
    if (i % 100 == 0) std::this_thread::yield();  // let the follower interleave
  }
  EXPECT_EQ(following.finish(), expected);
  EXPECT_TRUE(exists(log + ".50"));  // it did rotate, many times
}

TEST_F(LogRotation, FollowingReadsTheRotatedFilesItMissedWhileAway) {
  // Several rotations happen between two looks: the follower must read the old file to its
  // end, then app.log.(k-1) ... app.log.1, then the new app.log.
  LogWriter w(log, false, /*max_size=*/10, /*max_files=*/20);
  w.write("start", now);
  std::vector<FollowedFile> files{{log, "app", false}};
  std::vector<std::string> seen;
  int polls = 0;
  bool wrote = false;
  followFiles(
      files, [&](const FollowedFile&, const std::string& line) { seen.push_back(line); },
      [&] {
        if (!wrote) {  // after the first look, five rotations at once
          for (int i = 0; i < 6; ++i) w.write("burst" + std::to_string(i), now);
          wrote = true;
        }
        return ++polls < 3;
      });
  EXPECT_EQ(seen,
            (std::vector<std::string>{"burst0", "burst1", "burst2", "burst3", "burst4", "burst5"}));
}

TEST_F(LogRotation, FollowingWaitsOutARotationCaughtHalfWay) {
  // The follower looks while the writer is in the middle of a rotation: path.2 has just
  // moved to path.3 and path.1 not yet to path.2, so the walk from path.1 meets a gap before
  // the file it read last. Taking that walk as it is would skip the files beyond the gap;
  // it must wait for the rotation to end and then read every file once, oldest first.
  temp.write("app.log", "a\n");
  auto mv = [&](const std::string& from, const std::string& to) {
    ASSERT_EQ(::rename((temp.path() + "/" + from).c_str(), (temp.path() + "/" + to).c_str()), 0);
  };
  std::vector<FollowedFile> files{{log, "app", false}};
  std::vector<std::string> seen;
  int hook = 0;
  followFiles(
      files, [&](const FollowedFile&, const std::string& line) { seen.push_back(line); },
      [&] {
        switch (++hook) {
          case 1:  // three rotations (a is read), then half of a fourth
            mv("app.log", "app.log.1");
            temp.write("app.log", "b\n");
            mv("app.log.1", "app.log.2");
            mv("app.log", "app.log.1");
            temp.write("app.log", "c\n");
            mv("app.log.2", "app.log.3");
            mv("app.log.1", "app.log.2");
            mv("app.log", "app.log.1");
            temp.write("app.log", "d\n");
            mv("app.log.3", "app.log.4");
            mv("app.log.2", "app.log.3");  // path.2 is the gap now
            return true;
          case 2:  // the rest of the fourth rotation
            mv("app.log.1", "app.log.2");
            mv("app.log", "app.log.1");
            temp.write("app.log", "e\n");
            return true;
          default:
            return false;
        }
      });
  EXPECT_EQ(seen, (std::vector<std::string>{"b", "c", "d", "e"}));
}

TEST_F(LogRotation, FollowingStartsAgainAfterTruncation) {
  LogWriter w(log, false);
  w.write("a fairly long line before the flush", now);
  Following following({{log, "app", false}}, 2);
  ASSERT_TRUE(w.truncate());
  w.write("new", now);
  w.write("lines", now);
  EXPECT_EQ(following.finish(), (std::vector<std::string>{"new", "lines"}));
}

TEST_F(LogRotation, FollowingPicksUpAFileCreatedLater) {
  Following following({{log, "app", false}}, 1);
  LogWriter w(log, false);
  w.write("hello", now);
  EXPECT_EQ(following.finish(), std::vector<std::string>{"hello"});
}

}  // namespace
}  // namespace tend
