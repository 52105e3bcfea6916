#pragma once
// Reading log files back for `tend logs`: the last N lines of a file (or of a file and its
// rotated predecessors), and following files as they grow, surviving truncation and
// rotation. Used by the CLI directly on the files.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tend {

// The last `n` complete lines of `path` (fewer when the file is shorter; none when it is
// missing). Reads backwards from the end, so a huge file costs only what is shown.
std::vector<std::string> tailLines(const std::string& path, size_t n);

// The last `n` lines across rotation: `path`, then path.1, path.2, ... (see LogWriter) while
// more lines are wanted and the next older file exists. Oldest first.
std::vector<std::string> tailLinesAcrossRotation(const std::string& path, size_t n);

// The time a line was written, from the timestamp LogWriter puts before it
// ("2026-11-21T23:40:00.123Z"), or from a JSON line's leading "time" (logs.format: json);
// empty for a line that has none.
std::string_view lineTime(std::string_view line);

// For std::stable_sort of lines read from several files (out and err, instances): by the time
// they were written. Lines without a timestamp compare equal, so they keep their order.
inline bool writtenBefore(std::string_view a, std::string_view b) {
  return lineTime(a) < lineTime(b);
}

struct FollowedFile {
  std::string path;
  std::string label;  // passed back with each line
  bool is_err = false;
};

// Calls `on_line(file, line)` for every new complete line appended to any of `files` from
// now on, until `keep_going()` returns false (checked at least every 250 ms). A file that
// is truncated is read again from its start; a file that is renamed away and replaced (as
// rotation does) is read to its end first, then the rotated files written meanwhile, then
// the new file, so no line is missed. A file that does not exist yet is picked up when it
// appears. `on_started`, when given, is called once the current ends of the files are
// known: lines written after it are reported.
void followFiles(const std::vector<FollowedFile>& files,
                 const std::function<void(const FollowedFile&, const std::string&)>& on_line,
                 const std::function<bool()>& keep_going,
                 const std::function<void()>& on_started = {});

}  // namespace tend
