// The log line splitter (src/logs/line_splitter.hpp) that cuts a child's output into
// lines: whatever the bytes and however the reads cut them, it passes on exactly the lines
// of the stream, each over-long one in pieces of max_line bytes, nothing lost and nothing
// added.
//
// The input: one byte for max_line (1..64), one for how the stream is cut into reads, the
// stream. The lines are checked against a plain model of the contract, for the stream fed
// whole and fed in pieces.

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "logs/line_splitter.hpp"

using namespace tend;

namespace {

// The contract, written out: lines end at '\n'; a line longer than max_line is passed on
// in pieces of max_line bytes (the last piece may be shorter), one of exactly max_line
// bytes whole; finish() passes on an unterminated last line the same way.
std::vector<std::string> model(std::string_view stream, size_t max_line) {
  std::vector<std::string> out;
  auto cut = [&](std::string_view line) {
    if (line.empty()) out.emplace_back();
    while (!line.empty()) {
      out.emplace_back(line.substr(0, max_line));
      line.remove_prefix(std::min(max_line, line.size()));
    }
  };
  while (true) {
    auto nl = stream.find('\n');
    if (nl == std::string_view::npos) {
      if (!stream.empty()) cut(stream);
      return out;
    }
    cut(stream.substr(0, nl));
    stream.remove_prefix(nl + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);
  const size_t max_line = 1 + fuzz::takeByte(in) % 64;
  fuzz::Pieces pieces(fuzz::takeByte(in));
  const std::vector<std::string> expected = model(in, max_line);

  std::vector<std::string> whole;
  LineSplitter one(max_line);
  auto to_whole = [&](std::string_view line) { whole.emplace_back(line); };
  one.feed(in, to_whole);
  FUZZ_CHECK(one.pending() <= max_line, "what is held back is at most one line's piece");
  one.finish(to_whole);
  FUZZ_CHECK(one.pending() == 0, "nothing is held back after finish()");
  FUZZ_CHECK(whole == expected, "the stream fed whole gives the lines of the contract");

  std::vector<std::string> cut;
  LineSplitter split(max_line);
  auto to_cut = [&](std::string_view line) {
    FUZZ_CHECK(line.size() <= max_line, "no line passed on is longer than max_line");
    cut.emplace_back(line);
  };
  for (std::string_view rest = in; !rest.empty();) {
    size_t n = std::min(rest.size(), pieces.next(2 * max_line + 2));
    split.feed(rest.substr(0, n), to_cut);
    FUZZ_CHECK(split.pending() <= max_line, "what is held back is at most one line's piece");
    rest.remove_prefix(n);
  }
  split.finish(to_cut);
  FUZZ_CHECK(cut == expected, "the stream fed in pieces gives the same lines");
  return 0;
}
