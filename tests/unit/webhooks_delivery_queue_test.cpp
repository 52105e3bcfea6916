// DeliveryQueue: order, one delivery in flight, retries with backoff, giving up, and the
// bound that drops the oldest, driven by a FakeClock.

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "webhooks/delivery_queue.hpp"

namespace tend {
namespace {

using namespace std::chrono_literals;

DeliveryPolicy smallPolicy() {
  DeliveryPolicy p;
  p.capacity = 3;
  p.max_attempts = 4;
  p.initial = 1s;
  p.max = 3s;
  return p;
}

TEST(DeliveryQueue, SendsInOrderOneAtATime) {
  FakeClock clock;
  DeliveryQueue q(smallPolicy());
  q.push("a");
  q.push("b");
  EXPECT_EQ(q.take(clock.now()), "a");
  // Nothing else while "a" is in flight.
  EXPECT_EQ(q.take(clock.now()), std::nullopt);
  EXPECT_EQ(q.finished(clock.now(), 204), DeliveryQueue::Outcome::Delivered);
  EXPECT_EQ(q.take(clock.now()), "b");
  EXPECT_EQ(q.finished(clock.now(), 200), DeliveryQueue::Outcome::Delivered);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.delivered(), 2u);
}

TEST(DeliveryQueue, RetriesAFailureAfterAnExponentialBackoffCappedAtMax) {
  FakeClock clock;
  DeliveryQueue q(smallPolicy());
  q.push("a");
  q.push("b");
  ASSERT_EQ(q.take(clock.now()), "a");
  EXPECT_EQ(q.finished(clock.now(), 0), DeliveryQueue::Outcome::RetryLater);  // no answer
  EXPECT_EQ(q.retryAt(), clock.now() + 1s);
  // Not before its time, and "b" waits behind it: order is kept.
  EXPECT_EQ(q.take(clock.now()), std::nullopt);
  clock.advance(999ms);
  EXPECT_EQ(q.take(clock.now()), std::nullopt);
  clock.advance(1ms);
  ASSERT_EQ(q.take(clock.now()), "a");
  EXPECT_EQ(q.finished(clock.now(), 503), DeliveryQueue::Outcome::RetryLater);
  EXPECT_EQ(q.retryAt(), clock.now() + 2s);
  clock.advance(2s);
  ASSERT_EQ(q.take(clock.now()), "a");
  EXPECT_EQ(q.finished(clock.now(), 429), DeliveryQueue::Outcome::RetryLater);
  EXPECT_EQ(q.retryAt(), clock.now() + 3s);  // 4 s, capped at 3 s
  clock.advance(3s);
  ASSERT_EQ(q.take(clock.now()), "a");
  EXPECT_EQ(q.attempts(), 4);
  // The fourth attempt was the last.
  EXPECT_EQ(q.finished(clock.now(), 500), DeliveryQueue::Outcome::GaveUp);
  EXPECT_EQ(q.gaveUp(), 1u);
  EXPECT_EQ(q.take(clock.now()), "b");
  EXPECT_EQ(q.attempts(), 1);
}

TEST(DeliveryQueue, GivesUpAtOnceOnAClientError) {
  FakeClock clock;
  DeliveryQueue q(smallPolicy());
  q.push("a");
  ASSERT_EQ(q.take(clock.now()), "a");
  EXPECT_EQ(q.finished(clock.now(), 401), DeliveryQueue::Outcome::GaveUp);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(DeliveryQueue::retryable(404));
  EXPECT_TRUE(DeliveryQueue::retryable(0));
  EXPECT_TRUE(DeliveryQueue::retryable(502));
}

TEST(DeliveryQueue, AFullQueueDropsTheOldestWaitingEventAndCountsIt) {
  FakeClock clock;
  DeliveryQueue q(smallPolicy());
  EXPECT_TRUE(q.push("a"));
  ASSERT_EQ(q.take(clock.now()), "a");  // in flight: never dropped
  EXPECT_TRUE(q.push("b"));
  EXPECT_TRUE(q.push("c"));
  EXPECT_FALSE(q.push("d"));  // drops "b"
  EXPECT_FALSE(q.push("e"));  // drops "c"
  EXPECT_EQ(q.dropped(), 2u);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.finished(clock.now(), 200), DeliveryQueue::Outcome::Delivered);
  EXPECT_EQ(q.take(clock.now()), "d");
  EXPECT_EQ(q.finished(clock.now(), 200), DeliveryQueue::Outcome::Delivered);
  EXPECT_EQ(q.take(clock.now()), "e");
}

TEST(DeliveryQueue, DroppingAFrontThatWaitsForARetryStartsTheNextAfresh) {
  FakeClock clock;
  DeliveryPolicy p = smallPolicy();
  p.capacity = 2;
  DeliveryQueue q(p);
  q.push("a");
  ASSERT_EQ(q.take(clock.now()), "a");
  q.finished(clock.now(), 0);  // waits 1 s for its retry
  q.push("b");
  EXPECT_FALSE(q.push("c"));  // "a" goes
  EXPECT_EQ(q.retryAt(), std::nullopt);
  EXPECT_EQ(q.take(clock.now()), "b");
  EXPECT_EQ(q.attempts(), 1);
}

TEST(DeliveryQueue, BoundsTheBytesToo) {
  FakeClock clock;
  DeliveryPolicy p = smallPolicy();
  p.capacity = 100;
  p.max_bytes = 10;
  DeliveryQueue q(p);
  q.push("12345");
  q.push("67890");
  EXPECT_FALSE(q.push("abc"));  // drops "12345"
  EXPECT_EQ(q.take(clock.now()), "67890");
  // An event bigger than the whole bound is dropped itself.
  EXPECT_FALSE(q.push(std::string(11, 'x')));
  EXPECT_EQ(q.dropped(), 2u);
}

}  // namespace
}  // namespace tend
