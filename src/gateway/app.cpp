#include "gateway/app.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <functional>
#include <optional>

#include "common/duration.hpp"

namespace tend::gateway {

namespace {

using ErrorCode = boost::system::error_code;
using Connected = std::move_only_function<void(ErrorCode, SocketPtr)>;

// Connects to one of `endpoints` within `timeout`; `done` gets the socket (no-delay set)
// or the error (asio::error::timed_out when the time ran out).
void connectWithin(asio::io_context& io, const std::vector<tcp::endpoint>& endpoints,
                   Duration timeout, Connected done) {
  struct Op {
    explicit Op(asio::io_context& io) : socket(io.get_executor()), timer(io) {}
    Socket socket;
    asio::steady_timer timer;
    bool timed_out = false;
    Connected done;
  };
  auto op = std::make_shared<Op>(io);
  op->done = std::move(done);
  op->timer.expires_after(timeout);
  op->timer.async_wait([op](ErrorCode ec) {
    if (ec) return;
    op->timed_out = true;
    ErrorCode ignored;
    op->socket.close(ignored);
  });
  asio::async_connect(op->socket, endpoints, [op](ErrorCode ec, const tcp::endpoint&) {
    op->timer.cancel();
    if (op->timed_out) ec = asio::error::timed_out;
    if (!ec) op->socket.set_option(tcp::no_delay(true), ec);
    op->done(ec, ec ? nullptr : std::make_shared<Socket>(std::move(op->socket)));
  });
}

// A target that refused a connection is passed over for this long (nginx: fail_timeout),
// unless every ready one did.
constexpr auto kDownTime = std::chrono::seconds(1);

// least-cpu, least-memory: how old the supervisor's samples (taken every 2 s) may be before
// they are asked for again, at the next request.
constexpr auto kLoadsMaxAge = std::chrono::seconds(1);

Upstream failure(int status, std::string error) {
  Upstream u;
  u.status = status;
  u.error = std::move(error);
  return u;
}

}  // namespace

App::App(GatewayCore& core, GatewayRoute route)
    : core_(core),
      route_(std::move(route)),
      tracker_(core.clock, route_.idle_timeout),
      start_deadline_(core.io),
      probe_timer_(core.io),
      idle_timer_(core.io),
      pool_timer_(core.io) {
  balancer_.setMode(route_.balance);
  balancer_.setSeed(static_cast<uint64_t>(core.clock.now().time_since_epoch().count()) ^
                    reinterpret_cast<uintptr_t>(this));
  resolveTarget();
}

std::shared_ptr<App> App::create(GatewayCore& core, GatewayRoute route) {
  auto app = std::shared_ptr<App>(new App(core, std::move(route)));
  app->tracker_.setOnIdle([weak = std::weak_ptr<App>(app)] {
    if (auto self = weak.lock()) self->armIdleTimer();
  });
  app->armIdleTimer();
  return app;
}

App::~App() = default;

void App::update(GatewayRoute route) {
  bool target_changed = route.target_host != route_.target_host ||
                        route.target_port != route_.target_port ||
                        route.balanced != route_.balanced;
  route_ = std::move(route);
  tracker_.setIdleTimeout(route_.idle_timeout);
  balancer_.setMode(route_.balance);
  if (target_changed) {
    clearPool();
    verified_ = false;
    balancer_.setReady({}, [](size_t) {});
    targets_.clear();
    resolveTarget();
  } else if (route_.balanced) {
    targetsChanged();  // instances may have been added or removed (tend scale)
  }
}

std::vector<tcp::endpoint> App::endpointsFor(uint16_t port) {
  std::vector<tcp::endpoint> out;
  ErrorCode ec;
  auto address = asio::ip::make_address(route_.target_host, ec);
  if (!ec) {
    out.emplace_back(address, port);
    return out;
  }
  // A name ("localhost"): resolved here, on the loop thread, when a target is added; names
  // of on-demand targets are local ones in practice, answered from /etc/hosts.
  tcp::resolver resolver(core_.io);
  auto results = resolver.resolve(route_.target_host, std::to_string(port), ec);
  if (ec) {
    resolve_error_ = "cannot resolve " + route_.target_host + ": " + ec.message();
    return out;
  }
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

void App::resolveTarget() {
  resolve_error_.clear();
  if (route_.balanced) {
    refreshTargets();
    return;
  }
  // One fixed target: one slot, always ready (whether the app runs is the backend's
  // state, asked by needsStart()).
  const uint16_t port = route_.target_port;
  balancer_.setReady(std::span<const uint16_t>(&port, 1), [](size_t) {});
  targets_.resize(balancer_.slots());
  for (size_t i = 0; i < targets_.size(); ++i) {
    if (balancer_.ready(i)) {
      targets_[i].port = port;
      targets_[i].endpoints = endpointsFor(port);
    }
  }
}

void App::targetsChanged() {
  if (!route_.balanced || closed()) return;
  targets_dirty_ = true;
  if (refresh_posted_) return;
  refresh_posted_ = true;
  asio::post(core_.io, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->refresh_posted_ = false;
    if (!self->targets_dirty_ || self->closed()) return;
    self->refreshTargets();
    // A start waiting for its first ready instance goes on now rather than at its next turn.
    if (self->phase_ == Phase::Probing && self->probe_waiting_ &&
        self->balancer_.readyCount() > 0) {
      self->probe_timer_.cancel();
      self->probe_waiting_ = false;
      self->probe(self->generation_);
    }
  });
}

// The ready set from the backend: targets that left lose their idle pooled connections at
// once (those in flight are closed when their request ends: release()).
void App::refreshTargets() {
  targets_dirty_ = false;
  if (!route_.balanced || closed()) return;
  auto serving = core_.backend.servingTargets(name());
  std::vector<uint16_t> ports;
  ports.reserve(serving.size());
  for (const auto& t : serving) ports.push_back(t.port);
  balancer_.setReady(ports, [this](size_t slot) {
    if (slot < targets_.size()) targets_[slot].pool.clear();
  });
  targets_.resize(balancer_.slots());
  applyWeightsAndLoads(serving);
  for (size_t i = 0; i < targets_.size(); ++i) {
    if (!balancer_.ready(i) || targets_[i].port == balancer_.port(i)) continue;
    targets_[i].port = balancer_.port(i);
    targets_[i].pool.clear();
    targets_[i].endpoints = endpointsFor(targets_[i].port);
  }
}

void App::applyWeightsAndLoads(const std::vector<ServingTarget>& serving) {
  loads_at_ = core_.clock.now();
  for (const auto& t : serving) {
    size_t slot = balancer_.find(t.port);
    if (slot == Balancer::kNone) continue;
    uint32_t weight = 1;
    if (t.instance >= 0 && static_cast<size_t>(t.instance) < route_.weights.size())
      weight = route_.weights[static_cast<size_t>(t.instance)];
    balancer_.setWeight(slot, weight);
    balancer_.setLoad(slot, t.cpu, t.memory);
    targets_[slot].instance = t.instance;
  }
}

void App::refreshLoadsIfStale() {
  if (route_.balance != Balance::LeastCpu && route_.balance != Balance::LeastMemory) return;
  if (core_.clock.now() - loads_at_ >= kLoadsMaxAge) targets_dirty_ = true;
}

int App::instanceOf(const Lease& lease) const {
  if (!route_.balanced) return route_.proxy_only ? -1 : 0;
  if (!lease.active() || lease.slot() >= targets_.size()) return -1;
  return targets_[lease.slot()].instance;
}

Lease App::lease(size_t slot) {
  balancer_.begin(slot);
  return Lease(shared_from_this(), slot, balancer_.epoch(slot));
}

void Lease::release() {
  if (!app_) return;
  app_->endLease(slot_);
  app_.reset();
}

std::string App::targetText() const {
  if (route_.balanced)
    return route_.target_host + " (" + std::to_string(balancer_.readyCount()) +
           " ready instance(s))";
  return route_.target_host + ":" + std::to_string(route_.target_port);
}

std::string App::targetText(size_t slot) const {
  if (slot >= targets_.size()) return targetText();
  return route_.target_host + ":" + std::to_string(targets_[slot].port);
}

bool App::closed() const {
  return shut_down_ || core_.closed;
}

bool App::needsStart() const {
  if (phase_ != Phase::Idle) return true;
  auto state = core_.backend.state(name());
  // A proxy-only route that is online has nothing to wait for: its target either accepts
  // the connection or the request gets a 502 at once (connect()).
  const bool verified = verified_ || route_.proxy_only;
  return !verified || (state != AppRunState::Running && state != AppRunState::Starting);
}

void App::acquire(Done done, bool allow_pooled, uint64_t key) {
  if (closed()) {
    done(failure(503, "the gateway is shutting down"));
    return;
  }
  // The hot path: a live pooled connection says the app runs, without asking the backend.
  if (allow_pooled) {
    Lease pooled;
    if (auto socket = takeIdle(true, pooled, key)) {
      Upstream u;
      u.socket = std::move(socket);
      u.lease = std::move(pooled);
      u.reused = true;
      done(std::move(u));
      return;
    }
  }
  if (!needsStart()) {
    connect(std::move(done), key);
    return;
  }
  if (waiters_.size() >= core_.limits.max_held_requests) {
    done(failure(503, "app '" + name() + "' is starting and too many requests are waiting"));
    return;
  }
  waiters_.push_back(Waiter{std::move(done), key});
  activate();
}

SocketPtr App::takeIdle(bool check_alive, Lease& lease, uint64_t key) {
  if (closed() || phase_ != Phase::Idle || !(verified_ || route_.proxy_only)) return nullptr;
  refreshLoadsIfStale();
  if (targets_dirty_) refreshTargets();
  // The same pick as connect() would make: without a pooled connection there, the request
  // gets a fresh one to that target.
  auto now = core_.clock.now();
  size_t slot = balancer_.pick(now, true, key);
  if (slot == Balancer::kNone) return nullptr;
  SocketPtr socket = takePooled(targets_[slot], check_alive, now);
  if (socket) lease = this->lease(slot);
  return socket;
}

void App::dropPool(size_t slot) {
  if (slot < targets_.size()) targets_[slot].pool.clear();
}

void App::passOver(size_t slot) {
  if (slot < balancer_.slots()) balancer_.markDown(slot, core_.clock.now() + kDownTime);
}

void App::triggerStart() {
  if (closed() || !needsStart()) return;
  activate();
}

void App::connect(Done done, uint64_t key, size_t attempt) {
  if (!resolve_error_.empty()) {
    done(failure(502, "app '" + name() + "': " + resolve_error_));
    return;
  }
  refreshLoadsIfStale();
  if (targets_dirty_) refreshTargets();
  size_t slot = balancer_.pick(core_.clock.now(), true, key);
  if (slot == Balancer::kNone) {
    // No instance serves (they are starting, or were all taken out of service): wait for
    // one as in a cold start.
    verified_ = false;
    acquire(std::move(done), true, key);
    return;
  }
  connectWithin(
      core_.io, targets_[slot].endpoints, core_.limits.upstream_connect_timeout,
      [self = shared_from_this(), done = std::move(done), key, attempt, lease = this->lease(slot)](
          ErrorCode ec, SocketPtr socket) mutable {
        if (!ec) {
          Upstream u;
          u.socket = std::move(socket);
          u.lease = std::move(lease);
          done(std::move(u));
          return;
        }
        const size_t slot = lease.slot();
        lease.release();
        if (self->closed()) {
          done(failure(503, "the gateway is shutting down"));
          return;
        }
        auto state = self->core_.backend.state(self->name());
        // Reset during the handshake: it reached a listener that was closing (a process
        // being killed). Nothing was sent either way.
        const bool refused = ec == asio::error::connection_refused ||
                             ec == asio::error::connection_reset ||
                             ec == asio::error::connection_aborted;
        if (refused && self->route_.proxy_only) {
          // Nothing of tend's runs there: the target is down, and only its owner can help.
          done(failure(502, "app '" + self->name() + "': " + self->targetText(slot) +
                                " refused the connection (a proxy-only route: nothing to start)"));
          return;
        }
        if (refused && state != AppRunState::Running) {
          // Refused while it is (re)starting or stopping: wait for it, as in a cold
          // start, instead of failing.
          self->verified_ = false;
          self->acquire(std::move(done), true, key);
          return;
        }
        if (refused) {
          // Nothing was sent: another ready instance gets the request (nginx's
          // proxy_next_upstream error), and this one is passed over for a moment.
          auto now = self->core_.clock.now();
          self->balancer_.markDown(slot, now + kDownTime);
          if (attempt + 1 < self->balancer_.slots() &&
              self->balancer_.pick(now, false) != Balancer::kNone) {
            self->core_.log.warn(
                "gateway: app '{}' refused a connection on {}; trying another "
                "instance",
                self->name(), self->targetText(slot));
            self->connect(std::move(done), key, attempt + 1);
            return;
          }
          // Every instance refuses while running: it died and the supervisor has not
          // noticed yet. Restart it and hold the request as in a cold start (nothing was
          // sent, so nothing is repeated); start_timeout bounds the wait.
          self->refused();
          self->acquire(std::move(done), true, key);
          return;
        }
        if (ec == asio::error::timed_out) {
          done(failure(504, "app '" + self->name() + "' did not accept a connection on " +
                                self->targetText(slot) + " within " +
                                formatDuration(self->core_.limits.upstream_connect_timeout)));
          return;
        }
        done(failure(502, "app '" + self->name() + "': cannot connect to " +
                              self->targetText(slot) + ": " + ec.message()));
      });
}

void App::refused() {
  if (closed()) return;
  verified_ = false;
  clearPool();
  core_.log.warn("gateway: app '{}' refused a connection on {} while running; restarting it",
                 name(), targetText());
  core_.backend.restartRefused(name());
}

void App::started() {
  if (closed()) return;
  tracker_.touch();
  armIdleTimer();
}

void App::startFailed(const std::string& why) {
  if (closed() || (phase_ != Phase::Starting && phase_ != Phase::Probing)) return;
  // Deferred: the supervisor tells from inside a transition.
  asio::post(core_.io, [weak = weak_from_this(), generation = generation_, why] {
    auto self = weak.lock();
    if (!self || self->closed() || generation != self->generation_) return;
    if (self->phase_ != Phase::Starting && self->phase_ != Phase::Probing) return;
    // Another instance is online: the requests go there.
    if (self->core_.backend.state(self->name()) == AppRunState::Running) return;
    self->core_.log.warn("gateway: app '{}' {}", self->name(), why);
    self->finishActivation();
    self->failWaiters(502, "app '" + self->name() + "' " + why);
  });
}

// --- activation ------------------------------------------------------------------------

void App::activate() {
  if (phase_ != Phase::Idle) return;
  uint64_t generation = ++generation_;
  verified_ = false;
  clearPool();
  activation_began_ = core_.clock.now();
  start_deadline_.expires_after(route_.start_timeout);
  start_deadline_.async_wait([weak = weak_from_this(), generation](ErrorCode ec) {
    auto self = weak.lock();
    if (!ec && self) self->onStartTimeout(generation);
  });
  auto state = core_.backend.state(name());
  if (state == AppRunState::Stopping) {
    phase_ = Phase::WaitingForStop;
    pollStopping(generation);
  } else if (state == AppRunState::Running) {
    phase_ = Phase::Probing;
    probe(generation);
  } else {
    beginStart(generation);
  }
}

void App::pollStopping(uint64_t generation) {
  // A stop takes as long as the app's kill_timeout at most; no need to ask as often as
  // the readiness probe connects.
  probe_timer_.expires_after(std::max<Duration>(core_.limits.ready_probe_interval, Duration(10)));
  probe_timer_.async_wait([weak = weak_from_this(), generation](ErrorCode ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed() || generation != self->generation_) return;
    if (self->core_.backend.state(self->name()) == AppRunState::Stopping) {
      self->pollStopping(generation);
    } else {
      self->beginStart(generation);
    }
  });
}

