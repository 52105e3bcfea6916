#include "common/repeat_limiter.hpp"

namespace tend {

bool RepeatLimiter::admit(std::string_view key, int64_t now_ms) {
  auto it = windows_.find(std::string(key));
  if (it == windows_.end()) {
    if (windows_.size() >= limits_.max_keys) {
      // Make room from the windows that ended without suppressing anything; a key with a
      // count stays until takeEnded() has reported it.
      std::erase_if(windows_, [&](const auto& w) {
        return w.second.suppressed == 0 && now_ms - w.second.start_ms >= limits_.window_ms;
      });
    }
    std::string stored(windows_.size() >= limits_.max_keys ? kOverflowKey : key);
    it = windows_.try_emplace(std::move(stored), Window{now_ms, 0, 0}).first;
  }
  Window& w = it->second;
  bool ended = now_ms - w.start_ms >= limits_.window_ms;
  if (ended && w.suppressed == 0) {
    w = Window{now_ms, 0, 0};
    ended = false;
  }
  if (!ended && w.written < limits_.burst) {
    ++w.written;
    return true;
  }
  // An ended window with a count is still counted into: takeEnded() reports it first.
  ++w.suppressed;
  return false;
}

std::vector<RepeatLimiter::Suppressed> RepeatLimiter::takeEnded(int64_t now_ms) {
  std::vector<Suppressed> out;
  for (auto it = windows_.begin(); it != windows_.end();) {
    Window& w = it->second;
    if (now_ms - w.start_ms < limits_.window_ms) {
      ++it;
      continue;
    }
    if (w.suppressed == 0) {
      it = windows_.erase(it);
      continue;
    }
    out.push_back({it->first, w.suppressed, now_ms - w.start_ms});
    // A new window begins now, so a flood that goes on is reported once per window.
    w = Window{now_ms, 0, 0};
    ++it;
  }
  return out;
}

std::vector<RepeatLimiter::Suppressed> RepeatLimiter::takeAll(int64_t now_ms) {
  std::vector<Suppressed> out;
  for (const auto& [key, w] : windows_)
    if (w.suppressed > 0) out.push_back({key, w.suppressed, now_ms - w.start_ms});
  windows_.clear();
  return out;
}

}  // namespace tend
