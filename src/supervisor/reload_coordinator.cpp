#include "supervisor/reload_coordinator.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tend {

namespace {

bool settled(Status s) {
  return s != Status::Starting && s != Status::Stopping;
}

}  // namespace

ReloadCoordinator::ReloadCoordinator(std::string app, std::vector<int> slots, int batch,
                                     bool in_place, Duration drain_timeout)
    : app_(std::move(app)),
      todo_(std::move(slots)),
      batch_(std::max(1, batch)),
      in_place_(in_place),
      drain_timeout_(drain_timeout) {}

bool ReloadCoordinator::finished() const {
  return active_.empty() && (failed_ || todo_.empty());
}

bool ReloadCoordinator::draining(int slot) const {
  return std::ranges::any_of(active_, [slot](const Slot& s) {
    return s.slot == slot && (s.phase == Phase::Draining || s.phase == Phase::StoppingOld);
  });
}

bool ReloadCoordinator::replacementServes(int slot) const {
  return std::ranges::any_of(active_, [slot](const Slot& s) {
    return s.slot == slot && s.has_replacement && s.phase != Phase::Aborting;
  });
}

std::vector<int> ReloadCoordinator::replacementSlots() const {
  std::vector<int> out;
  for (const auto& s : active_)
    if (s.has_replacement) out.push_back(s.slot);
  return out;
}

void ReloadCoordinator::fail(const std::string& message) {
  errors_.push_back(message);
  failed_ = true;
  todo_.clear();
}

std::vector<ReloadStep> ReloadCoordinator::abort(const std::string& why) {
  std::vector<ReloadStep> out;
  fail(fmt::format("{}: reload stopped: {}", app_, why));
  for (auto& s : active_) {
    if (s.phase == Phase::Aborting || s.phase == Phase::Done) continue;
    if (s.has_replacement) {
      s.phase = Phase::Aborting;
      out.push_back({ReloadStep::Kind::StopReplacement, s.slot});
    } else {
      s.phase = Phase::Done;  // in place: the instance is left as it is
    }
    out.push_back({ReloadStep::Kind::Undrain, s.slot});
  }
  return out;
}

std::vector<ReloadStep> ReloadCoordinator::advance(
    TimePoint now, const std::function<ReloadSlotView(int slot)>& view) {
  std::vector<ReloadStep> out;
  for (auto& s : active_) progress(s, now, view(s.slot), out);
  std::erase_if(active_, [](const Slot& s) { return s.phase == Phase::Done; });
  while (!failed_ && !todo_.empty() && static_cast<int>(active_.size()) < batch_) {
    const int slot = todo_.front();
    todo_.erase(todo_.begin());
    begin(slot, now, view(slot), out);
  }
  std::erase_if(active_, [](const Slot& s) { return s.phase == Phase::Done; });
  return out;
}

void ReloadCoordinator::begin(int slot, TimePoint now, const ReloadSlotView& v,
                              std::vector<ReloadStep>& out) {
  if (!v.exists) return;  // scaled down meanwhile
  if (v.old_status != Status::Online) {
    out.push_back({ReloadStep::Kind::RestartPlain, slot});  // nothing to keep serving
    return;
  }
  Slot s;
  s.slot = slot;
  s.in_place = in_place_;
  if (s.in_place) {
    s.run_before = v.old_run;
    active_.push_back(s);
    drain(active_.back(), now, v, out);
    return;
  }
  s.has_replacement = true;
  active_.push_back(s);
  out.push_back({ReloadStep::Kind::StartReplacement, slot});
}

// Takes the old instance out of rotation (once) and stops or restarts it once nothing is
// in flight to it, or at the deadline.
void ReloadCoordinator::drain(Slot& s, TimePoint now, const ReloadSlotView& v,
                              std::vector<ReloadStep>& out) {
  if (s.phase != Phase::Draining) {
    s.phase = Phase::Draining;
    s.drain_deadline = now + drain_timeout_;
    out.push_back({ReloadStep::Kind::Drain, s.slot});
  }
  if (v.in_flight > 0 && now < s.drain_deadline) {
    out.push_back({ReloadStep::Kind::PollDrain, s.slot});
    return;
  }
  if (s.in_place) {
    s.phase = Phase::Restarting;
    out.push_back({ReloadStep::Kind::RestartInPlace, s.slot});
  } else {
    s.phase = Phase::StoppingOld;
    out.push_back({ReloadStep::Kind::StopOld, s.slot});
  }
}

void ReloadCoordinator::progress(Slot& s, TimePoint now, const ReloadSlotView& v,
                                 std::vector<ReloadStep>& out) {
  if (s.phase == Phase::Done) return;
  if (!v.exists && s.phase != Phase::Aborting) {  // its slot went (scaled down, new config)
    if (!s.has_replacement) {
      s.phase = Phase::Done;
      out.push_back({ReloadStep::Kind::Undrain, s.slot});
      return;
    }
    s.phase = Phase::Aborting;
    out.push_back({ReloadStep::Kind::StopReplacement, s.slot});
  }
  switch (s.phase) {
    case Phase::Aborting:
      if (v.new_running || !settled(v.new_status)) return;
      out.push_back({ReloadStep::Kind::DiscardReplacement, s.slot});
      s.phase = Phase::Done;
      return;
    case Phase::Starting:
      if (v.new_status == Status::Online) {
        drain(s, now, v, out);
      } else if (v.new_status != Status::Starting) {
        fail(fmt::format(
            "{}[{}]: the new instance did not get ready{}; the old one (pid {}) "
            "keeps running",
            app_, s.slot, v.new_reason.empty() ? "" : " (" + v.new_reason + ")", v.old_pid));
        s.phase = Phase::Aborting;
        out.push_back({ReloadStep::Kind::StopReplacement, s.slot});
      }
      return;
    case Phase::Draining:
      drain(s, now, v, out);
      return;
    case Phase::StoppingOld:
      if (v.old_running || !settled(v.old_status)) return;
      out.push_back({ReloadStep::Kind::SwapIn, s.slot});
      s.phase = Phase::Done;
      return;
    case Phase::Restarting:
      if (!settled(v.old_status)) return;
      s.phase = Phase::Done;
      if (v.old_status == Status::Online && v.old_run != s.run_before) return;
      fail(fmt::format("{}[{}]: did not get back online after the reload's restart{}", app_, s.slot,
                       v.old_reason.empty() ? "" : " (" + v.old_reason + ")"));
      return;
    case Phase::Done:
      return;
  }
}

}  // namespace tend
