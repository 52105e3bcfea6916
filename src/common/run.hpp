#pragma once
// Running a short-lived helper program (node for a PM2 config, systemctl for `tend startup`)
// and collecting what it prints. Not for apps: those go through the supervisor's spawner.

#include <cstddef>
#include <expected>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace tend {

struct RunOutput {
  int status = 0;  // as from waitpid
  std::string out;
  std::string err;
};

// Runs argv (argv[0] searched in PATH) in `dir` (empty: the current one) with stdin on
// /dev/null, collecting up to `max_out` bytes of stdout and `max_err` of stderr until it
// exits or `timeout` passes (then it is killed). Errors: spawn failures (errno text) and
// the timeout, as text.
std::expected<RunOutput, std::string> runCapturing(const std::vector<std::string>& argv,
                                                   const std::string& dir, Duration timeout,
                                                   size_t max_out = size_t{1} << 20,
                                                   size_t max_err = 16 * 1024);

}  // namespace tend
