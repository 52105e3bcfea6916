// parseDuration / parseSize / formatDuration: what configs and the CLI accept, and every
// way they refuse.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "common/duration.hpp"

namespace tend {
namespace {

using namespace std::chrono_literals;

std::string durationError(std::string_view text) {
  auto parsed = parseDuration(text);
  EXPECT_FALSE(parsed.has_value()) << text;
  return parsed ? "" : parsed.error();
}

std::string sizeError(std::string_view text) {
  auto parsed = parseSize(text);
  EXPECT_FALSE(parsed.has_value()) << text;
  return parsed ? "" : parsed.error();
}

TEST(ParseDuration, ReadsEveryUnit) {
  EXPECT_EQ(parseDuration("250ms"), Duration(250));
  EXPECT_EQ(parseDuration("5s"), Duration(5s));
  EXPECT_EQ(parseDuration("5m"), Duration(5min));
  EXPECT_EQ(parseDuration("2h"), Duration(2h));
  EXPECT_EQ(parseDuration("1d"), Duration(24h));
  EXPECT_EQ(parseDuration("0ms"), Duration(0));
}

TEST(ParseDuration, AddsUpSeveralParts) {
  EXPECT_EQ(parseDuration("1m30s"), Duration(90s));
  EXPECT_EQ(parseDuration("1h1m1s1ms"), Duration(3'661'001));
}

TEST(ParseDuration, RefusesAnEmptyText) {
  EXPECT_EQ(durationError(""), "empty duration (write e.g. 500ms, 10s, 5m)");
}

TEST(ParseDuration, RefusesABareNumberAndSuggestsUnits) {
  EXPECT_EQ(durationError("100"), "duration '100' has no unit (write 100ms or 100s)");
  EXPECT_EQ(durationError("1s500"), "duration '1s500' has no unit (write 500ms or 500s)");
}

TEST(ParseDuration, RefusesAnUnknownUnit) {
  EXPECT_EQ(durationError("5sec"),
            "duration '5sec' has an unknown unit 'sec' (use ms, s, m, h or d)");
  EXPECT_EQ(durationError("5S"), "duration '5S' has an unknown unit 'S' (use ms, s, m, h or d)");
}

TEST(ParseDuration, RefusesTextThatDoesNotStartWithANumber) {
  EXPECT_EQ(durationError("s"),
            "invalid duration 's': expected a number followed by ms, s, m, h or d");
  EXPECT_EQ(durationError("abc"),
            "invalid duration 'abc': expected a number followed by ms, s, m, h or d");
  EXPECT_EQ(durationError(" 5s"),
            "invalid duration ' 5s': expected a number followed by ms, s, m, h or d");
  EXPECT_EQ(durationError("5s "),
            "invalid duration '5s ': expected a number followed by ms, s, m, h or d");
}

TEST(ParseDuration, RefusesASign) {
  EXPECT_EQ(durationError("-5s"),
            "invalid duration '-5s': expected a number followed by ms, s, m, h or d");
  EXPECT_EQ(durationError("+5s"),
            "invalid duration '+5s': expected a number followed by ms, s, m, h or d");
}

TEST(ParseDuration, RefusesAFraction) {
  // "1.5s" stops at the '.', which leaves "1" without a unit.
  EXPECT_EQ(durationError("1.5s"), "duration '1.5s' has no unit (write 1ms or 1s)");
}

TEST(ParseDuration, RefusesANumberTooLongToHold) {
  EXPECT_EQ(durationError("99999999999999999999ms"),
            "duration '99999999999999999999ms' is too large");
}

TEST(ParseDuration, RefusesAUnitThatOverflows) {
  EXPECT_EQ(durationError("9223372036854775d"), "duration '9223372036854775d' is too large");
}

TEST(ParseDuration, RefusesASumThatOverflows) {
  EXPECT_EQ(durationError("9223372036854775807ms1ms"),
            "duration '9223372036854775807ms1ms' is too large");
}

TEST(ParseSize, ReadsBytesAndPowersOf1024) {
  EXPECT_EQ(parseSize("0"), 0u);
  EXPECT_EQ(parseSize("512"), 512u);
  EXPECT_EQ(parseSize("512B"), 512u);
  EXPECT_EQ(parseSize("10K"), 10u << 10);
  EXPECT_EQ(parseSize("10M"), 10u << 20);
  EXPECT_EQ(parseSize("2G"), 2ull << 30);
}

TEST(ParseSize, AcceptsALowerCaseUnitAndATrailingB) {
  EXPECT_EQ(parseSize("512m"), 512u << 20);
  EXPECT_EQ(parseSize("512MB"), 512u << 20);
  EXPECT_EQ(parseSize("512Mb"), 512u << 20);
  EXPECT_EQ(parseSize("1kb"), 1024u);
}

TEST(ParseSize, RefusesAnEmptyText) {
  EXPECT_EQ(sizeError(""), "empty size (write e.g. 512M, 10M, 1G)");
}

TEST(ParseSize, RefusesTextThatDoesNotStartWithANumber) {
  EXPECT_EQ(sizeError("M"), "invalid size 'M': expected a number with an optional K, M or G");
  EXPECT_EQ(sizeError("-1M"), "invalid size '-1M': expected a number with an optional K, M or G");
  EXPECT_EQ(sizeError(" 1M"), "invalid size ' 1M': expected a number with an optional K, M or G");
}

TEST(ParseSize, RefusesAnUnknownUnit) {
  EXPECT_EQ(sizeError("5T"), "size '5T' has an unknown unit 'T' (use K, M or G)");
  EXPECT_EQ(sizeError("5MX"), "size '5MX' has an unknown unit 'MX' (use K, M or G)");
  EXPECT_EQ(sizeError("5BB"), "size '5BB' has an unknown unit 'BB' (use K, M or G)");
  EXPECT_EQ(sizeError("1.5G"), "size '1.5G' has an unknown unit '.5G' (use K, M or G)");
  EXPECT_EQ(sizeError("5 M"), "size '5 M' has an unknown unit ' M' (use K, M or G)");
}

TEST(ParseSize, RefusesANumberTooLongToHold) {
  EXPECT_EQ(sizeError("99999999999999999999"), "size '99999999999999999999' is too large");
}

TEST(ParseSize, RefusesAUnitThatOverflows) {
  EXPECT_EQ(sizeError("17179869184G"), "size '17179869184G' is too large");
  EXPECT_EQ(parseSize("17179869183G"), 17179869183ull << 30);
}

TEST(FormatDuration, WritesTheLargestWholeUnit) {
  EXPECT_EQ(formatDuration(Duration(0)), "0ms");
  EXPECT_EQ(formatDuration(Duration(100)), "100ms");
  EXPECT_EQ(formatDuration(Duration(1500)), "1500ms");
  EXPECT_EQ(formatDuration(Duration(1000)), "1s");
  EXPECT_EQ(formatDuration(Duration(90s)), "90s");
  EXPECT_EQ(formatDuration(Duration(5min)), "5m");
  EXPECT_EQ(formatDuration(Duration(2h)), "2h");
  EXPECT_EQ(formatDuration(Duration(48h)), "2d");
}

TEST(FormatDuration, ReadsBackToTheSameDuration) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1001}, int64_t{60'000},
                     int64_t{61'000}, int64_t{3'600'000}, int64_t{86'400'000}, int64_t{90'061'001},
                     std::numeric_limits<int64_t>::max() / 2}) {
    EXPECT_EQ(parseDuration(formatDuration(Duration(ms))), Duration(ms)) << ms;
  }
}

}  // namespace
}  // namespace tend
