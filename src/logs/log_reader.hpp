#pragma once
// Reading log files back for `tend logs`: the last N lines of a file, and following files
// as they grow (surviving truncation). Used by the CLI directly on the files.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tend {

// The last `n` complete lines of `path` (fewer when the file is shorter; none when it is
// missing). Reads backwards from the end, so a huge file costs only what is shown.
std::vector<std::string> tailLines(const std::string& path, size_t n);

struct FollowedFile {
  std::string path;
  std::string label;  // passed back with each line
  bool is_err = false;
};

// Calls `on_line(file, line)` for every new complete line appended to any of `files` from
// now on, until `keep_going()` returns false (checked at least every 250 ms).
void followFiles(const std::vector<FollowedFile>& files,
                 const std::function<void(const FollowedFile&, const std::string&)>& on_line,
                 const std::function<bool()>& keep_going);

}  // namespace tend