void App::beginStart(uint64_t generation) {
  phase_ = Phase::Starting;
  ++activations_;
  cold_start_ = true;
  core_.log.info("gateway: starting app '{}' for a request", name());
  // The callback may come at once (inside startApp) or much later, or after a newer
  // activation: the generation tells.
  core_.backend.startApp(name(), [weak = weak_from_this(), generation](std::string error) {
    if (auto self = weak.lock()) self->onStarted(generation, error);
  });
}

void App::onStarted(uint64_t generation, const std::string& error) {
  if (closed() || generation != generation_ || phase_ != Phase::Starting) return;
  if (!error.empty()) {
    core_.log.warn("gateway: app '{}' failed to start: {}", name(), error);
    finishActivation();
    failWaiters(502, "app '" + name() + "' failed to start: " + error);
    return;
  }
  phase_ = Phase::Probing;
  probe(generation);
}

// Connects to the ready targets in turn until one accepts. A balanced app whose instances
// do not serve yet (none online) is asked again at each turn.
void App::probe(uint64_t generation) {
  if (!resolve_error_.empty()) {
    finishActivation();
    failWaiters(502, "app '" + name() + "': " + resolve_error_);
    return;
  }
  if (route_.balanced && (targets_dirty_ || balancer_.readyCount() == 0)) refreshTargets();
  size_t slot = Balancer::kNone;
  for (size_t k = 0; k < balancer_.slots(); ++k) {
    size_t i = (probe_cursor_ + k) % balancer_.slots();
    if (balancer_.ready(i)) {
      slot = i;
      break;
    }
  }
  auto again = [this, generation] {
    probe_waiting_ = true;
    probe_timer_.expires_after(core_.limits.ready_probe_interval);
    probe_timer_.async_wait([weak = weak_from_this(), generation](ErrorCode ec) {
      auto self = weak.lock();
      if (!ec && self && generation == self->generation_ && self->phase_ == Phase::Probing) {
        self->probe_waiting_ = false;
        self->probe(generation);
      }
    });
  };
  if (slot == Balancer::kNone) {
    again();
    return;
  }
  probe_cursor_ = slot + 1;
  auto left = route_.start_timeout -
              std::chrono::duration_cast<Duration>(core_.clock.now() - activation_began_);
  auto attempt = std::clamp<Duration>(left, Duration(1), std::chrono::seconds(1));
  connectWithin(core_.io, targets_[slot].endpoints, attempt,
                [weak = weak_from_this(), generation, slot, again](ErrorCode ec, SocketPtr socket) {
                  auto self = weak.lock();
                  if (!self || self->closed() || generation != self->generation_ ||
                      self->phase_ != Phase::Probing) {
                    return;
                  }
                  if (!ec) {
                    self->onReady(generation, std::move(socket), slot);
                    return;
                  }
                  again();
                });
}

