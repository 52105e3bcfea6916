#include "cli/cli.hpp"

int main(int argc, char** argv) {
  return tend::runCli(argc, argv);
}
