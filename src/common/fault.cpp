#include "common/fault.hpp"

#include <signal.h>

#include <cstdlib>
#include <string>

namespace tend {

void faultPoint(std::string_view point) {
  static const std::string armed = [] {
    const char* v = std::getenv("TEND_FAULT");
    return std::string(v ? v : "");
  }();
  if (!armed.empty() && armed == point) ::raise(SIGKILL);
}

}  // namespace tend
