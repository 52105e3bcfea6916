// The PATH search the spawner does before it starts a process (resolveInPath).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "supervisor/spawner.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using testing::TempDir;

std::string executable(const TempDir& dir, const std::string& name) {
  std::string path = dir.write(name, "#!/bin/sh\n");
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST(ResolveInPath, AProgramWithASlashIsTakenAsItIs) {
  EXPECT_EQ(resolveInPath("./run", "/usr/bin"), "./run");
  EXPECT_EQ(resolveInPath("/no/such/program", "/usr/bin"), "/no/such/program");
}

TEST(ResolveInPath, TheFirstEntryHoldingAnExecutableWins) {
  TempDir a, b;
  ::mkdir((a.path() + "/sub").c_str(), 0755);
  a.write("tool", "not executable");  // skipped, as execvp skips it
  std::string in_b = executable(b, "tool");
  EXPECT_EQ(resolveInPath("tool", a.path() + ":" + b.path()), in_b);
  EXPECT_EQ(resolveInPath("sub", a.path()), "");  // a directory is not a program
}

TEST(ResolveInPath, NothingFoundIsEmpty) {
  TempDir a;
  EXPECT_EQ(resolveInPath("tend-no-such-program", a.path()), "");
}

TEST(ResolveInPath, RelativeEntriesAreRelativeToTheChildsDirectory) {
  TempDir cwd;
  ::mkdir((cwd.path() + "/bin").c_str(), 0755);
  executable(cwd, "bin/tool");
  EXPECT_EQ(resolveInPath("tool", "bin", cwd.path()), cwd.path() + "/bin/tool");
  executable(cwd, "here");
  EXPECT_EQ(resolveInPath("here", ":/usr/bin", cwd.path()), cwd.path() + "/./here");
}

TEST(ResolveInPath, AnEmptyPathMeansTheSystemDirectories) {
  EXPECT_EQ(resolveInPath("sh", ""), "/usr/bin/sh");
}

}  // namespace
}  // namespace tend
