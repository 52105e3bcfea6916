#pragma once
// ConnectionSlots: who may hold the HTTP API's connections, so that clients without a token
// cannot crowd out those with one. Pure bookkeeping: no sockets (the API closes what it is
// told to close).
//
// A connection is unauthenticated until it sends a request with a valid token or session
// cookie. Unauthenticated connections share a small cap of their own; authenticated ones
// only count against the total. When a new connection finds no room (the unauthenticated
// cap, or the total, is full), the unauthenticated connection that has been waiting for a
// request the longest is closed to make room (its `evict` callback is called); only when
// none is waiting (each is in the middle of a request) is the newcomer refused. Closing the
// oldest idle one rather than refusing the newcomer is what keeps token holders served:
// idle sockets opened in bulk can only push each other out, while a client that sends its
// request as soon as it connects (as every real one does) is never the oldest waiting.
//
// Lives on the API's loop thread; not thread-safe. Slots must not outlive their owner.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

namespace tend {

class ConnectionSlots {
 public:
  struct Limits {
    size_t total = 128;
    size_t unauthenticated = 32;
  };

  // One admitted connection's place. Movable; gives the place back when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

    // Called when this connection is closed to make room for a newer one.
    void onEvict(std::function<void()> evict);
    // It sent a request with a valid token or cookie: no longer capped, never evicted.
    void authenticated();
    bool isAuthenticated() const;
    // Waiting for a request (true) or handling one (false). Only a waiting unauthenticated
    // connection may be evicted. A new connection is waiting.
    void waiting(bool yes);

   private:
    friend class ConnectionSlots;
    Slot(ConnectionSlots* owner, uint64_t id) : owner_(owner), id_(id) {}
    void release();
    ConnectionSlots* owner_ = nullptr;
    uint64_t id_ = 0;
  };

  explicit ConnectionSlots(Limits limits) : limits_(limits) {}
  ConnectionSlots(const ConnectionSlots&) = delete;
  ConnectionSlots& operator=(const ConnectionSlots&) = delete;

  // A new connection's slot, or nullopt when it must be refused (503).
  std::optional<Slot> admit();

  size_t open() const { return entries_.size(); }
  size_t unauthenticated() const { return unauthenticated_; }
  const Limits& limits() const { return limits_; }

 private:
  struct Entry {
    bool authenticated = false;
    bool waiting = true;
    std::list<uint64_t>::iterator in_waiting;  // valid while unauthenticated and waiting
    std::function<void()> evict;
  };
  void remove(uint64_t id);
  void setWaiting(Entry& entry, uint64_t id, bool yes);
  // Closes the unauthenticated connection that has waited longest; false when none waits.
  bool evictOldestWaiting();

  Limits limits_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> waiting_;  // unauthenticated and waiting, oldest first
  size_t unauthenticated_ = 0;
  uint64_t next_id_ = 1;
};

}  // namespace tend