void App::onReady(uint64_t, SocketPtr socket, size_t slot) {
  auto took = std::chrono::duration_cast<Duration>(core_.clock.now() - activation_began_);
  core_.log.info("gateway: app '{}' accepts connections on {} ({} after the first request)", name(),
                 targetText(slot), formatDuration(took));
  if (cold_start_) {
    double seconds = std::chrono::duration<double>(took).count();
    const auto& bounds = Gateway::AppStats::kColdStartBounds;
    size_t bucket = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), seconds) -
                                        bounds.begin());
    ++stats_.cold_starts[bucket];
    stats_.cold_start_seconds += seconds;
  }
  finishActivation();
  verified_ = true;
  tracker_.touch();
  auto waiters = std::move(waiters_);
  waiters_.clear();
  bool first = true;
  for (auto& w : waiters) {
    if (first) {
      first = false;
      Upstream u;
      u.socket = std::move(socket);
      if (balancer_.ready(slot)) u.lease = lease(slot);
      asio::post(core_.io,
                 [done = std::move(w.done), u = std::move(u)]() mutable { done(std::move(u)); });
    } else {
      asio::post(core_.io, [self = shared_from_this(), done = std::move(w.done),
                            key = w.key]() mutable { self->acquire(std::move(done), false, key); });
    }
  }
  armIdleTimer();
}

