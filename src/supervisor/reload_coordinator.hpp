#pragma once
// ReloadCoordinator: the decisions of one app's `tend reload`, as a pure class in the manner
// of InstanceMachine. It replaces the app's instances `batch` at a time, each keeping its
// port, in one of two ways:
//
//   beside:   a replacement is started next to the old instance (a shared socket, or no
//             port); once it is online the old one is drained (the gateway sends it nothing
//             new, its requests in flight get until the drain deadline), stopped, and the
//             replacement takes its slot. A replacement that does not get online is
//             stopped and discarded, the old instance keeps running, and the reload fails.
//   in place: the old instance (a port of its own) is drained the same way, then restarted
//             on its port; the slot is done once it is online again. One that does not get
//             back online fails the reload, and the slots not begun keep their old process.
//
// The supervisor shows it each slot as it is now (ReloadSlotView) and carries out the steps
// it returns, in order; it calls advance() again after any change of the app's instances
// and when a PollDrain step's timer fires. Time comes in as an argument. Not thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "supervisor/instance_state.hpp"

namespace tend {

// One slot as the supervisor sees it now.
struct ReloadSlotView {
  bool exists = true;  // false when the app no longer has the slot (a new config)
  Status old_status = Status::Online;
  bool old_running = true;
  uint64_t old_run = 0;                 // which spawn the old instance's process is
  Status new_status = Status::Stopped;  // the replacement's (beside only)
  bool new_running = false;
  size_t in_flight = 0;  // the gateway's requests in flight to the old instance
  int old_pid = 0;
  std::string old_reason;  // the instances' last reasons, for the reload's errors
  std::string new_reason;
};

struct ReloadStep {
  enum class Kind {
    RestartPlain,        // the old instance is not online: restart it (nothing to keep up)
    StartReplacement,    // create the slot's replacement and start it
    Drain,               // take the old instance out of the gateway's rotation
    PollDrain,           // call advance() again shortly (requests still in flight)
    StopOld,             // stop the old instance (beside)
    RestartInPlace,      // put the old instance back in rotation and restart it (in place)
    SwapIn,              // the old instance stopped: the replacement takes its slot
    StopReplacement,     // stop the replacement (it failed, or the reload was stopped)
    DiscardReplacement,  // the replacement has stopped: forget it
    Undrain,             // back in the gateway's rotation (the reload left it alone)
  };
  Kind kind;
  int slot = 0;
};

class ReloadCoordinator {
 public:
  // `slots`: the instances to replace, in order. `in_place`: the app's instances have
  // ports of their own. `drain_timeout`: how long requests in flight may hold an old
  // instance (its kill_timeout).
  ReloadCoordinator(std::string app, std::vector<int> slots, int batch, bool in_place,
                    Duration drain_timeout);

  std::vector<ReloadStep> advance(TimePoint now,
                                  const std::function<ReloadSlotView(int slot)>& view);
  // Stops the reload where it is: no slot is begun any more, replacements not yet in their
  // slot are stopped (StopReplacement, then DiscardReplacement from advance()), and the
  // reload fails with `why`.
  std::vector<ReloadStep> abort(const std::string& why);

  // Every slot is done (or abandoned): errors() says whether it worked.
  bool finished() const;
  const std::vector<std::string>& errors() const { return errors_; }
  // The gateway sends no new request to this slot's old instance.
  bool draining(int slot) const;
  // This slot's replacement may take requests once it is online (it is not being stopped).
  bool replacementServes(int slot) const;
  // The slots whose replacement exists (started, not yet discarded or swapped in).
  std::vector<int> replacementSlots() const;

 private:
  enum class Phase { Starting, Draining, StoppingOld, Restarting, Aborting, Done };
  struct Slot {
    int slot = 0;
    Phase phase = Phase::Starting;
    bool in_place = false;
    bool has_replacement = false;
    uint64_t run_before = 0;
    TimePoint drain_deadline{};
  };

  void begin(int slot, TimePoint now, const ReloadSlotView& v, std::vector<ReloadStep>& out);
  void progress(Slot& s, TimePoint now, const ReloadSlotView& v, std::vector<ReloadStep>& out);
  void drain(Slot& s, TimePoint now, const ReloadSlotView& v, std::vector<ReloadStep>& out);
  void fail(const std::string& message);

  std::string app_;
  std::vector<int> todo_;
  std::vector<Slot> active_;
  int batch_;
  bool in_place_;
  Duration drain_timeout_;
  bool failed_ = false;
  std::vector<std::string> errors_;
};

}  // namespace tend
