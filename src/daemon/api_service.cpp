#include "daemon/api_service.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "api/metrics.hpp"
#include "common/address.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "daemon/gateway_link.hpp"
#include "gateway/router.hpp"

namespace tend {

namespace {

std::string apiStatePath(const Paths& paths) {
  return paths.home + "/api.json";
}

}  // namespace

ApiService::ApiService(boost::asio::io_context& io, const Paths& paths, Supervisor& supervisor,
                       Logger& log)
    : io_(io),
      paths_(paths),
      supervisor_(supervisor),
      log_(log),
      hub_(SystemClock::instance()),
      auth_(SystemClock::instance()),
      started_ms_(SystemClock::instance().wallMillis()) {}

ApiService::~ApiService() {
  close();
}

void ApiService::start(Handlers& handlers, Gateway& gateway) {
  gateway_ = &gateway;
  // The supervisor has one event hook: it feeds both the hub and the gateway, which learns
  // there that an app's serving instances changed (it asks for them after this returns).
  supervisor_.onEvent([this](const nlohmann::json& event) {
    if (const std::string* app = servingChangeOf(event)) gateway_->targetsChanged(*app);
    // A named event goes to the webhooks (the hub's tap) even with no stream open.
    if (hub_.subscribers() > 0 || event.contains("event")) hub_.publish(event);
  });
  supervisor_.onLogLine(
      [this](const std::string& app, int instance, bool err, std::string_view line) {
        if (!hub_.wants("log", app)) return;
        hub_.publish({{"type", "log"},
                      {"app", app},
                      {"instance", instance},
                      {"stream", err ? "err" : "out"},
                      {"line", line}});
      });
  HttpApi::Hooks hooks;
  hooks.metrics = [this] { return metrics(); };
  HttpApiLimits limits;
  // Tests shorten the read timeout (slow clients) without waiting the default 10 s.
  if (const char* t = std::getenv("TEND_API_READ_TIMEOUT_MS"); t && *t)
    limits.read_timeout = Duration(std::max(100, std::atoi(t)));
  http_ = std::make_unique<HttpApi>(io_, handlers, hub_, auth_, log_, std::move(hooks), limits);
}

std::string ApiService::configure(const nlohmann::json& section) {
  if (!http_) return "the API is not started";
  std::vector<std::string> listen;
  if (section.contains("listen") && section["listen"].is_array()) {
    for (const auto& a : section["listen"])
      if (a.is_string()) listen.push_back(a.get<std::string>());
  }
  if (listen.empty()) listen.push_back(kDefaultApiListen);
  std::string token_file = section.value("token_file", "");
  if (token_file.empty()) token_file = paths_.home + "/api.token";
  for (const auto& text : listen) {
    auto a = parseListenAddress(text);
    if (!a) return "api.listen: '" + text + "' is not host:port";
    // The validator's rule (the same function), for a request that did not come from a file.
    if (apiListenNeedsTokenFile(a->host) && section.value("token_file", "").empty())
      return fmt::format(
          "api.listen: {} is reachable from other machines; set api.token_file so that "
          "requests need a token",
          text);
  }
  auto token = loadOrCreateToken(token_file);
  if (!token) return token.error();
  if (std::string err = http_->configure(listen); !err.empty()) return err;
  auth_.setToken(*token);
  listen_ = listen;
  nlohmann::json saved{{"listen", listen}, {"token_file", token_file}};
  if (auto r = writeFileAtomically(
          apiStatePath(paths_),
          saved.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      !r)
    log_.warn("{}", r.error());
  log_.info("api: listening on {} (token in {})", join(http_->listening(), ", "), token_file);
  std::vector<std::pair<std::string, std::string>> listeners;
  for (const auto& address : http_->listening()) listeners.emplace_back("the API", address);
  for (const auto& warning : newAllInterfacesWarnings(all_interfaces_, listeners))
    log_.warn("{}", warning);
  return "";
}

void ApiService::restore() {
  auto text = readFile(apiStatePath(paths_));
  if (!text) return;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    log_.warn("{} is not an api section; the API stays off", apiStatePath(paths_));
    return;
  }
  if (std::string err = configure(j); !err.empty()) log_.error("api: {}", err);
}

std::expected<nlohmann::json, std::string> ApiService::dashboardLink() {
  auto listening = http_ ? http_->listening() : std::vector<std::string>{};
  if (listening.empty())
    return std::unexpected(
        "the HTTP API is off: add an `api:` section (e.g. listen: 127.0.0.1:9615) to the "
        "config and run `tend start` on it");
  // A loopback address is the one a browser on this machine can use; else the first.
  std::string where = listening.front();
  for (const auto& l : listening)
    if (l.starts_with("127.0.0.1:") || l.starts_with("[::1]:")) where = l;
  if (where.starts_with("0.0.0.0:")) where = "127.0.0.1:" + where.substr(8);
  if (where.starts_with("[::]:")) where = "[::1]:" + where.substr(5);
  std::string base = "http://" + where;
  return nlohmann::json{
      {"url", base + "/login?code=" + auth_.issueCode()},
      {"base", base},
      {"expires_in_s",
       std::chrono::duration_cast<std::chrono::seconds>(ApiAuth::kCodeLifetime).count()}};
}

std::string ApiService::metrics() const {
  MetricsInput in;
  in.instances = supervisor_.list();
  for (const auto& snap : supervisor_.snapshots()) {
    if (!snap.spec.on_demand || !gateway_) continue;
    auto s = gateway_->stats(snap.spec.name);
    if (!s) continue;
    GatewayAppMetrics g;
    for (size_t i = 0; i < 5; ++i) g.responses[i] = s->responses[i];
    g.activations = s->activations;
    g.idle_stops = s->idle_stops;
    g.open_connections = s->in_flight + s->open_streams;
    g.cold_start_bounds.assign(Gateway::AppStats::kColdStartBounds.begin(),
                               Gateway::AppStats::kColdStartBounds.end());
    g.cold_start_counts.assign(s->cold_starts.begin(), s->cold_starts.end());
    g.cold_start_sum = s->cold_start_seconds;
    in.gateway[snap.spec.name] = std::move(g);
  }
  in.daemon_rss_bytes = selfResidentBytes();
  in.daemon_open_fds = selfOpenFds();
  in.daemon_uptime_seconds =
      static_cast<double>(SystemClock::instance().wallMillis() - started_ms_) / 1000.0;
  return formatMetrics(in);
}

void ApiService::close() {
  if (http_) http_->close();
}

namespace {

// A named event of the gateway's: about the whole app, so no instance and no pid.
nlohmann::json gatewayEvent(const char* name, const std::string& app, const char* reason) {
  return {{"type", name},        {"event", name},  {"app", app},
          {"instance", nullptr}, {"pid", nullptr}, {"reason", reason}};
}

}  // namespace

void EventingBackend::startApp(const std::string& app,
                               std::function<void(std::string error)> done) {
  hub_.publish(gatewayEvent("activation", app, "a request arrived while the app was stopped"));
  inner_.startApp(app, std::move(done));
}

void EventingBackend::stopIdle(const std::string& app) {
  hub_.publish(gatewayEvent("idle_stop", app, "no request for its idle_timeout"));
  inner_.stopIdle(app);
}

void EventingBackend::restartRefused(const std::string& app) {
  hub_.publish({{"type", "refused"}, {"app", app}});
  inner_.restartRefused(app);
}

}  // namespace tend
