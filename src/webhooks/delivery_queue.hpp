#pragma once
// DeliveryQueue: the events waiting for one webhook, in order, with at most one delivery in
// flight and the retries of the one at the front. Pure logic: no sockets, no timers; time
// comes in as arguments, so a test drives it with a FakeClock.
//
// Bounded: at most `capacity` events (and `max_bytes` of them); a new event that does not
// fit drops the oldest waiting one (never the one in flight), and the drops are counted.
// An attempt that failed in a way worth repeating (no answer, a timeout, a 5xx or 429) is
// tried again after a backoff (`initial`, doubled each time, capped at `max`) until
// `max_attempts`; then, or at once for another status (a 4xx: the receiver refused it), the
// event is given up. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "common/clock.hpp"

namespace tend {

struct DeliveryPolicy {
  size_t capacity = 1000;
  size_t max_bytes = 4u << 20;
  int max_attempts = 5;
  Duration initial = std::chrono::seconds(1);
  Duration max = std::chrono::seconds(30);
};

class DeliveryQueue {
 public:
  explicit DeliveryQueue(DeliveryPolicy policy = {}) : policy_(policy) {}

  // Queues an event's body. False when that dropped the oldest waiting event to make room.
  bool push(std::string body);

  // The body to send now: the front, when nothing is in flight and its retry (if any) is
  // due at `now`; it is then in flight until finished(). nullopt otherwise.
  std::optional<std::string> take(TimePoint now);

  enum class Outcome { Delivered, RetryLater, GaveUp };
  // The attempt in flight ended: `status` is the HTTP status (0: no answer: connect error,
  // timeout, TLS failure). Delivered (a 2xx) and GaveUp remove the event.
  Outcome finished(TimePoint now, int status);

  // Whether an attempt ending with `status` is repeated.
  static bool retryable(int status) { return status == 0 || status == 429 || status >= 500; }

  // When the front's next attempt is due; nullopt when none is waiting for a retry.
  std::optional<TimePoint> retryAt() const;
  bool inFlight() const { return in_flight_; }
  size_t size() const { return queue_.size(); }
  bool empty() const { return queue_.empty(); }
  // Attempts made so far of the front event.
  int attempts() const { return attempts_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t gaveUp() const { return gave_up_; }
  uint64_t delivered() const { return delivered_; }
  // The backoff before attempt number `attempt` + 1, after `attempt` failed ones (>= 1).
  Duration backoff(int attempt) const;

 private:
  void popFront();

  DeliveryPolicy policy_;
  std::deque<std::string> queue_;
  size_t bytes_ = 0;
  bool in_flight_ = false;
  int attempts_ = 0;
  std::optional<TimePoint> retry_at_;
  uint64_t dropped_ = 0;
  uint64_t gave_up_ = 0;
  uint64_t delivered_ = 0;
};

}  // namespace tend
