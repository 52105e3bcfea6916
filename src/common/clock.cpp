#include "common/clock.hpp"

namespace tend {

TimePoint SystemClock::now() const { return std::chrono::steady_clock::now(); }

int64_t SystemClock::wallMillis() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

}  // namespace tend
