#pragma once
// An app's log line as one JSON object (logs.format: json), and back:
//   {"time":"2026-11-21T23:40:00.123Z","app":"web","instance":0,"stream":"out","message":"..."}
// Time comes first, so the lines of several files sort by time as text. Bytes of the
// message that are not UTF-8 become U+FFFD (JSON text is UTF-8). Pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tend {

// The fixed part of every line of one log file: `{"time":"` is written before the time,
// then this (`","app":"web","instance":0,"stream":"out","message":`), then the message.
std::string jsonLineFields(std::string_view app, int instance, std::string_view stream);

// Appends one whole line (without the '\n') to `out`.
void appendJsonLine(std::string& out, std::string_view time, std::string_view fields,
                    std::string_view message);

struct JsonLogRecord {
  std::string time;
  std::string app;
  int instance = 0;
  std::string stream;
  std::string message;
};

// A line written by appendJsonLine; nullopt for anything else (a text line, other JSON).
std::optional<JsonLogRecord> parseJsonLine(std::string_view line);

// How `tend logs` shows a stored line: a JSON line as "<time> <message>" (the text format's
// look), any other line as it is.
std::string displayLogLine(const std::string& line);

}  // namespace tend
