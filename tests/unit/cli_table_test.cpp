#include "cli/table.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

TEST(Table, ColumnsFitTheWidestCell) {
  std::string t = renderTable({"a", "bb"}, {{{"xxx"}, {"y"}}}, false);
  EXPECT_EQ(t,
            "┌─────┬────┐\n"
            "│ a   │ bb │\n"
            "├─────┼────┤\n"
            "│ xxx │ y  │\n"
            "└─────┴────┘\n");
}

TEST(Table, ColourCodesOnlyWhenAskedAndNotCountedInWidths) {
  std::string plain = renderTable({"s"}, {{{"online", "\x1b[32m"}}}, false);
  std::string coloured = renderTable({"s"}, {{{"online", "\x1b[32m"}}}, true);
  EXPECT_EQ(plain.find("\x1b["), std::string::npos);
  EXPECT_NE(coloured.find("\x1b[32monline\x1b[0m"), std::string::npos);
  EXPECT_NE(coloured.find("│ \x1b[32monline\x1b[0m │"), std::string::npos);
}

TEST(Table, AppTableShowsEveryColumnAndDashesForStoppedInstances) {
  nlohmann::json list = nlohmann::json::parse(R"([
    {"name":"api","id":1,"instance":0,"pid":42,"status":"online","restarts":2,
     "uptime_ms":65000,"cpu":1.5,"memory":10485760,"port":3001,"mode":"fork"},
    {"name":"job","id":2,"instance":0,"pid":0,"status":"stopped","restarts":0,
     "uptime_ms":0,"cpu":0,"memory":0,"port":null,"mode":"fork"}])");
  std::string t = renderAppTable(list, false);
  for (const char* want : {"api", "42", "online", "1m", "1.5%", "10.0mb", "3001", "job", "stopped"})
    EXPECT_NE(t.find(want), std::string::npos) << want << "\n" << t;
  EXPECT_NE(t.find("│ -   "), std::string::npos) << t;
}

TEST(Table, AJustSpawnedInstanceShowsWholeSecondsAndNoFiguresBeforeItsFirstSample) {
  // Was "0ms", "0.0%" and "0b", which read as a fault for an instance seconds from online.
  auto fresh = nlohmann::json::parse(
      R"({"pid": 42, "status": "starting", "uptime_ms": 17, "cpu": 0, "memory": 0})");
  InstanceFigures f = instanceFigures(fresh);
  EXPECT_EQ(f.uptime, "0s");
  EXPECT_EQ(f.cpu, "-");
  EXPECT_EQ(f.memory, "-");
  auto sampled = nlohmann::json::parse(
      R"({"pid": 42, "status": "online", "uptime_ms": 65000, "cpu": 1.5, "memory": 2048})");
  f = instanceFigures(sampled);
  EXPECT_EQ(f.uptime, "1m");
  EXPECT_EQ(f.cpu, "1.5%");
  EXPECT_EQ(f.memory, "2.0kb");
  EXPECT_EQ(instanceFigures(nlohmann::json::parse(R"({"pid": 0})")).uptime, "-");
  EXPECT_EQ(instanceLabel(nlohmann::json::parse(R"({"name": "api", "instance": 0,
                                                    "instances": 2})")),
            "api[0]");
  EXPECT_EQ(instanceLabel(nlohmann::json::parse(R"({"name": "api", "instance": 0,
                                                    "instances": 1})")),
            "api");
}

}  // namespace
}  // namespace tend
