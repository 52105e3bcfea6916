// Durations ("1m30s") and sizes ("512MB") as configs and the CLI write them
// (src/common/duration.hpp): parseDuration and parseSize take any bytes and either succeed
// or say why not; what they accept prints back (formatDuration) and parses again to the
// same value.

#include <string>

#include "common/duration.hpp"
#include "fuzz_check.hpp"

using namespace tend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);

  if (auto d = parseDuration(in)) {
    FUZZ_CHECK(d->count() >= 0, "a duration is never negative");
    std::string shown = formatDuration(*d);
    auto again = parseDuration(shown);
    FUZZ_CHECK(again.has_value(), "formatDuration's output parses");
    FUZZ_CHECK(*again == *d, "formatDuration's output parses to the same duration");
    FUZZ_CHECK(!humanDuration(*d).empty(), "humanDuration says something");
  } else {
    FUZZ_CHECK(!d.error().empty(), "a refused duration says why");
  }

  if (auto s = parseSize(in)) {
    auto again = parseSize(std::to_string(*s));
    FUZZ_CHECK(again.has_value() && *again == *s, "a size in bytes parses to itself");
    FUZZ_CHECK(!humanSize(*s).empty(), "humanSize says something");
  } else {
    FUZZ_CHECK(!s.error().empty(), "a refused size says why");
  }
  return 0;
}
