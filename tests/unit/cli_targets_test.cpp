// What the CLI works out itself: --status selection, the default config file, and the
// message for an unknown command.

#include <gtest/gtest.h>

#include "cli/cli.hpp"
#include "cli/targets.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using nlohmann::json;

TEST(CliTargets, StatusPicksAppsWhoseEveryInstanceHasIt) {
  json list = json::array({
      {{"name", "a"}, {"instance", 0}, {"status", "errored"}},
      {{"name", "b"}, {"instance", 0}, {"status", "errored"}},
      {{"name", "b"}, {"instance", 1}, {"status", "online"}},
      {{"name", "c"}, {"instance", 0}, {"status", "stopped"}},
      {{"name", "d"}, {"instance", 0}, {"status", "errored"}},
      {{"name", "d"}, {"instance", 1}, {"status", "errored"}},
  });
  EXPECT_EQ(appsInStatus(list, "errored"), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(appsInStatus(list, "stopped"), (std::vector<std::string>{"c"}));
  EXPECT_TRUE(appsInStatus(list, "waiting").empty());
  EXPECT_TRUE(appsInStatus(json::array(), "errored").empty());
}

TEST(CliTargets, TheDefaultConfigIsTheFirstNameFoundInTheFolder) {
  testing::TempDir dir;
  auto none = findDefaultConfig(dir.path());
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().find("tend.yaml, tend.yml, tend.toml, tend.json, ecosystem.config.js, "
                              "ecosystem.json"),
            std::string::npos)
      << none.error();
  dir.write("ecosystem.json", "{}");
  EXPECT_EQ(findDefaultConfig(dir.path()).value_or(""), dir.path() + "/ecosystem.json");
  dir.write("tend.toml", "");
  EXPECT_EQ(findDefaultConfig(dir.path()).value_or(""), dir.path() + "/tend.toml");
  dir.write("tend.yaml", "");
  EXPECT_EQ(findDefaultConfig(dir.path()).value_or(""), dir.path() + "/tend.yaml");
}

TEST(CliTargets, AnUnknownCommandListsItsNearMisses) {
  const std::vector<std::string> commands = {"start", "stop", "status", "list", "scale"};
  EXPECT_EQ(unknownCommandMessage("stat", commands),
            "tend: unknown command 'stat'; did you mean 'start' or 'status'?\n"
            "Run 'tend --help' for the list of commands.\n");
  EXPECT_EQ(unknownCommandMessage("scael", commands),
            "tend: unknown command 'scael'; did you mean 'scale'?\n"
            "Run 'tend --help' for the list of commands.\n");
  EXPECT_EQ(unknownCommandMessage("xyzzy", commands),
            "tend: unknown command 'xyzzy'\nRun 'tend --help' for the list of commands.\n");
}

}  // namespace
}  // namespace tend
