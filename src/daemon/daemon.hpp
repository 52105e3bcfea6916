#pragma once
// The daemon: one per $TEND_HOME (enforced by LockFile). Owns the event loop, the state
// store, the supervisor and the control socket; runs until `tend kill`, SIGTERM or SIGINT.

#include "common/paths.hpp"

namespace tend {

struct DaemonOptions {
  Paths paths;
  bool foreground = true;  // echo the daemon log to stderr
};

// Returns the process exit code.
int runDaemon(const DaemonOptions& options);

}  // namespace tend
