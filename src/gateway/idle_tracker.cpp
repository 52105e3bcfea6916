#include "gateway/idle_tracker.hpp"

#include <cassert>
#include <utility>

namespace tend {

struct IdleTracker::State {
  State(const Clock& c, Duration timeout)
      : clock(c), idle_timeout(timeout), last_activity(c.now()) {}
  const Clock& clock;
  Duration idle_timeout;
  TimePoint last_activity;
  int in_flight = 0;
  int streams = 0;
  uint64_t requests = 0;
  int64_t last_request_wall_ms = 0;
  std::function<void()> on_idle;
};

IdleTracker::IdleTracker(const Clock& clock, Duration idle_timeout)
    : state_(std::make_shared<State>(clock, idle_timeout)) {}

IdleTracker::~IdleTracker() {
  // Guards that outlive the tracker must not call back into whoever owned it.
  state_->on_idle = nullptr;
}

IdleTracker::ActivityGuard::ActivityGuard(std::shared_ptr<State> state, Kind kind)
    : state_(std::move(state)), kind_(kind) {
  state_->last_activity = state_->clock.now();
  if (kind_ == Kind::Request) {
    ++state_->in_flight;
    ++state_->requests;
    state_->last_request_wall_ms = state_->clock.wallMillis();
  } else {
    ++state_->streams;
  }
}

IdleTracker::ActivityGuard::ActivityGuard(ActivityGuard&& other) noexcept
    : state_(std::move(other.state_)), kind_(other.kind_) {}

IdleTracker::ActivityGuard& IdleTracker::ActivityGuard::operator=(ActivityGuard&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    kind_ = other.kind_;
  }
  return *this;
}

void IdleTracker::ActivityGuard::release() {
  if (!state_) return;
  auto state = std::move(state_);  // state_ is empty from here: release() is idempotent
  int& count = kind_ == Kind::Request ? state->in_flight : state->streams;
  assert(count > 0);
  --count;
  state->last_activity = state->clock.now();
  if (state->in_flight == 0 && state->streams == 0 && state->on_idle) {
    auto on_idle = state->on_idle;  // a copy: the callback may replace it
    on_idle();
  }
}

IdleTracker::ActivityGuard IdleTracker::beginRequest() {
  return ActivityGuard(state_, Kind::Request);
}

IdleTracker::ActivityGuard IdleTracker::beginStream() {
  return ActivityGuard(state_, Kind::Stream);
}

void IdleTracker::setOnIdle(std::function<void()> on_idle) {
  state_->on_idle = std::move(on_idle);
}

void IdleTracker::touch() {
  state_->last_activity = state_->clock.now();
}

void IdleTracker::setIdleTimeout(Duration idle_timeout) {
  state_->idle_timeout = idle_timeout;
}

Duration IdleTracker::idleTimeout() const {
  return state_->idle_timeout;
}

int IdleTracker::inFlight() const {
  return state_->in_flight;
}

int IdleTracker::openStreams() const {
  return state_->streams;
}

uint64_t IdleTracker::requests() const {
  return state_->requests;
}

int64_t IdleTracker::lastRequestWallMs() const {
  return state_->last_request_wall_ms;
}

bool IdleTracker::mayStop() const {
  auto next = nextCheck();
  return next && state_->clock.now() >= *next;
}

std::optional<TimePoint> IdleTracker::nextCheck() const {
  if (state_->in_flight > 0 || state_->streams > 0) return std::nullopt;
  return state_->last_activity + state_->idle_timeout;
}

}  // namespace tend
