#include "common/cron.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace tend {
namespace {

// Local times, computed in UTC for the test (TZ set once for this process).
class Cron : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  static time_t at(int y, int mo, int d, int h, int mi, int sec = 0) {
    std::tm t{};
    t.tm_year = y - 1900, t.tm_mon = mo - 1, t.tm_mday = d, t.tm_hour = h, t.tm_min = mi;
    t.tm_sec = sec;
    t.tm_isdst = -1;
    return mktime(&t);
  }
  static time_t next(const char* expr, time_t after) {
    auto s = CronSchedule::parse(expr);
    EXPECT_TRUE(s.has_value()) << expr;
    return s ? s->next(after) : -2;
  }
};

TEST_F(Cron, DailyAtFour) {
  EXPECT_EQ(next("0 4 * * *", at(2026, 11, 22, 3, 30)), at(2026, 11, 22, 4, 0));
  EXPECT_EQ(next("0 4 * * *", at(2026, 11, 22, 4, 0)), at(2026, 11, 23, 4, 0));  // strictly after
  EXPECT_EQ(next("0 4 * * *", at(2026, 12, 31, 5, 0)), at(2027, 1, 1, 4, 0));
}

TEST_F(Cron, StepsRangesAndLists) {
  EXPECT_EQ(next("*/15 * * * *", at(2026, 11, 22, 10, 1)), at(2026, 11, 22, 10, 15));
  EXPECT_EQ(next("*/15 * * * *", at(2026, 11, 22, 10, 50)), at(2026, 11, 22, 11, 0));
  EXPECT_EQ(next("5,35 9-10 * * *", at(2026, 11, 22, 10, 40)), at(2026, 11, 23, 9, 5));
  EXPECT_EQ(next("10/20 * * * *", at(2026, 11, 22, 10, 31)), at(2026, 11, 22, 10, 50));
}

TEST_F(Cron, WeekdaysByNumberAndNameAndSundayAsSeven) {
  // 2026-11-22 is a Sunday.
  EXPECT_EQ(next("0 8 * * mon-fri", at(2026, 11, 21, 9, 0)), at(2026, 11, 23, 8, 0));
  EXPECT_EQ(next("0 8 * * 7", at(2026, 11, 20, 9, 0)), at(2026, 11, 22, 8, 0));
  EXPECT_EQ(next("0 8 * * 0", at(2026, 11, 20, 9, 0)), at(2026, 11, 22, 8, 0));
}

TEST_F(Cron, DayOfMonthOrDayOfWeekWhenBothAreGiven) {
  // The 1st of the month or any Monday, as Vixie cron.
  EXPECT_EQ(next("0 0 1 * mon", at(2026, 11, 22, 12, 0)), at(2026, 11, 23, 0, 0));
  EXPECT_EQ(next("0 0 1 * mon", at(2026, 11, 30, 12, 0)), at(2026, 12, 1, 0, 0));
}

TEST_F(Cron, MonthsAndLeapDays) {
  EXPECT_EQ(next("0 0 1 jan *", at(2026, 2, 1, 0, 0)), at(2027, 1, 1, 0, 0));
  EXPECT_EQ(next("0 12 29 2 *", at(2026, 3, 1, 0, 0)), at(2028, 2, 29, 12, 0));
  EXPECT_EQ(next("0 0 30 2 *", at(2026, 1, 1, 0, 0)), -1);  // never
}

TEST_F(Cron, FiveFieldsFireAtSecondZero) {
  EXPECT_EQ(next("* * * * *", at(2026, 11, 22, 10, 0, 0)), at(2026, 11, 22, 10, 1, 0));
  EXPECT_EQ(next("* * * * *", at(2026, 11, 22, 10, 0, 59)), at(2026, 11, 22, 10, 1, 0));
  EXPECT_EQ(next("30 4 * * *", at(2026, 11, 22, 4, 30, 1)), at(2026, 11, 23, 4, 30, 0));
}

TEST_F(Cron, SixFieldsPutSecondsFirstAsPm2Does) {
  EXPECT_EQ(next("*/10 * * * * *", at(2026, 11, 22, 10, 0, 3)), at(2026, 11, 22, 10, 0, 10));
  EXPECT_EQ(next("*/10 * * * * *", at(2026, 11, 22, 10, 0, 50)), at(2026, 11, 22, 10, 1, 0));
  EXPECT_EQ(next("* * * * * *", at(2026, 11, 22, 10, 0, 59)), at(2026, 11, 22, 10, 1, 0));
  EXPECT_EQ(next("30 0 4 * * *", at(2026, 11, 22, 4, 0, 30)), at(2026, 11, 23, 4, 0, 30));
  EXPECT_EQ(next("15,45 * * * * mon", at(2026, 11, 22, 23, 59, 50)), at(2026, 11, 23, 0, 0, 15));
  EXPECT_EQ(next("59 59 23 31 12 *", at(2026, 12, 31, 23, 59, 59)), at(2027, 12, 31, 23, 59, 59));
}

TEST_F(Cron, RefusesWhatIsNotCron) {
  for (const char* bad :
       {"", "* * * *", "* * * * * * *", "60 * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
        "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *",
        "* * * june *", "-1 * * * *"}) {
    EXPECT_FALSE(CronSchedule::parse(bad).has_value()) << "'" << bad << "'";
  }
  auto e = CronSchedule::parse("0 25 * * *");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("the hour field '25'"), std::string::npos) << e.error();
  e = CronSchedule::parse("61 0 25 * * *");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("the second field '61'"), std::string::npos) << e.error();
}

}  // namespace
}  // namespace tend
