#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>

#include "api/handlers.hpp"
#include "common/address.hpp"
#include "common/files.hpp"
#include "common/logger.hpp"
#include "common/text.hpp"
#include "daemon/access_log_file.hpp"
#include "daemon/api_service.hpp"
#include "daemon/control_server.hpp"
#include "daemon/gateway_link.hpp"
#include "daemon/lock_file.hpp"
#include "daemon/private_home.hpp"
#include "gateway/gateway.hpp"
#include "gateway/router.hpp"
#include "logs/daemon_log_sink.hpp"
#include "store/state_store.hpp"
#include "supervisor/port_allocator.hpp"
#include "supervisor/spawner.hpp"
#include "supervisor/supervisor.hpp"
#include "webhooks/webhook_dispatcher.hpp"

namespace tend {
namespace asio = boost::asio;

namespace {

// Tells systemd (Type=notify) that the daemon is ready, when it runs under systemd.
void notifySystemd(const char* message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(path));
  ::sendto(fd.get(), message, std::strlen(message), MSG_NOSIGNAL,
           reinterpret_cast<sockaddr*>(&addr), len);
}

// The state database is created 0600 before SQLite opens it: SQLite gives its -wal and
// -shm files the database file's mode. "" or what could not be done.
std::string createDatabasePrivate(const Paths& paths) {
  UniqueFd db(::open(paths.database.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!db) return fmt::format("cannot create {}: {}", paths.database, std::strerror(errno));
  return "";
}

// The gateway's settings, as the last config with a gateway section gave them.
GatewaySection loadGatewaySection(const Paths& paths, Logger& log) {
  auto text = readFile(paths.gateway);
  if (!text) return {};
  auto section = gatewaySectionFrom(nlohmann::json::parse(*text, nullptr, false));
  if (!section) {
    log.warn("{} is not a gateway section ({}); the gateway stays off", paths.gateway,
             section.error());
    return {};
  }
  return *section;
}

// Whether `address` ("host:port") can be listened on now: a bind test, as the listener
// itself would do it (SO_REUSEADDR, so TIME_WAIT does not count as taken).
bool canListen(const std::string& address) {
  auto parsed = parseListenAddress(address);
  if (!parsed) return true;  // malformed: the section's own validation says so
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(parsed->port);
  if (::getaddrinfo(parsed->host.c_str(), port.c_str(), &hints, &found) != 0 || !found)
    return true;  // unresolvable: configure() reports it
  bool free = true;
  for (addrinfo* a = found; a && free; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) continue;
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    free = ::bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0;
  }
  ::freeaddrinfo(found);
  return free;
}

}  // namespace

