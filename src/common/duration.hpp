#pragma once
// Strict parsing and printing of the durations ("100ms", "5m") and sizes ("512M") that
// configs and the CLI accept. A bare number, an unknown unit, a sign, a fraction or an
// overflow is an error with a message meant for a person.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace tend {

// Units: ms s m h d. Several parts may follow each other: "1m30s".
std::expected<Duration, std::string> parseDuration(std::string_view text);
// Units: (none = bytes) K M G, each a power of 1024; "B" may follow ("512MB").
std::expected<uint64_t, std::string> parseSize(std::string_view text);

// The shortest exact spelling: 1500ms -> "1500ms", 60000ms -> "1m", 0 -> "0ms".
std::string formatDuration(Duration d);
// For people, in the largest whole unit, as PM2 shows uptimes: "850ms", "12s", "5m", "3h", "2D".
std::string humanDuration(Duration d);
// For people: "12.3 MB" style (powers of 1024, one decimal).
std::string humanSize(uint64_t bytes);

}  // namespace tend
