#pragma once
// What every fuzz target of this folder shares: FUZZ_CHECK, an invariant that must hold for
// every input (a failure prints what and where, then aborts, which libFuzzer reports as a
// crash and saves the input), and small helpers to read an input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                                        \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, what, \
                   #condition);                                                            \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

namespace tend::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Takes the first byte of `in` (0 when empty) as a parameter of the run.
inline uint8_t takeByte(std::string_view& in) {
  if (in.empty()) return 0;
  auto b = static_cast<uint8_t>(in.front());
  in.remove_prefix(1);
  return b;
}

// A small deterministic generator (xorshift) for cutting an input into pieces: the same
// input always gives the same run.
class Pieces {
 public:
  explicit Pieces(uint32_t seed) : state_(seed * 2654435761u + 1) {}
  // The next piece length, 1..max.
  size_t next(size_t max) {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % max;
  }

 private:
  uint32_t state_;
};

}  // namespace tend::fuzz
