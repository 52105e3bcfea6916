#include "api/connection_slots.hpp"

#include <utility>

namespace tend {

ConnectionSlots::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_) {}

ConnectionSlots::Slot& ConnectionSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

ConnectionSlots::Slot::~Slot() {
  release();
}

void ConnectionSlots::Slot::release() {
  if (owner_) owner_->remove(id_);
  owner_ = nullptr;
}

void ConnectionSlots::Slot::onEvict(std::function<void()> evict) {
  if (!owner_) return;
  if (auto it = owner_->entries_.find(id_); it != owner_->entries_.end())
    it->second.evict = std::move(evict);
}

void ConnectionSlots::Slot::authenticated() {
  if (!owner_) return;
  auto it = owner_->entries_.find(id_);
  if (it == owner_->entries_.end() || it->second.authenticated) return;
  owner_->setWaiting(it->second, id_, false);
  it->second.authenticated = true;
  --owner_->unauthenticated_;
}

bool ConnectionSlots::Slot::isAuthenticated() const {
  if (!owner_) return false;
  auto it = owner_->entries_.find(id_);
  return it != owner_->entries_.end() && it->second.authenticated;
}

void ConnectionSlots::Slot::waiting(bool yes) {
  if (!owner_) return;
  if (auto it = owner_->entries_.find(id_); it != owner_->entries_.end())
    owner_->setWaiting(it->second, id_, yes);
}

void ConnectionSlots::setWaiting(Entry& entry, uint64_t id, bool yes) {
  if (entry.authenticated) {
    entry.waiting = yes;
    return;
  }
  if (entry.waiting) waiting_.erase(entry.in_waiting);
  entry.waiting = yes;
  // Back of the line: the oldest waiting is the one that has waited longest since its last
  // request (or its connect).
  if (yes) entry.in_waiting = waiting_.insert(waiting_.end(), id);
}

void ConnectionSlots::remove(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;  // evicted already
  if (!it->second.authenticated) {
    if (it->second.waiting) waiting_.erase(it->second.in_waiting);
    --unauthenticated_;
  }
  entries_.erase(it);
}

bool ConnectionSlots::evictOldestWaiting() {
  if (waiting_.empty()) return false;
  uint64_t victim = waiting_.front();
  std::function<void()> evict = std::move(entries_[victim].evict);
  remove(victim);  // its slot is free now; the slot object's own release finds nothing
  if (evict) evict();
  return true;
}

std::optional<ConnectionSlots::Slot> ConnectionSlots::admit() {
  while (unauthenticated_ >= limits_.unauthenticated || entries_.size() >= limits_.total)
    if (!evictOldestWaiting()) return std::nullopt;
  const uint64_t id = next_id_++;
  Entry& entry = entries_[id];
  entry.in_waiting = waiting_.insert(waiting_.end(), id);
  ++unauthenticated_;
  return Slot(this, id);
}

}  // namespace tend
