#pragma once
// CronSchedule: a standard 5-field cron expression (minute hour day-of-month month
// day-of-week), or PM2's 6-field form with seconds first, and the next time it fires.
// Fields take '*', numbers, ranges a-b, steps /n, lists a,b and the names jan-dec and
// sun-sat; day-of-week 0 and 7 are Sunday. As in Vixie cron, when both day-of-month and
// day-of-week are restricted a day matching either fires. Five fields fire at second 0.
// Times are local (the TZ of the daemon). Pure logic.

#include <bitset>
#include <ctime>
#include <expected>
#include <string>
#include <string_view>

namespace tend {

class CronSchedule {
 public:
  // The error names the field that is wrong and what it may hold.
  static std::expected<CronSchedule, std::string> parse(std::string_view text);

  // The first second strictly after `after` (seconds since the epoch) that matches, in
  // local time; -1 when none within the next 5 years (e.g. "0 0 30 2 *").
  time_t next(time_t after) const;

 private:
  bool dayMatches(const std::tm& local) const;

  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0-6, Sunday 0
  bool any_day_ = true;      // day-of-month was '*'
  bool any_weekday_ = true;  // day-of-week was '*'
};

}  // namespace tend
