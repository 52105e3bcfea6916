#pragma once
// Internal to src/gateway/. App: one on-demand app as the gateway sees it. It hands out
// connections to the app (from a keep-alive pool, or fresh) on the target its Balancer
// picks (on_demand.target, or one of the app's ready instances), starts the app through the
// backend when it does not run and holds every request meanwhile (a bounded queue), checks
// readiness by connecting to the target every few ms, and asks for the app to be stopped
// once its IdleTracker says it has been idle (one timer per app).
//
// Activation, once per start:
//   Stopping -> wait (polling the backend) until it has stopped, then start it
//   Stopped/Failed -> backend.startApp(); done(error) -> 502 to all held requests
//   done("") or already Running -> connect to the target every ready_probe_interval until
//     it accepts (the first held request gets that connection), or start_timeout -> 504;
//     an app whose targets are its instances tries again at once when the set of ready
//     instances changes (targetsChanged()), without waiting for the next turn
//   startFailed(why) while Starting or probing, and no instance online -> 502 at once to
//     all held requests, with `why` (the process exited before it was ready, or is between
//     crash restarts): they are not held until start_timeout
//
// Lives on the io_context thread; owned by shared_ptr (the core's map, and sessions that
// use it). After shutdown() it hands out nothing and calls nothing.

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/balancer.hpp"
#include "gateway/core.hpp"
#include "gateway/idle_tracker.hpp"

namespace tend::gateway {

class App : public std::enable_shared_from_this<App> {
 public:
  using Done = std::function<void(Upstream)>;

  // Starts the idle timer: an app found running is stopped after idle_timeout unused.
  static std::shared_ptr<App> create(GatewayCore& core, GatewayRoute route);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  const std::string& name() const { return route_.app; }
  const GatewayRoute& route() const { return route_; }
  // The same app with changed settings (a new config).
  void update(GatewayRoute route);

  // Calls `done` exactly once with a connection to the app or an error: at once (maybe
  // before returning) when the app runs, else once it is ready or its start failed. With
  // `allow_pooled` false, never a pooled connection (a retry after a stale one). The
  // connection goes to the target the balancer picks; one that refuses it is passed over
  // for another ready one (see connect()).
  // `key` is the client's (Balancer::hashKey() of its address), for ip-hash.
  void acquire(Done done, bool allow_pooled = true, uint64_t key = 0);
  // The hot path of acquire(): a pooled keep-alive connection to the target the balancer
  // picks, when the app runs and one is there (then `lease` holds that target), else
  // nullptr (then call acquire()). Allocates nothing. With `check_alive` a connection the
  // app has closed meanwhile is passed over (one recv(MSG_PEEK) each); without, the caller
  // must be able to retry on a fresh connection when it finds it dead (see dropPool()).
  SocketPtr takeIdle(bool check_alive, Lease& lease, uint64_t key = 0);
  // A response head came back on `lease`'s target `took` after the request went out (for
  // least-time).
  void observe(const Lease& lease, std::chrono::microseconds took) {
    if (lease.active() && balancer_.ready(lease.slot()) &&
        balancer_.epoch(lease.slot()) == lease.epoch())
      balancer_.observe(lease.slot(), took);
  }
  // The TEND_INSTANCE of `lease`'s target (0 for an app's one target; -1 when unknown or
  // a proxy-only route), for the access log.
  int instanceOf(const Lease& lease) const;
  // Whether the client's key matters to the pick (ip-hash): else the caller need not
  // compute it.
  bool wantsClientKey() const { return route_.balance == Balance::IpHash; }
  // A connection pooled for target `slot` turned out dead: the others pooled with it likely
  // are too.
  void dropPool(size_t slot);
  // An instance that closed a connection without answering: the balancer passes it over
  // for a moment, as for one that refused a connection.
  void passOver(size_t slot);
  // The set of ready instances may have changed (the supervisor said so): it is asked for
  // again soon after, not from inside the caller.
  void targetsChanged();
  // Requests in flight to `port`, ready target or not (see Gateway::inFlightTo).
  size_t inFlightTo(uint16_t port) const {
    size_t n = 0;
    for (size_t i = 0; i < balancer_.slots(); ++i)
      if (balancer_.port(i) == port) n += balancer_.inFlight(i);
    return n;
  }
  // Whether a request now would wait for a start (for the loading page).
  bool needsStart() const;
  // Starts the app without holding a request (the loading page was shown instead).
  void triggerStart();
  // A connection after a complete keep-alive exchange: kept for the next request when its
  // target still serves (else closed); the lease ends either way.
  void release(SocketPtr socket, Lease& lease);
  // Lease::release(): the request on `slot` ended.
  void endLease(size_t slot) { balancer_.end(slot); }
  // The app refused a connection: 502 for that request (the caller's), restart the app, and
  // hold the next requests as in a cold start.
  void refused();
  // The app was started by someone else: its idle time counts from now.
  void started();
  // An instance of the app failed before it got online (see
  // Gateway::startFailed): during an activation, with no instance online, the held requests
  // get 502 with `why` (deferred: not from inside the caller).
  void startFailed(const std::string& why);

