#include "cli/monit_screen.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "cli/table.hpp"
#include "common/duration.hpp"
#include "common/text.hpp"

namespace tend::monit {
namespace {

constexpr const char* kReverse = "\x1b[7m";

// Columns a code point takes: 0 for combining marks and zero-width characters, 2 for East
// Asian wide and fullwidth forms and most emoji, 1 otherwise (after Markus Kuhn's wcwidth;
// no locale needed).
size_t charColumns(uint32_t cp) {
  struct Range {
    uint32_t first, last;
  };
  static constexpr Range kZero[] = {
      {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F},
      {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
      {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF}};
  static constexpr Range kWide[] = {{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},
                                    {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
                                    {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},
                                    {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
                                    {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  auto in = [cp](const auto& ranges) {
    return std::any_of(std::begin(ranges), std::end(ranges),
                       [cp](const Range& r) { return cp >= r.first && cp <= r.last; });
  };
  if (in(kZero)) return 0;
  if (in(kWide)) return 2;
  return 1;
}

// Builds one row of at most `width` columns. `base` (reverse video for the selected row)
// stays on across the row's coloured pieces.
class LineBuilder {
 public:
  LineBuilder(size_t width, bool color, const char* base = nullptr)
      : width_(width), color_(color), base_(base) {
    if (base_) text_ += base_;
  }

  // Appends `text`, clipped to the room left; `sgr` colours it when colours are on.
  void add(std::string_view text, const char* sgr = nullptr) {
    size_t cols = 0;
    std::string fitted = fitColumns(text, width_ - used_, &cols);
    if (fitted.empty()) return;
    bool styled = sgr && color_;
    if (styled) text_ += sgr;
    text_ += fitted;
    if (styled) {
      text_ += ansi::kReset;
      if (base_) text_ += base_;
    }
    used_ += cols;
  }
  // Appends `text` in a column `cell` wide (one space of it kept as a gap).
  void cell(std::string_view text, size_t cell, const char* sgr = nullptr) {
    size_t start = used_;
    add(fitColumns(text, cell > 0 ? cell - 1 : 0), sgr);
    padTo(start + cell);
  }
  void padTo(size_t column) {
    column = std::min(column, width_);
    if (column > used_) {
      text_.append(column - used_, ' ');
      used_ = column;
    }
  }
  ScreenLine done() {
    if (base_) text_ += ansi::kReset;
    return {std::move(text_), used_};
  }

 private:
  size_t width_;
  bool color_;
  const char* base_;
  std::string text_;
  size_t used_ = 0;
};

const char* statusColor(const std::string& status) {
  if (status == "online") return ansi::kGreen;
  if (status == "errored") return ansi::kRed;
  if (status == "stopped") return ansi::kGrey;
  return ansi::kYellow;
}

size_t tableRows(size_t instances, size_t height) {
  size_t avail = height > 4 ? height - 4 : 0;  // title, header, log rule, status line
  size_t wanted = std::max<size_t>(1, instances);
  return std::min(wanted, std::max<size_t>(1, avail - avail / 2));
}

struct Columns {
  size_t id = 4, name = 5, status = 9, pid = 8, cpu = 7, mem = 10, restarts = 9, uptime = 7;
};

void addRow(LineBuilder& b, const Columns& c, const char* marker,
            const std::vector<std::string>& cells, const char* status_color) {
  b.add(marker);
  b.cell(cells[0], c.id);
  b.cell(cells[1], c.name, ansi::kCyan);
  b.cell(cells[2], c.status, status_color);
  b.cell(cells[3], c.pid);
  b.cell(cells[4], c.cpu);
  b.cell(cells[5], c.mem);
  b.cell(cells[6], c.restarts);
  b.add(cells[7]);
}

}  // namespace

std::vector<Key> KeyDecoder::feed(std::string_view bytes) {
  std::vector<Key> keys;
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    if (!pending_.empty()) {
      pending_ += ch;
      if (pending_.size() == 2) {
        if (c == '[' || c == 'O') continue;
        pending_.clear();  // ESC then a plain key (Alt+key, or Esc pressed alone): the key
      } else {
        bool ss3 = pending_[1] == 'O';
        if (ss3 || (c >= 0x40 && c <= 0x7E)) {
          std::string params = pending_.substr(2, pending_.size() - 3);
          std::string first = params.substr(0, params.find(';'));
          pending_.clear();
          switch (c) {
            case 'A':
              keys.push_back(Key::Up);
              break;
            case 'B':
              keys.push_back(Key::Down);
              break;
            case 'H':
              keys.push_back(Key::Home);
              break;
            case 'F':
              keys.push_back(Key::End);
              break;
            case '~':
              if (first == "5") keys.push_back(Key::PageUp);
              if (first == "6") keys.push_back(Key::PageDown);
              if (first == "1" || first == "7") keys.push_back(Key::Home);
              if (first == "4" || first == "8") keys.push_back(Key::End);
              break;
            default:
              break;  // a key monit has no use for
          }
        } else if (c < 0x20 || c > 0x7E || pending_.size() > 16) {
          pending_.clear();  // not a sequence after all
        }
        continue;
      }
    }
    switch (c) {
      case 0x1B:
        pending_.assign(1, '\x1b');  // not `= "\x1b"`: GCC 12 -Wstringop-overflow false positive
        break;
      case 'k':
        keys.push_back(Key::Up);
        break;
      case 'j':
        keys.push_back(Key::Down);
        break;
      case 'g':
        keys.push_back(Key::Home);
        break;
      case 'G':
        keys.push_back(Key::End);
        break;
      case 'r':
        keys.push_back(Key::Restart);
        break;
      case 's':
        keys.push_back(Key::Stop);
        break;
      case 'a':
      case 'S':
        keys.push_back(Key::Start);
        break;
      case 'q':
      case 'Q':
      case 0x03:
        keys.push_back(Key::Quit);
        break;  // Ctrl-C, should the terminal pass it
      case 0x0C:
        keys.push_back(Key::Redraw);
        break;  // Ctrl-L
      default:
        break;
    }
  }
  return keys;
}

std::string fitColumns(std::string_view text, size_t max_columns, size_t* columns) {
  std::string out;
  size_t used = 0;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t len = decodeUtf8(text, i, cp);
    std::string_view piece = text.substr(i, len);
    size_t w = 1;
    if (len == 0) {
      piece = "?";
      len = 1;
    } else if (cp == '\t') {
      piece = " ";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      piece = "?";
    } else {
      w = charColumns(cp);
    }
    if (used + w > max_columns) break;
    out += piece;
    used += w;
    i += len;
  }
  if (columns) *columns = used;
  return out;
}

std::string systemOverview(std::string_view loadavg, std::string_view meminfo, unsigned cores) {
  std::vector<std::string> parts;
  {
    // "0.52 0.40 0.31 1/123 4567"
    std::vector<std::string> words = split(std::string(trim(loadavg)), ' ');
    if (words.size() >= 3) {
      bool numbers = std::all_of(words.begin(), words.begin() + 3, [](const std::string& w) {
        return !w.empty() && w.find_first_not_of("0123456789.") == std::string::npos;
      });
      if (numbers) parts.push_back(fmt::format("load {} {} {}", words[0], words[1], words[2]));
    }
  }
  {
    // "MemTotal:       8049140 kB" ... "MemAvailable:   5012345 kB"
    auto field = [&](std::string_view name) -> std::optional<uint64_t> {
      size_t at = meminfo.find(name);
      while (at != std::string_view::npos && at != 0 && meminfo[at - 1] != '\n')
        at = meminfo.find(name, at + 1);
      if (at == std::string_view::npos) return std::nullopt;
      std::string_view rest = meminfo.substr(at + name.size());
      size_t digits = rest.find_first_of("0123456789");
      if (digits == std::string_view::npos || rest.substr(0, digits).find('\n') != rest.npos)
        return std::nullopt;
      uint64_t kb = 0;
      for (size_t i = digits; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i) {
        if (kb > (UINT64_MAX - 9) / 10) return std::nullopt;
        kb = kb * 10 + static_cast<uint64_t>(rest[i] - '0');
      }
      return kb * 1024;
    };
    auto total = field("MemTotal:");
    auto available = field("MemAvailable:");
    if (total && available && *available <= *total)
      parts.push_back(
          fmt::format("mem {} / {}", humanSize(*total - *available), humanSize(*total)));
  }
  if (cores > 0) parts.push_back(fmt::format("{} core{}", cores, cores == 1 ? "" : "s"));
  return join(parts, " · ");
}

std::expected<std::chrono::milliseconds, std::string> parseRefreshInterval(std::string_view text) {
  using std::chrono::milliseconds;
  const auto bad = [&](std::string_view why) {
    return std::unexpected(fmt::format(
        "--interval takes seconds (2, 0.5) or a duration (500ms, 2s) from 100ms to 1h; '{}' {}",
        text, why));
  };
  milliseconds ms{0};
  if (!text.empty() && text.find_first_not_of("0123456789.") == std::string_view::npos) {
    // Seconds, as `watch -n` takes them: at most 3 decimals, one dot.
    size_t dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
    if ((whole.empty() && frac.empty()) || frac.find('.') != std::string_view::npos ||
        frac.size() > 3 || whole.size() > 6)
      return bad("is not a number of seconds");
    int64_t value = 0;
    for (char c : whole) value = value * 10 + (c - '0');
    int64_t thousandths = 0;
    for (size_t i = 0; i < 3; ++i)
      thousandths = thousandths * 10 + (i < frac.size() ? frac[i] - '0' : 0);
    ms = milliseconds(value * 1000 + thousandths);
  } else {
    auto d = parseDuration(text);
    if (!d) return bad("is neither");
    ms = std::chrono::duration_cast<milliseconds>(*d);
  }
  if (ms < milliseconds(100)) return bad("is shorter than 100ms");
  if (ms > std::chrono::hours(1)) return bad("is longer than 1h");
  return ms;
}

size_t logRows(size_t instances, size_t height) {
  size_t avail = height > 4 ? height - 4 : 0;
  size_t table = tableRows(instances, height);
  return avail > table ? avail - table : 0;
}

std::vector<ScreenLine> renderFrame(const MonitView& v, size_t width, size_t height, bool color) {
  std::vector<ScreenLine> out;
  if (height == 0) return out;
  const nlohmann::json empty = nlohmann::json::array();
  const nlohmann::json& list = v.instances.is_array() ? v.instances : empty;
  size_t n = v.error.empty() ? list.size() : 0;
  size_t table_rows = tableRows(n, height);
  size_t log_rows = logRows(n, height);

  size_t online = 0;
  for (const auto& i : list)
    if (i.value("status", "") == "online") ++online;
  LineBuilder title(width, color, ansi::kBold);
  title.add(fmt::format(" tend monit · {} · {} instance{}, {} online", v.home, list.size(),
                        list.size() == 1 ? "" : "s", online));
  if (!v.system.empty()) title.add("  │  " + v.system);
  out.push_back(title.done());

  Columns c;
  for (const auto& i : list) {
    size_t cols = 0;
    fitColumns(instanceLabel(i), 40, &cols);
    c.name = std::max(c.name, cols + 1);
  }
  LineBuilder header(width, color, ansi::kBold);
  addRow(header, c, "  ", {"id", "name", "status", "pid", "cpu", "mem", "restarts", "uptime"},
         nullptr);
  out.push_back(header.done());

  size_t first_row = out.size();
  if (!v.error.empty()) {
    LineBuilder b(width, color);
    b.add("  cannot reach the daemon: " + v.error + " (retrying)", ansi::kRed);
    out.push_back(b.done());
  } else if (n == 0) {
    LineBuilder b(width, color);
    b.add("  no apps: start some with `tend start <config|script|command>`", ansi::kGrey);
    out.push_back(b.done());
  } else {
    size_t selected = std::min(v.selected, n - 1);
    size_t top = selected >= table_rows ? selected - table_rows + 1 : 0;
    for (size_t r = top; r < n && r < top + table_rows; ++r) {
      const auto& i = list[r];
      bool is_selected = r == selected;
      LineBuilder b(width, color, is_selected ? kReverse : nullptr);
      int pid = i.value("pid", 0);
      std::string status = i.value("status", "");
      const InstanceFigures figures = instanceFigures(i);
      addRow(b, c, is_selected ? "> " : "  ",
             {std::to_string(i.value("id", 0)), instanceLabel(i), status,
              pid ? std::to_string(pid) : "-", figures.cpu, figures.memory,
              std::to_string(i.value("restarts", 0)), figures.uptime},
             statusColor(status));
      if (is_selected) b.padTo(width);
      out.push_back(b.done());
    }
  }
  while (out.size() < first_row + table_rows) out.push_back({});

  LineBuilder rule(width, color);
  std::string label =
      v.log_label.empty() ? std::string("─ logs ") : "─ " + v.log_label + " logs (out and err) ";
  size_t label_cols = 0;
  fitColumns(label, width, &label_cols);
  std::string line = label;
  for (size_t k = label_cols; k < width; ++k) line += "─";
  rule.add(line, ansi::kGrey);
  out.push_back(rule.done());

  size_t shown = std::min(log_rows, v.logs.size());
  for (size_t k = v.logs.size() - shown; k < v.logs.size(); ++k) {
    LineBuilder b(width, color);
    b.add(v.logs[k].text, v.logs[k].err ? ansi::kRed : nullptr);
    out.push_back(b.done());
  }
  for (size_t k = shown; k < log_rows; ++k) out.push_back({});

  LineBuilder status(width, color);
  const char* message_color = nullptr;
  switch (v.message.kind) {
    case Message::Kind::Busy:
      message_color = ansi::kYellow;
      break;
    case Message::Kind::Done:
      message_color = ansi::kGreen;
      break;
    case Message::Kind::Failed:
      message_color = ansi::kRed;
      break;
    case Message::Kind::None:
      break;
  }
  if (!v.message.text.empty()) {
    status.add(" " + v.message.text, message_color);
    status.add("  │");
  }
  status.add(" ↑↓/jk select  r restart  s stop  a start  q quit", ansi::kGrey);
  out.push_back(status.done());

  if (out.size() > height) {  // a very short terminal: keep the top and the status line
    ScreenLine last = out.back();
    out.resize(height - 1);
    out.push_back(std::move(last));
  }
  return out;
}

}  // namespace tend::monit
