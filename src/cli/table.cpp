#include "cli/table.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/duration.hpp"
#include "common/text.hpp"

namespace tend {
namespace {

// Display width of UTF-8 text: counts code points, not bytes.
size_t displayWidth(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

std::string repeat(const char* piece, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += piece;
  return out;
}

const char* statusColor(const std::string& status) {
  if (status == "online") return ansi::kGreen;
  if (status == "errored") return ansi::kRed;
  if (status == "stopped") return ansi::kGrey;
  return ansi::kYellow;
}

}  // namespace

bool useColor(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0) return false;
  return ::isatty(fd) == 1;
}

std::string renderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<Cell>>& rows, bool color) {
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) widths[c] = displayWidth(headers[c]);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c)
      widths[c] = std::max(widths[c], displayWidth(row[c].text));

  auto rule = [&](const char* left, const char* mid, const char* right) {
    std::string out = left;
    for (size_t c = 0; c < widths.size(); ++c) {
      out += repeat("─", widths[c] + 2);
      out += c + 1 < widths.size() ? mid : right;
    }
    return out + "\n";
  };
  auto line = [&](const std::vector<Cell>& cells, bool header) {
    std::string out = "│";
    for (size_t c = 0; c < widths.size(); ++c) {
      const Cell empty;
      const Cell& cell = c < cells.size() ? cells[c] : empty;
      std::string text = cell.text;
      std::string pad(widths[c] - displayWidth(text), ' ');
      const char* col = header ? ansi::kBold : cell.color;
      out += " ";
      if (color && col)
        out += std::string(col) + text + ansi::kReset;
      else
        out += text;
      out += pad + " │";
    }
    return out + "\n";
  };

  std::vector<Cell> header_cells;
  for (const auto& h : headers) header_cells.push_back({h});
  std::string out = rule("┌", "┬", "┐");
  out += line(header_cells, true);
  out += rule("├", "┼", "┤");
  for (const auto& row : rows) out += line(row, false);
  out += rule("└", "┴", "┘");
  return out;
}

std::string instanceLabel(const nlohmann::json& i) {
  std::string name = i.value("name", "");
  if (i.value("instance", 0) > 0 || i.value("instances", 1) > 1)
    name += "[" + std::to_string(i.value("instance", 0)) + "]";
  return name;
}

InstanceFigures instanceFigures(const nlohmann::json& i) {
  InstanceFigures f;
  if (!i.value("pid", 0)) return f;
  // Whole seconds, as pm2 ls shows them: "0ms" for an instance just spawned reads as a
  // fault. CPU and memory stay "-" until the first sample of the process.
  uint64_t uptime = i.value("uptime_ms", uint64_t{0});
  f.uptime = uptime < 1000 ? "0s" : humanDuration(Duration(uptime));
  if (uint64_t memory = i.value("memory", uint64_t{0}); memory > 0) {
    f.cpu = fmt::format("{:.1f}%", i.value("cpu", 0.0));
    f.memory = humanSize(memory);
  }
  return f;
}

std::string renderAppTable(const nlohmann::json& instances, bool color) {
  // A group column only once some app has a group.
  const bool groups = std::ranges::any_of(instances, [](const nlohmann::json& i) {
    return i.contains("group") && i["group"].is_string();
  });
  std::vector<std::vector<Cell>> rows;
  for (const auto& i : instances) {
    std::string name = instanceLabel(i);
    std::string status = i.value("status", "");
    int pid = i.value("pid", 0);
    auto port = i.contains("port") && i["port"].is_number() ? std::to_string(i["port"].get<int>())
                                                            : std::string("-");
    const InstanceFigures figures = instanceFigures(i);
    rows.push_back(std::vector<Cell>{
        {std::to_string(i.value("id", 0))},
        {name, ansi::kCyan},
        {i.value("mode", "fork")},
        {pid ? std::to_string(pid) : "-"},
        {status, statusColor(status)},
        {std::to_string(i.value("restarts", 0))},
        {figures.uptime},
        {figures.cpu},
        {figures.memory},
        {port},
    });
    if (groups) {
      const bool has = i.contains("group") && i["group"].is_string();
      rows.back().insert(rows.back().begin() + 2, Cell{has ? i["group"].get<std::string>() : "-"});
    }
  }
  std::vector<std::string> headers = {"id", "name",   "mode", "pid", "status",
                                      "↺",  "uptime", "cpu",  "mem", "port"};
  if (groups) headers.insert(headers.begin() + 2, "group");
  return renderTable(headers, rows, color);
}

}  // namespace tend