void App::onStartTimeout(uint64_t generation) {
  if (closed() || generation != generation_ || phase_ == Phase::Idle) return;
  bool started = phase_ == Phase::Probing;
  std::string why = started ? "did not accept connections on " + targetText() + " within "
                            : "did not start within ";
  why += formatDuration(route_.start_timeout);
  core_.log.warn("gateway: app '{}' {}", name(), why);
  finishActivation();
  failWaiters(504, "app '" + name() + "' " + why);
}

void App::addStats(Gateway::AppStats& s) const {
  s.responses = stats_.responses;
  s.idle_stops = stats_.idle_stops;
  s.cold_starts = stats_.cold_starts;
  s.cold_start_seconds = stats_.cold_start_seconds;
  if (!route_.balanced) return;
  for (size_t i = 0; i < balancer_.slots(); ++i) {
    if (!balancer_.ready(i)) continue;
    s.targets.push_back({balancer_.port(i), balancer_.requests(i), balancer_.inFlight(i)});
  }
}

void App::finishActivation() {
  phase_ = Phase::Idle;
  cold_start_ = false;
  ++generation_;  // late probe and start callbacks of this activation are ignored
  start_deadline_.cancel();
  probe_timer_.cancel();
  probe_waiting_ = false;
}

void App::failWaiters(int status, const std::string& error) {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    asio::post(core_.io, [done = std::move(w.done), u = failure(status, error)]() mutable {
      done(std::move(u));
    });
  }
  armIdleTimer();
}

