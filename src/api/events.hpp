#pragma once
// EventHub: fans the daemon's events (instance state changes, restarts, gateway activations
// and idle stops, log lines) out to the HTTP API's event streams (SSE and WebSocket).
//
// Each subscriber has a bounded queue. publish() never blocks and never waits for a client:
// an event that does not fit a subscriber's queue marks that subscriber overflowed (its
// session then closes it: a slow client is dropped, not waited for). A subscriber may filter
// by app name and by event type.
//
// Events are JSON objects with at least "type" and "time" (wall ms), and "app" when about
// one app. Lives on the daemon's loop thread; not thread-safe.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace tend {

class EventHub {
 public:
  struct Filter {
    std::string app;                 // empty: every app
    std::vector<std::string> types;  // empty: every type; else "type" or "event" is one
    bool matches(const nlohmann::json& event) const;
  };

  class Subscriber {
   public:
    Subscriber(Filter filter, size_t max_events, size_t max_bytes)
        : filter_(std::move(filter)), max_events_(max_events), max_bytes_(max_bytes) {}
    // Queued events (each one compact JSON text), oldest first.
    bool empty() const { return queue_.empty(); }
    std::string pop();
    // The queue overflowed: events were lost, the client is too slow.
    bool overflowed() const { return overflowed_; }
    // Called after an event was queued (the session starts writing).
    void setNotify(std::function<void()> notify) { notify_ = std::move(notify); }
    const Filter& filter() const { return filter_; }

   private:
    friend class EventHub;
    void push(std::string text);

    Filter filter_;
    size_t max_events_;
    size_t max_bytes_;
    size_t bytes_ = 0;
    bool overflowed_ = false;
    std::deque<std::string> queue_;
    std::function<void()> notify_;
  };

  static constexpr size_t kMaxQueuedEvents = 2000;
  static constexpr size_t kMaxQueuedBytes = 4 << 20;
  static constexpr size_t kMaxSubscribers = 64;

  explicit EventHub(const Clock& clock) : clock_(clock) {}

  // nullptr when kMaxSubscribers are already subscribed. The hub keeps a weak reference:
  // dropping the returned pointer unsubscribes.
  std::shared_ptr<Subscriber> subscribe(Filter filter, size_t max_events = kMaxQueuedEvents,
                                        size_t max_bytes = kMaxQueuedBytes);
  // Adds "time" when missing and queues the event for every subscriber it matches; then
  // hands it to the tap (the webhooks), if any.
  void publish(nlohmann::json event);
  // Called with every published event (after "time" is added); must not block.
  void setTap(std::function<void(const nlohmann::json& event)> tap) { tap_ = std::move(tap); }
  // Whether anyone would receive an event of `type` about `app` (so that log lines are not
  // turned into JSON for nobody).
  bool wants(const std::string& type, const std::string& app) const;
  size_t subscribers() const;

 private:
  const Clock& clock_;
  std::vector<std::weak_ptr<Subscriber>> subscribers_;
  std::function<void(const nlohmann::json& event)> tap_;
};

}  // namespace tend
