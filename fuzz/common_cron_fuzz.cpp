// Cron expressions (cron_restart; src/common/cron.hpp): CronSchedule::parse takes any bytes
// and succeeds or names the wrong field; next() of a parsed schedule is strictly after the
// moment it was given (or -1), and is itself the next match after the second before it.
//
// Local time is a POSIX TZ rule with daylight saving time (no time zone files needed), so
// the skipped and repeated hours of its changes are reachable. The moments asked about come
// from the input: its first four bytes, as seconds after 2020-01-01 (within about 136 years).

#include <time.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/cron.hpp"
#include "fuzz_check.hpp"

using namespace tend;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
  ::tzset();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);
  uint32_t offset = 0;
  if (in.size() >= 4) {
    std::memcpy(&offset, in.data(), 4);
    in.remove_prefix(4);
  }
  auto schedule = CronSchedule::parse(in);
  if (!schedule) {
    FUZZ_CHECK(!schedule.error().empty(), "a refused expression says why");
    return 0;
  }
  constexpr time_t k2020 = 1577836800;
  const time_t moments[] = {k2020 + static_cast<time_t>(offset), k2020 + (offset % 86400),
                            k2020 + 86400 * 300 + static_cast<time_t>(offset % (86400 * 60))};
  for (time_t after : moments) {
    time_t next = schedule->next(after);
    FUZZ_CHECK(next == -1 || next > after, "next() is strictly after the moment it was given");
    if (next == -1) continue;
    FUZZ_CHECK(next <= after + 5 * 366 * 86400, "next() looks at most five years ahead");
    FUZZ_CHECK(schedule->next(next - 1) == next, "the next match after the second before it");
  }
  return 0;
}