// --- keep-alive pool -------------------------------------------------------------------

SocketPtr App::takePooled(Target& target, bool check_alive, TimePoint now) {
  auto& pool = target.pool;
  while (!pool.empty()) {
    Pooled p = std::move(pool.back());
    pool.pop_back();
    if (now - p.since >= core_.limits.upstream_idle_timeout) continue;
    // Its pending wait completes with operation_aborted, and does nothing.
    ErrorCode ignored;
    p.socket->cancel(ignored);
    if (!check_alive) return std::move(p.socket);
    // A connection the app closed (or wrote to, unasked) while pooled is not reused.
    char byte;
    ssize_t n = ::recv(p.socket->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::move(p.socket);
  }
  return nullptr;
}

void App::watchPooled(size_t slot, const Pooled& pooled) {
  pooled.socket->async_wait(tcp::socket::wait_read,
                            [weak = weak_from_this(), slot, id = pooled.id](ErrorCode ec) {
                              if (ec == asio::error::operation_aborted)
                                return;  // taken for a request, or closed
                              if (auto self = weak.lock()) self->onPooledReadable(slot, id);
                            });
}

// The app closed a pooled connection (EOF or a reset), or sent something nobody asked for
// (an HTTP 408 before it closes, say): the connection cannot be used, so it goes now.
void App::onPooledReadable(size_t slot, uint64_t id) {
  if (slot >= targets_.size()) return;
  auto& pool = targets_[slot].pool;
  auto it = std::find_if(pool.begin(), pool.end(), [id](const Pooled& p) { return p.id == id; });
  if (it != pool.end()) pool.erase(it);  // closes it
}

void App::armPoolTimer() {
  if (pool_timer_armed_ || closed()) return;
  std::optional<TimePoint> oldest;
  for (const auto& t : targets_) {
    for (const auto& p : t.pool) {
      if (!oldest || p.since < *oldest) oldest = p.since;
    }
  }
  if (!oldest) return;
  auto now = core_.clock.now();
  auto at = *oldest + core_.limits.upstream_idle_timeout;
  pool_timer_armed_ = true;
  pool_timer_.expires_after(at > now ? at - now : std::chrono::steady_clock::duration(0));
  pool_timer_.async_wait([weak = weak_from_this()](ErrorCode ec) {
    auto self = weak.lock();
    if (!self) return;
    self->pool_timer_armed_ = false;
    if (!ec) self->onPoolTimer();
  });
}

void App::onPoolTimer() {
  if (closed()) return;
  auto now = core_.clock.now();
  for (auto& t : targets_) {
    std::erase_if(t.pool, [&](const Pooled& p) {
      return now - p.since >= core_.limits.upstream_idle_timeout;
    });
  }
  armPoolTimer();
}

void App::release(SocketPtr socket, Lease& lease) {
  // Only onto a target that still serves, as the same instance it was connected to: a
  // target taken out of service (crashed, scaled away, drained) gets no new requests.
  const bool keep = lease.active() && !closed() && (verified_ || route_.proxy_only) &&
                    core_.limits.max_idle_upstream > 0 && balancer_.ready(lease.slot()) &&
                    balancer_.epoch(lease.slot()) == lease.epoch();
  const size_t slot = lease.slot();
  lease.release();
  if (!keep) return;
  auto& pool = targets_[slot].pool;
  auto now = core_.clock.now();
  std::erase_if(
      pool, [&](const Pooled& p) { return now - p.since >= core_.limits.upstream_idle_timeout; });
  if (pool.size() >= core_.limits.max_idle_upstream) pool.erase(pool.begin());
  pool.push_back(Pooled{std::move(socket), now, ++pooled_ids_});
  watchPooled(slot, pool.back());
  armPoolTimer();
}

void App::clearPool() {
  for (auto& t : targets_) t.pool.clear();
}

// --- idle stop -------------------------------------------------------------------------

// One timer per app. It is armed when the app has nothing open, for the moment its idle
// time would be over; activity in between only moves that moment later, so on firing it
// looks again and re-arms instead of being re-armed by every request. With something
// open it stays off until the tracker's on-idle callback (the last guard released).
void App::armIdleTimer() {
  if (closed() || idle_timer_armed_) return;
  auto next = tracker_.nextCheck();
  if (!next) return;
  auto now = core_.clock.now();
  idle_timer_armed_ = true;
  idle_timer_.expires_after(*next > now ? *next - now : std::chrono::steady_clock::duration(0));
  idle_timer_.async_wait([weak = weak_from_this()](ErrorCode ec) {
    auto self = weak.lock();
    if (!self) return;
    self->idle_timer_armed_ = false;
    if (!ec) self->onIdleTimer();
  });
}

void App::onIdleTimer() {
  if (closed()) return;
  if (phase_ == Phase::Idle && tracker_.mayStop() && !route_.proxy_only) {
    if (core_.backend.state(name()) == AppRunState::Running) {
      core_.log.info("gateway: app '{}' has been idle for {}; stopping it", name(),
                     formatDuration(route_.idle_timeout));
      verified_ = false;
      clearPool();
      ++stats_.idle_stops;
      core_.backend.stopIdle(name());
    }
    // Look again one idle_timeout from now: an app started by someone else is stopped too.
    tracker_.touch();
  }
  armIdleTimer();
}

void App::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  ++generation_;
  start_deadline_.cancel();
  probe_timer_.cancel();
  idle_timer_.cancel();
  pool_timer_.cancel();
  tracker_.setOnIdle(nullptr);
  clearPool();
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    asio::post(core_.io, [done = std::move(w.done)]() mutable {
      done(failure(503, "the gateway is shutting down or the app's route was removed"));
    });
  }
}

}  // namespace tend::gateway
