#include <gtest/gtest.h>

#include "cli/monit_screen.hpp"

namespace tend::monit {
namespace {

using nlohmann::json;

// A line's text without its SGR sequences.
std::string plain(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b') {
      while (i < text.size() && text[i] != 'm') ++i;
      continue;
    }
    out += text[i];
  }
  return out;
}

size_t columnsOf(const std::string& text) {
  size_t cols = 0;
  fitColumns(plain(text), 10000, &cols);
  return cols;
}

json sampleList() {
  return json::parse(R"([
    {"name":"api","id":1,"instance":0,"pid":42,"status":"online","restarts":2,
     "uptime_ms":65000,"cpu":1.5,"memory":10485760,"mode":"fork","instances":2},
    {"name":"api","id":1,"instance":1,"pid":43,"status":"online","restarts":0,
     "uptime_ms":65000,"cpu":0.5,"memory":10485760,"mode":"fork","instances":2},
    {"name":"job","id":2,"instance":0,"pid":0,"status":"stopped","restarts":0,
     "uptime_ms":0,"cpu":0,"memory":0,"mode":"fork"}
  ])");
}

TEST(MonitKeys, LettersArrowsAndPagesBecomeKeys) {
  KeyDecoder d;
  EXPECT_EQ(d.feed("jkrsaSqG"), (std::vector<Key>{Key::Down, Key::Up, Key::Restart, Key::Stop,
                                                  Key::Start, Key::Start, Key::Quit, Key::End}));
  EXPECT_EQ(d.feed("\x1b[A\x1b[B\x1bOA\x1b[5~\x1b[6~\x1b[H\x1b[1;5B"),
            (std::vector<Key>{Key::Up, Key::Down, Key::Up, Key::PageUp, Key::PageDown, Key::Home,
                              Key::Down}));
  EXPECT_EQ(d.feed("\x03"), std::vector<Key>{Key::Quit});
}

TEST(MonitKeys, ASequenceSplitAcrossReadsIsCompletedAndUnknownOnesIgnored) {
  KeyDecoder d;
  EXPECT_TRUE(d.feed("\x1b").empty());
  EXPECT_TRUE(d.feed("[").empty());
  EXPECT_EQ(d.feed("B"), std::vector<Key>{Key::Down});
  EXPECT_TRUE(d.feed("\x1b[15~\x1b[Z").empty());            // F5, Shift-Tab
  EXPECT_EQ(d.feed("\x1bq"), std::vector<Key>{Key::Quit});  // Esc then q
  EXPECT_TRUE(d.feed("\x1b[123456789012345678901234").empty());
  EXPECT_EQ(d.feed("j"), std::vector<Key>{Key::Down});  // an overlong sequence was dropped
}

TEST(MonitText, ControlCharactersAndBadUtf8BecomeQuestionMarks) {
  EXPECT_EQ(fitColumns("a\x1b[2Jb\tc\x7f", 100), "a?[2Jb c?");
  EXPECT_EQ(fitColumns("ok\xff\xc3", 100), "ok??");
  EXPECT_EQ(fitColumns("caf\xc3\xa9", 100), "caf\xc3\xa9");
}

TEST(MonitText, WideCharactersCountTwoColumnsAndNothingIsCutInHalf) {
  size_t cols = 0;
  EXPECT_EQ(fitColumns("日本語", 5, &cols), "日本");
  EXPECT_EQ(cols, 4u);
  EXPECT_EQ(fitColumns("abcdef", 3, &cols), "abc");
  EXPECT_EQ(cols, 3u);
}

TEST(MonitFrame, FillsExactlyTheScreenAndMarksTheSelection) {
  MonitView v;
  v.home = "/srv/tend";
  v.instances = sampleList();
  v.selected = 1;
  v.log_label = "api[1]";
  v.logs = {{"first", false}, {"boom", true}};
  v.message = {Message::Kind::Done, "restarted api"};
  auto lines = renderFrame(v, 100, 20, true);
  ASSERT_EQ(lines.size(), 20u);
  for (const auto& l : lines) {
    EXPECT_LE(l.width, 100u);
    EXPECT_EQ(columnsOf(l.text), l.width) << l.text;
  }
  EXPECT_NE(plain(lines[0].text).find("3 instances, 2 online"), std::string::npos);
  EXPECT_NE(plain(lines[1].text).find("restarts"), std::string::npos);
  EXPECT_EQ(plain(lines[2].text).rfind("  1   api[0]", 0), 0u) << plain(lines[2].text);
  EXPECT_EQ(plain(lines[3].text).rfind("> 1   api[1]", 0), 0u) << plain(lines[3].text);
  EXPECT_NE(lines[3].text.find("\x1b[7m"), std::string::npos);  // reverse video
  EXPECT_EQ(lines[3].width, 100u);                              // the highlight spans the row
  EXPECT_NE(plain(lines[4].text).find("stopped"), std::string::npos);
  EXPECT_EQ(plain(lines[4].text).find("0.0%"), std::string::npos);  // no cpu when not running
  EXPECT_NE(plain(lines[5].text).find("api[1] logs"), std::string::npos);
  EXPECT_EQ(plain(lines[6].text), "first");  // the tail, oldest first, from the top
  EXPECT_EQ(plain(lines[7].text), "boom");
  EXPECT_EQ(lines[8].width, 0u);
  EXPECT_NE(lines[7].text.find("\x1b[31m"), std::string::npos);  // err lines in red
  EXPECT_NE(plain(lines[19].text).find("restarted api"), std::string::npos);
  EXPECT_NE(plain(lines[19].text).find("q quit"), std::string::npos);
}

