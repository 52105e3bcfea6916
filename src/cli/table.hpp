#pragma once
// Tables and colours for people. Colours only when the output is a terminal and NO_COLOR
// is unset (https://no-color.org), never in --json output.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tend {

bool useColor(int fd);

struct Cell {
  std::string text;
  const char* color = nullptr;  // an ANSI SGR sequence such as "\x1b[32m", or none
};

// A box-drawn table; column widths fit the widest cell (colour codes not counted).
std::string renderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<Cell>>& rows, bool color);

// "api[1]" for an instance of an app that has several, "api" for the only one.
std::string instanceLabel(const nlohmann::json& instance);

// An instance's uptime, cpu and memory as the tables show them: "-" for what is not known
// (not running, or not sampled yet).
struct InstanceFigures {
  std::string uptime = "-";
  std::string cpu = "-";
  std::string memory = "-";
};
InstanceFigures instanceFigures(const nlohmann::json& instance);

// The `tend list` table from the daemon's list reply.
std::string renderAppTable(const nlohmann::json& instances, bool color);

namespace ansi {
inline constexpr const char* kGreen = "\x1b[32m";
inline constexpr const char* kRed = "\x1b[31m";
inline constexpr const char* kYellow = "\x1b[33m";
inline constexpr const char* kGrey = "\x1b[90m";
inline constexpr const char* kBold = "\x1b[1m";
inline constexpr const char* kCyan = "\x1b[36m";
inline constexpr const char* kReset = "\x1b[0m";
}  // namespace ansi

}  // namespace tend
