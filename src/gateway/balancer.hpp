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
// pick() is a scan of the slots from a cursor, without allocating, and changes nothing: the
// same pick again gives the same slot until begin() (which moves the cursor, the random
// draw and the weights on):
//   round-robin:  the next ready slot after the last one picked (as nginx's default);
//   least-conn:   the ready slot with the fewest requests in flight, ties in round-robin
//                 order (as nginx's least_conn);
//   random:       the power of two random choices (nginx's `random two least_conn`): two
//                 ready slots drawn at random (a seeded splitmix64, setSeed()), the one
//                 with fewer in flight;
//   ip-hash:      rendezvous hashing of the client's key (pick(now, allow_down, key)) with
//                 each slot's port: a client stays on its instance while that instance is
//                 ready, and only the clients of an instance that leaves move;
//   weighted:     nginx's smooth weighted round-robin over setWeight() (3 and 1: a a b a);
//   least-cpu,
//   least-memory: the lowest of the last samples given by setLoad(), ties by fewer in
//                 flight, then in round-robin order;
//   least-time:   the lowest EWMA of the response-header time (observe()) times the
//                 requests in flight plus one (nginx's least_time header, Envoy's
//                 latency-aware least-request); a slot with no sample yet counts 0, so a
//                 new instance is tried first.
// A slot marked down (it refused a connection) is passed over until its time is up, unless
// every ready slot is down.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
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
  // false, never a slot marked down (kNone when every ready one is). `key` is the client's
  // (for ip-hash; see hashKey()).
  size_t pick(TimePoint now, bool allow_down = true, uint64_t key = 0) const {
    if (ready_count_ == 0) return kNone;
    size_t found = scan(now, false, key);
    if (found == kNone && allow_down) found = scan(now, true, key);
    return found;
  }
  // A request goes to `slot` (as picked): counts it in flight, and moves the cursor past it
  // (and the random draw, and the weighted round-robin's current weights).
  void begin(size_t slot) {
    Slot& s = slots_[slot];
    ++s.in_flight;
    ++s.requests;
    cursor_ = slot + 1;
    rng_ += kGolden;
    if (mode_ == Balance::Weighted) {
      int64_t total = 0;
      for (Slot& t : slots_) {
        if (!t.ready) continue;
        t.current += t.weight;
        total += t.weight;
      }
      s.current -= total;
    }
  }
  // Seeds the random draw (tests; the App seeds it from the time and its address).
  void setSeed(uint64_t seed) { rng_ = seed; }
  // Instance weight for weighted (at least 1).
  void setWeight(size_t slot, uint32_t weight) {
    if (slot < slots_.size()) slots_[slot].weight = weight == 0 ? 1 : weight;
  }
  // The last CPU (percent) and memory (bytes) sampled of `slot`'s instance.
  void setLoad(size_t slot, double cpu, uint64_t memory) {
    if (slot >= slots_.size()) return;
    slots_[slot].cpu = cpu;
    slots_[slot].memory = memory;
  }
  // A response head came from `slot` `took` after the request went out (least-time).
  void observe(size_t slot, std::chrono::microseconds took) {
    if (slot >= slots_.size()) return;
    Slot& s = slots_[slot];
    double us = std::max<double>(1.0, static_cast<double>(took.count()));
    s.ewma_us = s.ewma_us == 0 ? us : s.ewma_us + kEwmaWeight * (us - s.ewma_us);
  }
  double ewmaMicros(size_t slot) const { return slots_[slot].ewma_us; }
  uint32_t weight(size_t slot) const { return slots_[slot].weight; }
  // A client's key for ip-hash: FNV-1a of its address as text.
  static uint64_t hashKey(std::string_view address) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : address) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
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
    uint32_t weight = 1;
    int64_t current = 0;  // smooth weighted round-robin
    double cpu = 0;
    uint64_t memory = 0;
    double ewma_us = 0;  // 0: no response seen yet
  };

  static constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;
  // Each new response head's share of the moving average.
  static constexpr double kEwmaWeight = 0.3;

  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  static bool contains(std::span<const uint16_t> ports, uint16_t port) {
    for (uint16_t p : ports)
      if (p == port) return true;
    return false;
  }

  void makeReady(Slot& s, uint16_t port) {
    if (s.port != port) {
      s.port = port;
      s.requests = 0;
      s.ewma_us = 0;
      s.cpu = 0;
      s.memory = 0;
      s.weight = 1;
    }
    s.current = 0;
    s.ready = true;
    s.down_until = {};
    ++ready_count_;
  }

  bool eligible(const Slot& s, TimePoint now, bool allow_down) const {
    return s.ready && (allow_down || s.down_until <= now);
  }

  // Whether `a` is a better pick than `b` (a slot scanned later, in round-robin order from
  // the cursor, wins only when strictly better).
  bool better(const Slot& a, const Slot& b) const {
    switch (mode_) {
      case Balance::LeastCpu:
        if (a.cpu != b.cpu) return a.cpu < b.cpu;
        return a.in_flight < b.in_flight;
      case Balance::LeastMemory:
        if (a.memory != b.memory) return a.memory < b.memory;
        return a.in_flight < b.in_flight;
      case Balance::LeastTime: {
        double sa = a.ewma_us * (a.in_flight + 1.0), sb = b.ewma_us * (b.in_flight + 1.0);
        if (sa != sb) return sa < sb;
        return a.in_flight < b.in_flight;
      }
      case Balance::Weighted:
        return a.current + a.weight > b.current + b.weight;
      default:
        return a.in_flight < b.in_flight;
    }
  }

  size_t scan(TimePoint now, bool allow_down, uint64_t key) const {
    const size_t n = slots_.size();
    if (mode_ == Balance::Random) return drawTwo(now, allow_down);
    if (mode_ == Balance::IpHash) {
      size_t best = kNone;
      uint64_t best_score = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!eligible(slots_[i], now, allow_down)) continue;
        uint64_t score = mix(key ^ mix(slots_[i].port));
        if (best == kNone || score > best_score) {
          best = i;
          best_score = score;
        }
      }
      return best;
    }
    // Weighted: in slot order, as nginx does (the first of equals wins).
    size_t start = mode_ == Balance::Weighted || cursor_ >= n ? 0 : cursor_;
    size_t best = kNone;
    for (size_t k = 0; k < n; ++k) {
      size_t i = start + k < n ? start + k : start + k - n;
      const Slot& s = slots_[i];
      if (!eligible(s, now, allow_down)) continue;
      if (mode_ == Balance::RoundRobin) return i;
      if (best == kNone || better(s, slots_[best])) best = i;
    }
    return best;
  }

  // Two eligible slots drawn from rng_, the one with fewer in flight (the first on a tie).
  size_t drawTwo(TimePoint now, bool allow_down) const {
    size_t count = 0;
    for (const Slot& s : slots_) count += eligible(s, now, allow_down) ? 1 : 0;
    if (count == 0) return kNone;
    uint64_t draw = mix(rng_);
    size_t first = static_cast<size_t>(draw % count);
    size_t second = static_cast<size_t>((draw >> 32) % count);
    if (count > 1 && second == first) second = (first + 1) % count;
    size_t a = kNone, b = kNone, seen = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (!eligible(slots_[i], now, allow_down)) continue;
      if (seen == first) a = i;
      if (seen == second) b = i;
      ++seen;
    }
    return slots_[b].in_flight < slots_[a].in_flight ? b : a;
  }

  std::vector<Slot> slots_;
  size_t cursor_ = 0;
  size_t ready_count_ = 0;
  uint64_t rng_ = 0;
  Balance mode_;
};

}  // namespace tend::gateway
