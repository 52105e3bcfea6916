#pragma once
// Internal to src/gateway/. Balancer: which of an app's instances gets the next upstream
// connection. Pure bookkeeping, no I/O: the App owns one and tells it the ready set (the
// ports of the instances that serve, from GatewayBackend::servingPorts()), and each request
// that goes to a target (begin/end).
//
// Targets live in slots that keep their index while the ready set changes: a port that
// stays keeps its slot (and its in-flight count); a port that leaves leaves its slot not
// ready (its epoch moves on, so a connection that was in flight on it is not pooled
// again); a new port takes a slot that is not ready and has nothing in flight, else a new
// one. So a request in flight can always name its target by index.
//
// pick() is a scan of the slots from a cursor, without allocating:
//   round-robin: the next ready slot after the last one picked (as nginx's default);
//   least-conn:  the ready slot with the fewest requests in flight, ties in round-robin
//                order (as nginx's least_conn).
// A slot marked down (it refused a connection) is passed over until its time is up, unless
// every ready slot is down.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "common/clock.hpp"
#include "gateway/backend.hpp"

namespace tend::gateway {

class Balancer {
 public:
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();

  explicit Balancer(Balance mode = Balance::RoundRobin) : mode_(mode) {}

  void setMode(Balance mode) { mode_ = mode; }
  Balance mode() const { return mode_; }

  // Makes `ports` (0 and duplicates ignored) the ready set. `left(slot)` is called for each
  // slot whose port left it. Allocates only when a slot is added.
  template <typename Left>
  void setReady(std::span<const uint16_t> ports, Left&& left) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (!s.ready || contains(ports, s.port)) continue;
      s.ready = false;
      ++s.epoch;
      --ready_count_;
      left(i);
    }
    for (uint16_t port : ports) {
      if (port == 0) continue;
      if (size_t i = find(port); i != kNone) {
        if (!slots_[i].ready) makeReady(slots_[i], port);
        continue;
      }
      size_t free = kNone;
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].ready && slots_[i].in_flight == 0) {
          free = i;
          break;
        }
      }
      if (free == kNone) {
        free = slots_.size();
        slots_.emplace_back();
      }
      makeReady(slots_[free], port);
    }
  }
  void setReady(std::span<const uint16_t> ports) {
    setReady(ports, [](size_t) {});
  }

  // The slot the next request would go to: kNone when nothing is ready. With `allow_down`
  // false, never a slot marked down (kNone when every ready one is).
  size_t pick(TimePoint now, bool allow_down = true) const {
    if (ready_count_ == 0) return kNone;
    size_t found = scan(now, false);
    if (found == kNone && allow_down) found = scan(now, true);
    return found;
  }
  // A request goes to `slot` (as picked): counts it in flight, and moves the cursor past it.
  void begin(size_t slot) {
    Slot& s = slots_[slot];
    ++s.in_flight;
    ++s.requests;
    cursor_ = slot + 1;
  }
  // The request that began on `slot` ended.
  void end(size_t slot) {
    if (slot < slots_.size() && slots_[slot].in_flight > 0) --slots_[slot].in_flight;
  }
  // `slot` refused a connection: pass it over until `until`.
  void markDown(size_t slot, TimePoint until) {
    if (slot < slots_.size()) slots_[slot].down_until = until;
  }

  size_t slots() const { return slots_.size(); }
  size_t readyCount() const { return ready_count_; }
  bool ready(size_t slot) const { return slot < slots_.size() && slots_[slot].ready; }
  uint16_t port(size_t slot) const { return slots_[slot].port; }
  uint32_t epoch(size_t slot) const { return slots_[slot].epoch; }
  uint32_t inFlight(size_t slot) const { return slots_[slot].in_flight; }
  uint64_t requests(size_t slot) const { return slots_[slot].requests; }
  // The slot of `port`, ready or not; kNone when it has none.
  size_t find(uint16_t port) const {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].port == port) return i;
    return kNone;
  }

 private:
  struct Slot {
    uint16_t port = 0;
    bool ready = false;
    uint32_t epoch = 0;  // moves on each time the port leaves the ready set
    uint32_t in_flight = 0;
    uint64_t requests = 0;
    TimePoint down_until{};
  };

  static bool contains(std::span<const uint16_t> ports, uint16_t port) {
    for (uint16_t p : ports)
      if (p == port) return true;
    return false;
  }

  void makeReady(Slot& s, uint16_t port) {
    if (s.port != port) {
      s.port = port;
      s.requests = 0;
    }
    s.ready = true;
    s.down_until = {};
    ++ready_count_;
  }

  size_t scan(TimePoint now, bool allow_down) const {
    const size_t n = slots_.size();
    size_t start = cursor_ >= n ? 0 : cursor_;
    size_t best = kNone;
    for (size_t k = 0; k < n; ++k) {
      size_t i = start + k < n ? start + k : start + k - n;
      const Slot& s = slots_[i];
      if (!s.ready || (!allow_down && s.down_until > now)) continue;
      if (mode_ == Balance::RoundRobin) return i;
      if (best == kNone || s.in_flight < slots_[best].in_flight) best = i;
    }
    return best;
  }

  std::vector<Slot> slots_;
  size_t cursor_ = 0;
  size_t ready_count_ = 0;
  Balance mode_;
};

}  // namespace tend::gateway
