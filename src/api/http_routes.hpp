#pragma once
// The HTTP API's routes, as a pure function of method and target (no sockets), and the
// mapping of control-protocol replies to HTTP statuses. See docs/API.md.
//
//   GET    /                             dashboard (also /app.js, /app.css)
//   GET    /login?code=C                 one-time login link -> session cookie
//   GET    /metrics                      Prometheus text
//   GET    /api/ping                     the daemon (control command "ping")
//   GET    /api/apps[?group=G]           "list"
//   POST   /api/apps                     a config entry as JSON: "start" with "create" (201)
//   GET    /api/apps/{name}              "describe"
//   DELETE /api/apps/{name}              "delete"
//   POST   /api/apps/{name}/start|stop|restart|reload   (reload is a restart for now)
//   POST   /api/apps/{name}/scale        {"instances": N}: "scale" (501 where there is none)
//   GET    /api/apps/{name}/logs?lines=N[&follow=1]
//   DELETE /api/apps/{name}/logs         "flush"
//   POST   /api/save                     "save"
//   GET    /api/events[?app=A&types=a,b] Server-Sent Events
//   GET    /api/events/ws[?app=A&types=] WebSocket

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tend {

enum class RouteKind {
  NotFound,
  MethodNotAllowed,
  Asset,  // a dashboard file: `asset`
  Login,
  Metrics,
  Command,  // a control command: `command` (a request object without a body yet)
  Scale,
  Create,  // POST /api/apps: the body is one app's config entry
  Logs,
  Events,
  EventsWs,
};

struct Route {
  RouteKind kind = RouteKind::NotFound;
  std::string allow;        // MethodNotAllowed: the methods the path takes ("GET, DELETE")
  std::string asset;        // Asset: "index.html", "app.js", "app.css"
  nlohmann::json command;   // Command: {"cmd": ..., "target": ...}
  bool takes_body = false;  // Command/Scale: a JSON object body is read (and checked)
  std::string app;          // the app named in the path, decoded
  std::map<std::string, std::string> query;  // decoded parameters
  std::string error;                         // a 400 reason (bad query, bad escape), else empty

  // Reachable without a token or session cookie.
  bool isPublic() const { return kind == RouteKind::Asset || kind == RouteKind::Login; }
  // Changes something (Origin is checked).
  bool changesState() const;
};

Route route(std::string_view method, std::string_view target);

// "%2F" and "+"-free percent-decoding; nullopt on a bad escape or a NUL.
std::optional<std::string> percentDecode(std::string_view s);

struct ListenAddress;
// Whether a request's Origin header names the API itself. The Origin must be "http://" and
// the request's Host, and that Host must be one of the API's own names: a listener's
// address ("localhost:P" too for a loopback one), or any name with the port of a listener
// on all addresses. So a page from another site (its Origin differs from Host) and a DNS
// rebinding (a foreign name for our address) are both refused.
bool originAllowed(std::string_view origin, std::string_view host,
                   const std::vector<ListenAddress>& listens);

// The HTTP status for a control-protocol reply line ({"ok": ..., "data"|"error": ...}).
int statusForReply(const nlohmann::json& reply);

// The body of a JSON error.
std::string errorBody(std::string_view message);

}  // namespace tend
