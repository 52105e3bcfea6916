#include "logs/line_splitter.hpp"

namespace tend {

void LineSplitter::feed(std::string_view bytes, const Sink& sink) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    std::string_view chunk = nl == std::string_view::npos ? bytes : bytes.substr(0, nl);
    // Emit whole max_line pieces of an over-long line as they fill up.
    while (partial_.size() + chunk.size() >= max_line_ &&
           !(nl != std::string_view::npos && partial_.size() + chunk.size() == max_line_)) {
      size_t take = max_line_ - partial_.size();
      partial_.append(chunk.substr(0, take));
      sink(partial_);
      partial_.clear();
      chunk.remove_prefix(take);
      cut_ = true;
    }
    if (!chunk.empty()) cut_ = false;
    if (nl == std::string_view::npos) {
      partial_.append(chunk);
      return;
    }
    if (!partial_.empty()) {
      partial_.append(chunk);
      sink(partial_);
      partial_.clear();
    } else if (!cut_) {
      sink(chunk);
    }
    // else: the newline of a line already passed on whole, in pieces of max_line.
    cut_ = false;
    bytes.remove_prefix(nl + 1);
  }
}

void LineSplitter::finish(const Sink& sink) {
  if (!partial_.empty()) sink(partial_);
  partial_.clear();
  cut_ = false;
}

}  // namespace tend
