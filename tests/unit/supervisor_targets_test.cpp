// What a command's target names: all, a name, an id, a group; unknown ones with a hint.

#include <gtest/gtest.h>

#include "supervisor/targets.hpp"

namespace tend {
namespace {

const std::vector<TargetApp> kApps = {
    {"api", 1, "backend"}, {"worker", 2, "backend"}, {"web", 3, ""}, {"db", 14, "data"}};

std::vector<size_t> picked(const std::string& target) {
  auto r = resolveTarget(target, kApps);
  EXPECT_TRUE(r.has_value()) << target << ": " << (r ? "" : r.error());
  return r ? *r : std::vector<size_t>{};
}

TEST(ResolveTarget, AllNamesIdsAndGroups) {
  EXPECT_EQ(picked("all"), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(picked("web"), (std::vector<size_t>{2}));
  EXPECT_EQ(picked("14"), (std::vector<size_t>{3}));
  EXPECT_EQ(picked("backend"), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(picked("data"), (std::vector<size_t>{3}));
}

TEST(ResolveTarget, AnUnknownTargetIsNamedWithTheNearestAppOrGroup) {
  auto typo = resolveTarget("backnd", kApps);
  ASSERT_FALSE(typo.has_value());
  EXPECT_EQ(typo.error(), "no app or group named 'backnd' (did you mean 'backend'?)");
  auto far = resolveTarget("zzzzzz", kApps);
  ASSERT_FALSE(far.has_value());
  EXPECT_EQ(far.error(), "no app or group named 'zzzzzz'");
  auto unknown_id = resolveTarget("99", kApps);
  EXPECT_FALSE(unknown_id.has_value());
}

TEST(ResolveTarget, WithoutGroupsTheMessageSpeaksOfAppsOnly) {
  const std::vector<TargetApp> plain = {{"web", 1, ""}};
  auto r = resolveTarget("wbe", plain);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), "no app named 'wbe' (did you mean 'web'?)");
  auto none = resolveTarget("all", std::vector<TargetApp>{});
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace tend
