#pragma once
// The pure half of `tend monit`: keystrokes into keys, and the daemon's list plus a log tail
// into the lines of one frame. No terminal I/O here (that is monit.cpp), so unit tests check
// frames and key decoding without a terminal.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace tend::monit {

enum class Key { Up, Down, PageUp, PageDown, Home, End, Restart, Stop, Start, Quit, Redraw };

// Turns the bytes a terminal sends into keys. An escape sequence split across two reads is
// completed by the next feed; unknown sequences and other bytes are ignored.
class KeyDecoder {
 public:
  std::vector<Key> feed(std::string_view bytes);

 private:
  std::string pending_;  // an unfinished escape sequence (bounded)
};

// `text` made safe and short enough for a terminal line: control characters (including ESC,
// so an app's log cannot move the cursor) and invalid UTF-8 become '?', tabs a space, and
// the result takes at most `max_columns` columns (wide characters count two, combining
// marks none). `columns` receives the width taken.
std::string fitColumns(std::string_view text, size_t max_columns, size_t* columns = nullptr);

struct LogLine {
  std::string text;
  bool err = false;  // from the err log
};

struct Message {
  enum class Kind { None, Busy, Done, Failed };
  Kind kind = Kind::None;
  std::string text;
};

// Everything one frame shows.
struct MonitView {
  std::string home;    // TEND_HOME, in the title
  std::string system;  // the machine at a glance (systemOverview), after the title
  nlohmann::json instances = nlohmann::json::array();  // the daemon's `list` reply
  size_t selected = 0;                                 // index into instances
  std::string error;          // the daemon cannot be reached: shown in the table's place
  std::string log_label;      // whose logs: "api[0]"
  std::vector<LogLine> logs;  // oldest first
  Message message;            // the last action's outcome
};

// One terminal row: its bytes (SGR sequences included) and the columns it covers.
struct ScreenLine {
  std::string text;
  size_t width = 0;
  bool operator==(const ScreenLine&) const = default;
};

// Exactly `height` rows, none wider than `width`: a title, the instance table (scrolled to
// keep the selection visible, the selected row marked '>' and in reverse video), the
// selected instance's log tail, and a status line with the last action's outcome and the
// keys. `color` adds status colours; reverse video and bold are used either way.
std::vector<ScreenLine> renderFrame(const MonitView& view, size_t width, size_t height, bool color);

// The machine in one line, from the text of /proc/loadavg and /proc/meminfo and the number
// of cores: "load 0.52 0.40 0.31 · mem 3.1gb / 7.8gb · 4 cores". A part whose file cannot
// be read (empty or malformed text) is left out; "" when nothing is known.
std::string systemOverview(std::string_view loadavg, std::string_view meminfo, unsigned cores);

// `tend monit --interval`: seconds as a number ("2", "0.5") or a duration ("500ms", "2s"),
// from 100ms to 1h; otherwise an error for the person who typed it.
std::expected<std::chrono::milliseconds, std::string> parseRefreshInterval(std::string_view text);

// How many log lines a frame of `height` rows has room for with `instances` table rows.
size_t logRows(size_t instances, size_t height);

}  // namespace tend::monit
