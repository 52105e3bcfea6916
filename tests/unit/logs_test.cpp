#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "logs/json_line.hpp"
#include "logs/line_splitter.hpp"
#include "logs/log_reader.hpp"
#include "logs/log_writer.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

std::vector<std::string> splitAll(LineSplitter& s, const std::vector<std::string>& chunks,
                                  bool finish = false) {
  std::vector<std::string> lines;
  auto sink = [&](std::string_view l) { lines.emplace_back(l); };
  for (const auto& c : chunks) s.feed(c, sink);
  if (finish) s.finish(sink);
  return lines;
}

TEST(LineSplitter, JoinsLinesSplitAcrossReads) {
  LineSplitter s;
  EXPECT_EQ(splitAll(s, {"hel", "lo\nwor", "ld\n", "x"}),
            (std::vector<std::string>{"hello", "world"}));
  EXPECT_EQ(s.pending(), 1u);
}

TEST(LineSplitter, KeepsEmptyLinesAndBinaryBytes) {
  LineSplitter s;
  std::string binary("a\0b\xff", 4);
  EXPECT_EQ(splitAll(s, {"\n\n" + binary + "\n"}), (std::vector<std::string>{"", "", binary}));
}

TEST(LineSplitter, CutsOverlongLinesIntoBoundedPiecesWithoutLosingBytes) {
  LineSplitter s(8);
  auto lines = splitAll(s, {"0123456789abcdefXYZ\nshort\n"});
  EXPECT_EQ(lines, (std::vector<std::string>{"01234567", "89abcdef", "XYZ", "short"}));
  EXPECT_LE(s.pending(), 8u);
}

TEST(LineSplitter, ALineOfExactlyTheLimitIsOneLine) {
  LineSplitter s(4);
  EXPECT_EQ(splitAll(s, {"abcd\n"}), std::vector<std::string>{"abcd"});
}

// Found by fuzz/logs_line_splitter_fuzz: a line that filled its last piece exactly was
// followed by an empty line when its newline came in a later read.
TEST(LineSplitter, ALineThatFillsItsLastPieceEndsAtItsNewlineWhateverTheReads) {
  LineSplitter a(4);
  EXPECT_EQ(splitAll(a, {"abcd", "\n"}), std::vector<std::string>{"abcd"});
  LineSplitter b(4);
  EXPECT_EQ(splitAll(b, {"abcdefgh", "\nx\n"}), (std::vector<std::string>{"abcd", "efgh", "x"}));
  LineSplitter c(1);
  EXPECT_EQ(splitAll(c, {"\x8a\xcb", "\n", "\n"}), (std::vector<std::string>{"\x8a", "\xcb", ""}));
  EXPECT_EQ(c.pending(), 0u);
}

TEST(LineSplitter, FinishPassesOnAnUnterminatedLastLine) {
  LineSplitter s;
  EXPECT_EQ(splitAll(s, {"a\nb"}, true), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.pending(), 0u);
}

class LogFiles : public ::testing::Test {
 protected:
  tend::testing::TempDir temp;
  const std::string dir = temp.path();
};

TEST_F(LogFiles, WriterPrefixesUtcTimestamps) {
  LogWriter w(dir + "/a.log", true);
  w.write("hello", 1'763'768'400'123);  // 2025-11-21T23:40:00.123Z
  std::ifstream in(dir + "/a.log");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "2025-11-21T23:40:00.123Z hello");
  EXPECT_TRUE(w.lastError().empty());
}

TEST_F(LogFiles, WriterWithoutTimestampsWritesTheLineAsIs) {
  LogWriter w(dir + "/a.log", false);
  w.write("plain", 0);
  std::ifstream in(dir + "/a.log");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "plain");
}

TEST_F(LogFiles, AJsonWriterWritesOneObjectALine) {
  LogWriter w(dir + "/a.log", false);  // the time is there whatever `timestamps` says
  w.setJson("web", 2, "err");
  w.write("said \"hi\"\tand \xff left", 1'763'768'400'123);
  std::ifstream in(dir + "/a.log");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, R"({"time":"2025-11-21T23:40:00.123Z","app":"web","instance":2,"stream":"err",)"
                  R"("message":"said \"hi\"\tand )"
                  "\xEF\xBF\xBD"
                  R"( left"})");
  auto record = parseJsonLine(line);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->time, "2025-11-21T23:40:00.123Z");
  EXPECT_EQ(record->app, "web");
  EXPECT_EQ(record->instance, 2);
  EXPECT_EQ(record->stream, "err");
  EXPECT_EQ(record->message, "said \"hi\"\tand \xEF\xBF\xBD left");
}

