#include "common/cron.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <vector>

#include "common/text.hpp"

namespace tend {
namespace {

constexpr std::array<const char*, 12> kMonthNames{"jan", "feb", "mar", "apr", "may", "jun",
                                                  "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 7> kDayNames{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct FieldRule {
  const char* name;
  int low;
  int high;
  const char* const* names;  // nullptr, or `name_count` names for name_base, name_base + 1...
  int name_count;
  int name_base;
};

bool integer(std::string_view s, int low, int high, int& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size() && out >= low && out <= high;
}

// A number of the field, or one of its names.
bool value(std::string_view s, const FieldRule& rule, int& out) {
  if (rule.names) {
    std::string lower = toLower(s);
    for (int i = 0; i < rule.name_count; ++i)
      if (lower == rule.names[i]) {
        out = i + rule.name_base;
        return true;
      }
  }
  return integer(s, rule.low, rule.high, out);
}

// Sets the bits of one field; false when it is malformed.
template <size_t N>
bool parseField(std::string_view field, const FieldRule& rule, std::bitset<N>& bits) {
  if (field.empty()) return false;
  for (const std::string& item : split(field, ',')) {
    std::string_view range = item;
    int step = 1;
    if (size_t slash = range.find('/'); slash != std::string_view::npos) {
      if (!integer(range.substr(slash + 1), 1, rule.high, step)) return false;
      range = range.substr(0, slash);
    }
    int from = rule.low, to = rule.high;
    if (range != "*") {
      size_t dash = range.find('-');
      if (!value(range.substr(0, dash), rule, from)) return false;
      to = from;
      if (dash != std::string_view::npos) {
        if (!value(range.substr(dash + 1), rule, to) || to < from) return false;
      } else if (step != 1) {
        to = rule.high;  // "5/15": from 5 to the end, every 15
      }
    }
    for (int v = from; v <= to; v += step) bits.set(static_cast<size_t>(v));
  }
  return true;
}

}  // namespace

std::expected<CronSchedule, std::string> CronSchedule::parse(std::string_view text) {
  std::vector<std::string> fields;
  for (const std::string& part : split(text, ' '))
    if (!trim(part).empty()) fields.emplace_back(trim(part));
  if (fields.size() != 5 && fields.size() != 6)
    return std::unexpected(
        fmt::format("'{}' has {} fields; it needs 5 (minute hour day-of-month month day-of-week), "
                    "e.g. \"0 4 * * *\", or 6 with seconds first",
                    text, fields.size()));
  static const FieldRule kRules[] = {{"second", 0, 59, nullptr, 0, 0},
                                     {"minute", 0, 59, nullptr, 0, 0},
                                     {"hour", 0, 23, nullptr, 0, 0},
                                     {"day-of-month", 1, 31, nullptr, 0, 0},
                                     {"month", 1, 12, kMonthNames.data(), 12, 1},
                                     {"day-of-week", 0, 7, kDayNames.data(), 7, 0}};
  // Five fields fire at second 0: they are the six-field form with "0" before them.
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  CronSchedule s;
  std::bitset<8> weekdays;
  bool ok[6] = {
      parseField(fields[0], kRules[0], s.seconds_), parseField(fields[1], kRules[1], s.minutes_),
      parseField(fields[2], kRules[2], s.hours_),   parseField(fields[3], kRules[3], s.days_),
      parseField(fields[4], kRules[4], s.months_),  parseField(fields[5], kRules[5], weekdays)};
  for (size_t i = 0; i < 6; ++i)
    if (!ok[i])
      return std::unexpected(
          fmt::format("'{}': the {} field '{}' is not valid (numbers {}-{}{}, '*', ranges a-b, "
                      "steps /n, lists a,b)",
                      text, kRules[i].name, fields[i], kRules[i].low, kRules[i].high,
                      i == 4   ? " or jan-dec"
                      : i == 5 ? " or sun-sat"
                               : ""));
  for (size_t d = 0; d < 7; ++d) s.weekdays_[d] = weekdays[d];
  if (weekdays[7]) s.weekdays_.set(0);
  s.any_day_ = fields[3].starts_with('*');
  s.any_weekday_ = fields[5].starts_with('*');
  return s;
}

bool CronSchedule::dayMatches(const std::tm& t) const {
  bool dom = days_[static_cast<size_t>(t.tm_mday)];
  bool dow = weekdays_[static_cast<size_t>(t.tm_wday)];
  if (any_day_ || any_weekday_) return dom && dow;
  return dom || dow;
}

time_t CronSchedule::next(time_t after) const {
  std::tm t{};
  localtime_r(&after, &t);
  t.tm_sec += 1;
  t.tm_isdst = -1;
  time_t when = mktime(&t);
  const time_t limit = after + 5 * 366 * 24 * 3600;
  // Skip whole months, days, hours and minutes that cannot match; each step normalises
  // through mktime.
  while (when != -1 && when <= limit) {
    if (!months_[static_cast<size_t>(t.tm_mon + 1)]) {
      t.tm_mon += 1, t.tm_mday = 1, t.tm_hour = 0, t.tm_min = 0, t.tm_sec = 0;
    } else if (!dayMatches(t)) {
      t.tm_mday += 1, t.tm_hour = 0, t.tm_min = 0, t.tm_sec = 0;
    } else if (!hours_[static_cast<size_t>(t.tm_hour)]) {
      t.tm_hour += 1, t.tm_min = 0, t.tm_sec = 0;
    } else if (!minutes_[static_cast<size_t>(t.tm_min)]) {
      t.tm_min += 1, t.tm_sec = 0;
    } else if (t.tm_sec > 59 || !seconds_[static_cast<size_t>(t.tm_sec)]) {
      // The next matching second of this minute, else the next minute.
      int sec = t.tm_sec + 1;
      while (sec < 60 && !seconds_[static_cast<size_t>(sec)]) ++sec;
      if (sec < 60) {
        t.tm_sec = sec;
      } else {
        t.tm_min += 1, t.tm_sec = 0;
      }
    } else {
      return when;
    }
    t.tm_isdst = -1;
    when = mktime(&t);
  }
  return -1;
}

}  // namespace tend
