#include "webhooks/delivery_queue.hpp"

#include <algorithm>

namespace tend {

bool DeliveryQueue::push(std::string body) {
  if (body.size() > policy_.max_bytes) {  // could never fit: it goes, nothing else
    ++dropped_;
    return false;
  }
  bool dropped = false;
  // The front stays while it is in flight; the oldest waiting one goes.
  const size_t keep = in_flight_ ? 1 : 0;
  while (queue_.size() > keep &&
         (queue_.size() >= policy_.capacity || bytes_ + body.size() > policy_.max_bytes)) {
    auto oldest = queue_.begin() + static_cast<std::ptrdiff_t>(keep);
    bytes_ -= oldest->size();
    queue_.erase(oldest);
    if (keep == 0) {  // the front was waiting for a retry: the next one starts afresh
      attempts_ = 0;
      retry_at_.reset();
    }
    ++dropped_;
    dropped = true;
  }
  if (queue_.size() >= std::max<size_t>(policy_.capacity, 1) ||
      bytes_ + body.size() > policy_.max_bytes) {
    // Only the one in flight is left and this does not fit beside it: this one goes.
    ++dropped_;
    return false;
  }
  bytes_ += body.size();
  queue_.push_back(std::move(body));
  return !dropped;
}

std::optional<std::string> DeliveryQueue::take(TimePoint now) {
  if (in_flight_ || queue_.empty()) return std::nullopt;
  if (retry_at_ && now < *retry_at_) return std::nullopt;
  retry_at_.reset();
  in_flight_ = true;
  ++attempts_;
  return queue_.front();
}

Duration DeliveryQueue::backoff(int attempt) const {
  Duration d = policy_.initial;
  for (int i = 1; i < attempt && d < policy_.max; ++i) d *= 2;
  return std::min(d, policy_.max);
}

DeliveryQueue::Outcome DeliveryQueue::finished(TimePoint now, int status) {
  in_flight_ = false;
  if (status >= 200 && status <= 299) {
    ++delivered_;
    popFront();
    return Outcome::Delivered;
  }
  if (retryable(status) && attempts_ < policy_.max_attempts) {
    retry_at_ = now + backoff(attempts_);
    return Outcome::RetryLater;
  }
  ++gave_up_;
  popFront();
  return Outcome::GaveUp;
}

std::optional<TimePoint> DeliveryQueue::retryAt() const {
  return in_flight_ ? std::nullopt : retry_at_;
}

void DeliveryQueue::popFront() {
  if (queue_.empty()) return;
  bytes_ -= queue_.front().size();
  queue_.pop_front();
  attempts_ = 0;
  retry_at_.reset();
}

}  // namespace tend