TEST(JsonLogLines, AreShownAsTimeAndMessageAndOtherLinesAsTheyAre) {
  EXPECT_EQ(displayLogLine(R"({"time":"2025-11-21T23:40:00.123Z","app":"web","instance":0,)"
                           R"("stream":"out","message":"ready"})"),
            "2025-11-21T23:40:00.123Z ready");
  EXPECT_EQ(displayLogLine("2025-11-21T23:40:00.123Z plain text"),
            "2025-11-21T23:40:00.123Z plain text");
  // An app printing JSON of its own is left alone.
  EXPECT_EQ(displayLogLine(R"({"level":"info","msg":"x"})"), R"({"level":"info","msg":"x"})");
  EXPECT_EQ(displayLogLine(R"({"time":"broken)"), R"({"time":"broken)");
  EXPECT_FALSE(parseJsonLine(R"({"time":"t","message":3})"));
}

TEST_F(LogFiles, WriterReportsAFileItCannotOpenAndKeepsGoing) {
  LogWriter w(dir + "/missing-dir/a.log", false);
  w.write("x", 0);
  EXPECT_NE(w.lastError().find("cannot open"), std::string::npos);
}

TEST_F(LogFiles, TailReturnsTheLastCompleteLines) {
  std::string path = dir + "/t.log";
  std::ofstream(path) << "one\ntwo\nthree\nfour\npartial";
  EXPECT_EQ(tailLines(path, 2), (std::vector<std::string>{"three", "four"}));
  EXPECT_EQ(tailLines(path, 10), (std::vector<std::string>{"one", "two", "three", "four"}));
  EXPECT_TRUE(tailLines(path, 0).empty());
  EXPECT_TRUE(tailLines(dir + "/none.log", 5).empty());
}

TEST_F(LogFiles, TailOfAHugeFileReadsOnlyItsEnd) {
  std::string path = dir + "/big.log";
  {
    std::ofstream out(path);
    for (int i = 0; i < 200000; ++i) out << "line " << i << "\n";
  }
  EXPECT_EQ(tailLines(path, 3),
            (std::vector<std::string>{"line 199997", "line 199998", "line 199999"}));
}

TEST_F(LogFiles, TailKeepsEmptyLines) {
  std::string path = dir + "/e.log";
  std::ofstream(path) << "\n\nx\n";
  EXPECT_EQ(tailLines(path, 3), (std::vector<std::string>{"", "", "x"}));
}

}  // namespace
}  // namespace tend

namespace tend {

TEST(LogReader, LinesFromSeveralFilesSortByTheTimeTheyWereWritten) {
  std::vector<std::string> lines = {
      "2026-11-21T23:40:00.100Z out 1", "2026-11-21T23:40:00.300Z out 2",
      "2026-11-21T23:40:00.200Z err 1", "2026-11-21T23:40:00.400Z err 2",
      "2026-11-21T23:40:00.400Z out 3",
  };
  std::stable_sort(lines.begin(), lines.end(), writtenBefore);
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "2026-11-21T23:40:00.100Z out 1", "2026-11-21T23:40:00.200Z err 1",
                       "2026-11-21T23:40:00.300Z out 2", "2026-11-21T23:40:00.400Z err 2",
                       "2026-11-21T23:40:00.400Z out 3"}));
  EXPECT_EQ(lineTime("2026-11-21T23:40:00.100Z hello"), "2026-11-21T23:40:00.100Z");
  // JSON lines (logs.format: json) sort among text lines by the same time.
  EXPECT_EQ(lineTime(R"({"time":"2026-11-21T23:40:00.250Z","app":"a","message":"x"})"),
            "2026-11-21T23:40:00.250Z");
  EXPECT_TRUE(writtenBefore(R"({"time":"2026-11-21T23:40:00.250Z","message":"x"})",
                            "2026-11-21T23:40:00.300Z out 2"));
}

TEST(LogReader, LinesWithoutTimestampsKeepTheirOrder) {
  // timestamps: false. Sorting by text would put "b" before "z" and scramble the log.
  std::vector<std::string> lines = {"z first", "b second", "2026 is not a stamp", "a fourth"};
  const auto before = lines;
  std::stable_sort(lines.begin(), lines.end(), writtenBefore);
  EXPECT_EQ(lines, before);
  EXPECT_EQ(lineTime("2026-11-21 23:40:00.100Z x"), "");
  EXPECT_EQ(lineTime("short"), "");
}

}  // namespace tend
