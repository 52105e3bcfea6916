// makeHomePrivate: what the daemon does to $TEND_HOME at start, on real files in a
// temporary directory.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/private_home.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using tend::testing::TempDir;

unsigned modeOf(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

class PrivateHomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home = dir.path() + "/home";
    logs = home + "/logs";
    ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(logs.c_str(), 0700), 0);
  }
  std::string file(const std::string& name, unsigned mode) {
    std::string path = dir.write(name, "x");
    ::chmod(path.c_str(), mode);
    return path;
  }

  TempDir dir;
  std::string home, logs;
};

TEST_F(PrivateHomeTest, APrivateHomeIsLeftAsItIsAndNothingIsSaid) {
  file("home/state.db", 0600);
  file("home/logs/a-0-out.log", 0600);
  auto r = makeHomePrivate(home, logs);
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->changedAnything());
  EXPECT_EQ(r->summary(home), "");
}

TEST_F(PrivateHomeTest, GroupAndOtherLoseEverythingAndTheOwnerKeepsWhatItHad) {
  ::chmod(home.c_str(), 0755);
  ::chmod(logs.c_str(), 0775);
  const std::string db = file("home/state.db", 0644);
  const std::string log = file("home/logs/a-0-out.log.1", 0666);
  const std::string script = file("home/run.sh", 0755);
  const std::string read_only = file("home/notes.txt", 0444);
  auto r = makeHomePrivate(home, logs);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(modeOf(home), 0700u);
  EXPECT_EQ(modeOf(logs), 0700u);
  EXPECT_EQ(modeOf(db), 0600u);
  EXPECT_EQ(modeOf(log), 0600u);
  EXPECT_EQ(modeOf(script), 0700u);
  EXPECT_EQ(modeOf(read_only), 0400u);
  EXPECT_EQ(r->home_was, 0755u);
  EXPECT_EQ(r->tightened_count, 5u);  // logs, state.db, the log, run.sh, notes.txt
  EXPECT_EQ(r->summary(home).find("made " + home +
                                  " private: the folder was 0755, now 0700; 5 entries in it "
                                  "could be read or entered by other users, now only by their "
                                  "owner ("),
            0u)
      << r->summary(home);
}

TEST_F(PrivateHomeTest, NestedFoldersAreWalkedAndTheListIsShortened) {
  ASSERT_EQ(::mkdir((home + "/a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((home + "/a/b").c_str(), 0755), 0);
  for (int i = 0; i < 8; ++i) file("home/a/b/f" + std::to_string(i), 0640);
  auto r = makeHomePrivate(home, logs);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(modeOf(home + "/a/b"), 0700u);
  EXPECT_EQ(modeOf(home + "/a/b/f7"), 0600u);
  EXPECT_EQ(r->tightened_count, 10u);
  EXPECT_EQ(r->tightened.size(), PrivateHome::kListed);
  EXPECT_NE(r->summary(home).find(" and 5 more)"), std::string::npos) << r->summary(home);
}

TEST_F(PrivateHomeTest, SymbolicLinksAreNeitherFollowedNorChanged) {
  const std::string outside = file("outside.txt", 0644);
  ASSERT_EQ(::symlink(outside.c_str(), (home + "/link").c_str()), 0);
  ASSERT_EQ(::mkdir((dir.path() + "/elsewhere").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((dir.path() + "/elsewhere").c_str(), (home + "/dirlink").c_str()), 0);
  auto r = makeHomePrivate(home, logs);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(modeOf(outside), 0644u);
  EXPECT_EQ(modeOf(dir.path() + "/elsewhere"), 0755u);
  EXPECT_FALSE(r->changedAnything());
}

TEST_F(PrivateHomeTest, AHomeThatIsNotThereIsAnError) {
  auto r = makeHomePrivate(dir.path() + "/missing", dir.path() + "/missing/logs");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("cannot look at"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace tend