TEST(MonitFrame, WithoutColourThereAreNoColourCodes) {
  MonitView v;
  v.instances = sampleList();
  v.logs = {{"boom", true}};
  for (const auto& l : renderFrame(v, 80, 12, false)) {
    EXPECT_EQ(l.text.find("\x1b[3"), std::string::npos) << l.text;
    EXPECT_EQ(l.text.find("\x1b[9"), std::string::npos) << l.text;
  }
}

TEST(MonitFrame, ANarrowOrShortTerminalIsClippedNotWrapped) {
  MonitView v;
  v.instances = sampleList();
  v.logs = {{std::string(500, 'x'), false}};
  for (size_t width : {1u, 10u, 33u}) {
    for (size_t height : {1u, 2u, 3u, 6u}) {
      auto lines = renderFrame(v, width, height, true);
      ASSERT_EQ(lines.size(), height);
      for (const auto& l : lines) EXPECT_LE(columnsOf(l.text), width);
      // The status line survives any height.
      if (width >= 10) {
        EXPECT_NE(plain(lines.back().text).find("↑↓"), std::string::npos);
      }
    }
  }
}

TEST(MonitFrame, TheTableScrollsToKeepTheSelectionVisible) {
  MonitView v;
  for (int i = 0; i < 30; ++i)
    v.instances.push_back({{"name", "app" + std::to_string(i)},
                           {"id", i},
                           {"instance", 0},
                           {"status", "online"},
                           {"pid", 100 + i}});
  v.selected = 25;
  auto lines = renderFrame(v, 80, 14, false);  // room for 5 table rows
  std::string table;
  for (const auto& l : lines) table += plain(l.text) + "\n";
  EXPECT_NE(table.find("> 25  app25"), std::string::npos) << table;
  EXPECT_EQ(table.find("app20 "), std::string::npos) << table;
  EXPECT_EQ(logRows(30, 14), 5u);
}

TEST(MonitFrame, AnUnreachableDaemonAndAnEmptyListAreSaidSo) {
  MonitView v;
  v.error = "no daemon is running";
  auto lines = renderFrame(v, 120, 10, false);
  EXPECT_NE(plain(lines[2].text).find("cannot reach the daemon: no daemon is running"),
            std::string::npos);
  v.error.clear();
  lines = renderFrame(v, 120, 10, false);
  EXPECT_NE(plain(lines[2].text).find("no apps"), std::string::npos);
}

}  // namespace
}  // namespace tend::monit

namespace tend::monit {
namespace {

TEST(MonitSystem, OverviewFromProcFiles) {
  const std::string loadavg = "0.52 0.40 0.31 1/123 4567\n";
  const std::string meminfo =
      "MemTotal:        8388608 kB\nMemFree:         1048576 kB\nMemAvailable:    4194304 kB\n";
  EXPECT_EQ(systemOverview(loadavg, meminfo, 4),
            "load 0.52 0.40 0.31 · mem 4.0gb / 8.0gb · 4 cores");
  EXPECT_EQ(systemOverview("", meminfo, 1), "mem 4.0gb / 8.0gb · 1 core");
  EXPECT_EQ(systemOverview(loadavg, "garbage", 0), "load 0.52 0.40 0.31");
  EXPECT_EQ(systemOverview("x y", "", 0), "");
}

TEST(MonitSystem, TheOverviewFollowsTheTitle) {
  MonitView v;
  v.home = "/h";
  v.system = "load 1.00 1.00 1.00 · 2 cores";
  auto frame = renderFrame(v, 200, 10, false);
  ASSERT_FALSE(frame.empty());
  EXPECT_NE(plain(frame[0].text).find("│  load 1.00 1.00 1.00 · 2 cores"), std::string::npos)
      << frame[0].text;
}

TEST(MonitInterval, SecondsOrADurationFrom100msTo1h) {
  EXPECT_EQ(parseRefreshInterval("2").value_or(std::chrono::milliseconds(0)).count(), 2000);
  EXPECT_EQ(parseRefreshInterval("0.5").value_or(std::chrono::milliseconds(0)).count(), 500);
  EXPECT_EQ(parseRefreshInterval("250ms").value_or(std::chrono::milliseconds(0)).count(), 250);
  EXPECT_EQ(parseRefreshInterval("1h").value_or(std::chrono::milliseconds(0)).count(), 3600000);
  for (const char* bad : {"0", "0.05", "50ms", "2h", "", ".", "1.2.3", "soon", "-1", "0.0001"}) {
    auto r = parseRefreshInterval(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().find("--interval takes seconds"), std::string::npos) << r.error();
  }
}

}  // namespace
}  // namespace tend::monit
