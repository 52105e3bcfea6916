#pragma once
// `tend scale NAME 4|+1|-2`: the argument, and the count it leads to. Pure.

#include <expected>
#include <string>
#include <string_view>

namespace tend {

constexpr int kMaxScaleInstances = 1024;

struct ScaleChange {
  bool relative = false;  // "+N" / "-N": added to the current count
  int value = 0;          // the count, or the signed step
};

// "4" -> {false, 4}; "+1" -> {true, 1}; "-2" -> {true, -2}. Anything else (empty, "1.5",
// "+", "x", more than 4 digits) is an error for the person who typed it.
std::expected<ScaleChange, std::string> parseScaleArgument(std::string_view text);

// The number of instances `app` gets: from 1 to kMaxScaleInstances, else an error saying
// why ("api has 1 instance; scale keeps at least 1 (tend stop api stops it)").
std::expected<int, std::string> scaledCount(const std::string& app, int current,
                                            ScaleChange change);

}  // namespace tend