int runDaemon(const DaemonOptions& options) {
  const Paths& paths = options.paths;
  if (auto err = paths.ensureDirectories(); !err.empty()) {
    std::fprintf(stderr, "tend: %s\n", err.c_str());
    return 1;
  }
  auto lock = LockFile::acquire(paths.lock, paths.pid);
  if (!lock) {
    std::fprintf(stderr, "tend: %s\n", lock.error().c_str());
    return 1;
  }
  // In the background, stdout and stderr are daemon.log too (Client::startDaemon).
  Logger log(std::make_unique<DaemonLogSink>(paths.daemon_log, !options.foreground,
                                             SystemClock::instance()),
             options.foreground, SystemClock::instance());
  // $TEND_HOME and everything in it private, whatever made them before (see private_home.hpp);
  // said once, in one line, when something was wider.
  auto home = makeHomePrivate(paths.home, paths.logs);
  if (!home) {
    log.error("{}", home.error());
    return 1;
  }
  if (std::string said = home->summary(paths.home); !said.empty()) log.warn("{}", said);
  if (home->failed_count > 0)
    log.warn("could not make {} of {} private: {}", home->failed_count, paths.home,
             join(home->failed, ", "));
  if (auto err = createDatabasePrivate(paths); !err.empty()) {
    log.error("{}", err);
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  // Orphaned grandchildren of apps become ours, so they are reaped and a process group
  // empties promptly even where PID 1 does not reap.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Each relayed request holds two descriptors: allow as many as the hard limit does.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  auto store = StateStore::open(paths.database);
  if (!store) {
    log.error("{}", store.error());
    return 1;
  }

  asio::io_context io(1);
  // Signals are registered before any child exists (the supervisor registers SIGCHLD).
  asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  RealProcessOps ops;
  SocketPortProbe probe;
  Supervisor supervisor({io, paths, **store, ops, probe, log, SystemClock::instance()});

  ApiService api(io, paths, supervisor, log);
  // Every named event the hub publishes is POSTed to the config's webhooks too. Tests
  // shorten the queue and the retry backoff (docs/CONFIG.md, "webhooks").
  DeliveryPolicy webhook_policy;
  if (const char* q = std::getenv("TEND_WEBHOOK_QUEUE"); q && *q)
    webhook_policy.capacity = static_cast<size_t>(std::max(1, std::atoi(q)));
  if (const char* r = std::getenv("TEND_WEBHOOK_RETRY_MS"); r && *r)
    webhook_policy.initial = Duration(std::max(1, std::atoi(r)));
  WebhookDispatcher webhooks(io, SystemClock::instance(), log, paths.home + "/webhooks.json",
                             webhook_policy);
  api.hub().setTap([&](const nlohmann::json& event) { webhooks.publish(event); });
  SupervisorBackend supervisor_backend(supervisor);
  EventingBackend backend(supervisor_backend, api.hub());  // activations, idle stops
  GatewaySection gateway_section = loadGatewaySection(paths, log);
  // Before the gateway: its connections may log until the gateway is gone.
  AccessLogFile access_log(paths.logs + "/access.log", gateway_section.access_log_max_size,
                           gateway_section.access_log_max_files, SystemClock::instance(), log);
  Gateway gateway(io, backend, log, SystemClock::instance());
  gateway.setAccessLog(&access_log);
  std::set<std::string> gateway_all_interfaces;  // listeners on every interface, warned about
  auto configureGateway = [&]() -> std::string {
    GatewayConfig config = gatewayConfigFrom(gateway_section, supervisor.snapshots());
    access_log.setRotation(gateway_section.access_log_max_size,
                           gateway_section.access_log_max_files);
    std::string err = gateway.configure(config);
    if (!err.empty()) {
      log.error("gateway: {}", err);
      return err;
    }
    std::vector<std::pair<std::string, std::string>> listeners;
    for (const auto& address : config.listen) listeners.emplace_back("the gateway", address);
    for (const auto& route : config.routes)
      for (const auto& address : route.listen)
        listeners.emplace_back(fmt::format("the gateway (app '{}')", route.app), address);
    for (const auto& warning : newAllInterfacesWarnings(gateway_all_interfaces, listeners))
      log.warn("{}", warning);
    return err;
  };
  supervisor.onAppsChanged([&] { configureGateway(); });
  // An on-demand app started by hand (tend start) is stopped idle_timeout after it came up.
  supervisor.onInstanceOnline([&](const std::string& app) { gateway.appStarted(app); });
  // A reload takes instances out of the gateway's rotation and waits for their requests.
  supervisor.onServingChanged([&](const std::string& app) { gateway.targetsChanged(app); });
  // Requests held for a start that failed (the app exited before it was ready) get 502 now.
  supervisor.onStartFailed(
      [&](const std::string& app, const std::string& why) { gateway.startFailed(app, why); });
  supervisor.countInFlight(
      [&](const std::string& app, uint16_t port) { return gateway.inFlightTo(app, port); });

  bool stopping = false;
  asio::steady_timer exit_timer(io);
  std::unique_ptr<ControlServer> server;
  auto finish = [&] {
    // Give the last replies a moment to reach their clients, then leave the loop.
    exit_timer.expires_after(std::chrono::milliseconds(50));
    exit_timer.async_wait([&](boost::system::error_code) {
      server->close();
      gateway.close();
      api.close();
      webhooks.close();
      io.stop();
    });
  };
  Handlers::Hooks hooks;
  hooks.on_kill = [&] {
    stopping = true;
    finish();
  };
  hooks.configure_gateway = [&](const nlohmann::json& section) -> std::string {
    auto wanted = gatewaySectionFrom(section);
    if (!wanted) return wanted.error();
    std::swap(*wanted, gateway_section);
    if (std::string err = configureGateway(); !err.empty()) {
      std::swap(*wanted, gateway_section);  // keep what worked
      return err;
    }
    if (auto r = writeFileAtomically(
            paths.gateway,
            section.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        !r)
      log.warn("{}", r.error());
    return "";
  };
  hooks.gateway_stats = [&](const std::string& app) {
    nlohmann::json j = nlohmann::json::object();
    auto s = gateway.stats(app);
    if (!s) return j;
    j["in_flight"] = s->in_flight;
    j["open_streams"] = s->open_streams;
    j["requests"] = s->requests;
    j["activations"] = s->activations;
    j["last_request"] = s->last_request_ms ? formatTimestamp(s->last_request_ms) : "";
    j["idle_ms"] =
        s->last_request_ms ? SystemClock::instance().wallMillis() - s->last_request_ms : 0;
    // The ready instances the gateway balances over, when the app has no fixed target.
    nlohmann::json targets = nlohmann::json::array();
    for (const auto& t : s->targets)
      targets.push_back({{"port", t.port}, {"requests", t.requests}, {"in_flight", t.in_flight}});
    j["targets"] = std::move(targets);
    return j;
  };
  hooks.configure_api = [&](const nlohmann::json& section) { return api.configure(section); };
  hooks.configure_webhooks = [&](const nlohmann::json& list) { return webhooks.configure(list); };
  hooks.listen_addresses = [&] {
    return nlohmann::json{{"gateway", {{"listen", gateway_section.listen}}},
                          {"api", {{"listen", api.configuredListen()}}}};
  };
  hooks.address_free = canListen;
  hooks.dashboard_link = [&] { return api.dashboardLink(); };
  Handlers handlers(supervisor, paths, log, std::move(hooks));
  api.start(handlers, gateway);
  server = std::make_unique<ControlServer>(io, handlers, log);
  if (auto err = server->listen(paths.socket); !err.empty()) {
    log.error("{}", err);
    return 1;
  }
  // Written again every few seconds until it works (a daemon started on a full disk).
  bool pid_written = false;
  auto writePid = [&](bool first) {
    auto r = writeFileAtomically(paths.pid, std::to_string(::getpid()) + "\n");
    if (!r && first) log.warn("{}; trying again every 5 s", r.error());
    if (r && !first) log.info("wrote {} at last", paths.pid);
    pid_written = r.has_value();
  };
  writePid(true);

  stop_signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec || stopping) return;
    stopping = true;
    log.info("received {}: stopping every app (they start again with the next daemon)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    supervisor.shutdown(/*forget=*/false, finish);
  });

  // A count of suppressed log lines is written when its window ends, not at the next line;
  // a pid file that could not be written is tried again.
  asio::steady_timer log_timer(io);
  std::function<void()> tickLog = [&] {
    log_timer.expires_after(std::chrono::seconds(5));
    log_timer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      log.tick();
      if (!pid_written) writePid(false);
      tickLog();
    });
  };
  tickLog();

  log.info("daemon started (pid {}) in {}", ::getpid(), paths.home);
  supervisor.restore();
  configureGateway();
  api.restore();
  webhooks.restore();
  notifySystemd("READY=1");
  io.run();
  api.hub().setTap(nullptr);  // the dispatcher goes before the hub

  ::unlink(paths.socket.c_str());
  ::unlink(paths.pid.c_str());
  log.info("daemon stopped");
  return 0;
}

}  // namespace tend
