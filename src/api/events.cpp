#include "api/events.hpp"

#include <algorithm>

namespace tend {

bool EventHub::Filter::matches(const nlohmann::json& event) const {
  if (!app.empty()) {
    auto it = event.find("app");
    if (it == event.end() || !it->is_string() || it->get_ref<const std::string&>() != app)
      return false;
  }
  if (!types.empty()) {
    auto listed = [&](const char* field) {
      auto it = event.find(field);
      return it != event.end() && it->is_string() &&
             std::find(types.begin(), types.end(), it->get_ref<const std::string&>()) !=
                 types.end();
    };
    if (!listed("type") && !listed("event")) return false;
  }
  return true;
}

std::string EventHub::Subscriber::pop() {
  std::string text = std::move(queue_.front());
  queue_.pop_front();
  bytes_ -= text.size();
  return text;
}

void EventHub::Subscriber::push(std::string text) {
  if (overflowed_) return;
  if (queue_.size() >= max_events_ || bytes_ + text.size() > max_bytes_) {
    overflowed_ = true;
    queue_.clear();
    bytes_ = 0;
  } else {
    bytes_ += text.size();
    queue_.push_back(std::move(text));
  }
  if (notify_) notify_();
}

std::shared_ptr<EventHub::Subscriber> EventHub::subscribe(Filter filter, size_t max_events,
                                                          size_t max_bytes) {
  std::erase_if(subscribers_, [](const auto& w) { return w.expired(); });
  if (subscribers_.size() >= kMaxSubscribers) return nullptr;
  auto s = std::make_shared<Subscriber>(std::move(filter), max_events, max_bytes);
  subscribers_.push_back(s);
  return s;
}

void EventHub::publish(nlohmann::json event) {
  if (!event.contains("time")) event["time"] = clock_.wallMillis();
  std::string text;
  // Copied first: a notify may end a session, which drops its subscription.
  auto subscribers = subscribers_;
  for (const auto& weak : subscribers) {
    auto s = weak.lock();
    if (!s || !s->filter().matches(event)) continue;
    if (text.empty()) text = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    s->push(text);
  }
  if (tap_) tap_(event);
}

bool EventHub::wants(const std::string& type, const std::string& app) const {
  for (const auto& weak : subscribers_) {
    auto s = weak.lock();
    if (!s) continue;
    const Filter& f = s->filter();
    if (!f.app.empty() && f.app != app) continue;
    if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), type) == f.types.end())
      continue;
    return true;
  }
  return false;
}

size_t EventHub::subscribers() const {
  size_t n = 0;
  for (const auto& w : subscribers_) n += w.expired() ? 0 : 1;
  return n;
}

}  // namespace tend