  IdleTracker& tracker() { return tracker_; }
  uint64_t activations() const { return activations_; }
  // For /metrics (see Gateway::AppStats).
  void countResponse(int status) {
    if (status >= 100 && status < 600) ++stats_.responses[static_cast<size_t>(status / 100 - 1)];
  }
  // Fills the figures kept here into `s`.
  void addStats(Gateway::AppStats& s) const;
  const Balancer& balancer() const { return balancer_; }

  // The route was removed or the gateway closes: held requests get 503, timers stop.
  void shutdown();

 private:
  App(GatewayCore& core, GatewayRoute route);

  enum class Phase { Idle, WaitingForStop, Starting, Probing };
  // An idle keep-alive connection. While pooled it has a wait for readability pending, so
  // the app closing it (or writing to it unasked) is noticed at once and the connection
  // closed, rather than left in CLOSE-WAIT until the next request or the idle timeout.
  struct Pooled {
    SocketPtr socket;
    TimePoint since;
    uint64_t id = 0;  // tells the wait's completion which entry it was for
  };
  // One target (an instance, or on_demand.target), by balancer slot.
  struct Target {
    uint16_t port = 0;
    int instance = -1;  // TEND_INSTANCE of the instance on `port`
    std::vector<tcp::endpoint> endpoints;
    std::vector<Pooled> pool;
  };

  void activate();
  void beginStart(uint64_t generation);
  void pollStopping(uint64_t generation);
  void onStarted(uint64_t generation, const std::string& error);
  void probe(uint64_t generation);
  void onReady(uint64_t generation, SocketPtr socket, size_t slot);
  void onStartTimeout(uint64_t generation);
  void finishActivation();
  void failWaiters(int status, const std::string& error);
  void connect(Done done, uint64_t key, size_t attempt = 0);
  // least-cpu and least-memory: the samples are asked for again when older than this.
  void refreshLoadsIfStale();
  void applyWeightsAndLoads(const std::vector<ServingTarget>& serving);
  Lease lease(size_t slot);
  SocketPtr takePooled(Target& target, bool check_alive, TimePoint now);
  void watchPooled(size_t slot, const Pooled& pooled);
  void onPooledReadable(size_t slot, uint64_t id);
  void armPoolTimer();
  void onPoolTimer();
  void clearPool();
  void resolveTarget();
  void refreshTargets();
  std::vector<tcp::endpoint> endpointsFor(uint16_t port);
  void armIdleTimer();
  void onIdleTimer();
  bool closed() const;
  std::string targetText() const;
  std::string targetText(size_t slot) const;

  GatewayCore& core_;
  GatewayRoute route_;
  IdleTracker tracker_;
  Balancer balancer_;
  std::vector<Target> targets_;  // by balancer slot
  bool targets_dirty_ = false;   // ask the backend for the serving ports before the next pick
  bool refresh_posted_ = false;
  bool probe_waiting_ = false;  // Probing, and the next try waits for probe_timer_
  size_t probe_cursor_ = 0;
  std::string resolve_error_;
  asio::steady_timer start_deadline_;
  asio::steady_timer probe_timer_;
  asio::steady_timer idle_timer_;
  bool idle_timer_armed_ = false;
  // Closes pooled connections unused for upstream_idle_timeout: armed for the oldest one.
  asio::steady_timer pool_timer_;
  bool pool_timer_armed_ = false;
  uint64_t pooled_ids_ = 0;
  struct Waiter {
    Done done;
    uint64_t key = 0;
  };
  std::deque<Waiter> waiters_;
  TimePoint loads_at_{};  // when the samples were last asked for
  Phase phase_ = Phase::Idle;
  uint64_t generation_ = 0;  // one per activation: late callbacks of an old one are ignored
  bool verified_ = false;    // a connection succeeded since the app last (re)started
  bool shut_down_ = false;
  uint64_t activations_ = 0;
  Gateway::AppStats stats_;  // responses, idle stops, cold starts
  bool cold_start_ = false;  // this activation started the app
  TimePoint activation_began_{};
};

}  // namespace tend::gateway
