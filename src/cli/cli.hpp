#pragma once
// The command line: parses arguments with CLI11 and runs one command.

#include <string>
#include <vector>

namespace tend {

// Returns the process exit status (0 done, 1 failed, 2 bad usage).
int runCli(int argc, char** argv);

// What `tend WORD` says when WORD is no command: its likely meanings among `commands`
// ("tend: unknown command 'stat'; did you mean 'start' or 'status'?"), then where the list
// is. Ends with a newline.
std::string unknownCommandMessage(const std::string& word,
                                  const std::vector<std::string>& commands);

}  // namespace tend
