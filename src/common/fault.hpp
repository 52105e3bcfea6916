#pragma once
// Fault injection for tests: the daemon kills itself (SIGKILL, as a crash or `kill -9`
// would) when it reaches the point named by the environment variable TEND_FAULT, so that a
// test can check what a daemon coming back finds after a crash at exactly that point.
// Unset (always, outside tests), a fault point costs one comparison.

#include <string_view>

namespace tend {

// Dies at once when TEND_FAULT (read once, at the first call) names `point`.
void faultPoint(std::string_view point);

}  // namespace tend
