// `tend scale NAME 4|+1|-1`: parsing the argument and the count it leads to.

#include <gtest/gtest.h>

#include "api/scale_change.hpp"

namespace tend {
namespace {

TEST(ScaleChange, ParsesCountsAndSignedSteps) {
  auto four = parseScaleArgument("4");
  ASSERT_TRUE(four.has_value());
  EXPECT_FALSE(four->relative);
  EXPECT_EQ(four->value, 4);
  auto up = parseScaleArgument("+1");
  ASSERT_TRUE(up.has_value());
  EXPECT_TRUE(up->relative);
  EXPECT_EQ(up->value, 1);
  auto down = parseScaleArgument("-2");
  ASSERT_TRUE(down.has_value());
  EXPECT_TRUE(down->relative);
  EXPECT_EQ(down->value, -2);
  for (const char* bad : {"", "+", "-", "x", "1.5", "+-1", "12345", "4x", " 4"}) {
    auto r = parseScaleArgument(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().find("scale takes a number of instances"), std::string::npos) << r.error();
  }
}

TEST(ScaleChange, TheCountStaysFromOneTo1024) {
  EXPECT_EQ(scaledCount("api", 2, {true, 1}).value_or(0), 3);
  EXPECT_EQ(scaledCount("api", 2, {true, -1}).value_or(0), 1);
  EXPECT_EQ(scaledCount("api", 2, {false, 7}).value_or(0), 7);
  auto below = scaledCount("api", 1, {true, -1});
  ASSERT_FALSE(below.has_value());
  EXPECT_EQ(below.error(),
            "api has 1 instance; -1 would leave 0, and scale keeps at least 1 (`tend stop api` "
            "stops it)");
  auto zero = scaledCount("api", 3, {false, 0});
  ASSERT_FALSE(zero.has_value());
  EXPECT_NE(zero.error().find("scale keeps at least 1"), std::string::npos);
  auto above = scaledCount("api", 1000, {true, 100});
  ASSERT_FALSE(above.has_value());
  EXPECT_EQ(above.error(), "api would have 1100 instances; the most is 1024");
}

}  // namespace
}  // namespace tend
