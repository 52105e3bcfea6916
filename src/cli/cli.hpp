#pragma once
// The command line: parses arguments with CLI11 and runs one command.

namespace tend {

// Returns the process exit status (0 done, 1 failed, 2 bad usage).
int runCli(int argc, char** argv);

}  // namespace tend
