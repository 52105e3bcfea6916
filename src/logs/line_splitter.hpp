#pragma once
// LineSplitter cuts a byte stream (a child's stdout or stderr) into lines. A line longer
// than `max_line` is passed on in pieces of max_line bytes, so memory stays bounded and
// nothing is dropped. The lines passed on do not depend on how the reads cut the stream.
// Bytes are passed through as they are (binary output included). Not thread-safe.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace tend {

class LineSplitter {
 public:
  using Sink = std::function<void(std::string_view line)>;
  explicit LineSplitter(size_t max_line = 64 * 1024) : max_line_(max_line) {}

  // Feeds bytes; calls `sink` once per complete line (without the '\n').
  void feed(std::string_view bytes, const Sink& sink);
  // End of stream: passes on an unterminated last line, if any.
  void finish(const Sink& sink);
  size_t pending() const { return partial_.size(); }

 private:
  size_t max_line_;
  std::string partial_;
  // The last piece passed on filled max_line without a newline (partial_ is then empty):
  // a newline right after it ends that line, and adds no empty one.
  bool cut_ = false;
};

}  // namespace tend
