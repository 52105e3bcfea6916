#include "api/http_routes.hpp"

#include <fmt/format.h>

#include <set>

#include <vector>
#include "common/text.hpp"
#include "gateway/router.hpp"

namespace tend {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return parts;
}

// Parses the query into `r.query`, allowing only `allowed` keys.
void parseQuery(std::string_view q, const std::set<std::string>& allowed, Route& r) {
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = percentDecode(pair.substr(0, eq));
    auto value = percentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!key || !value) {
      r.error = "malformed query string";
      return;
    }
    if (!allowed.contains(*key)) {
      r.error = allowed.empty() ? fmt::format("this route takes no query parameter ('{}')", *key)
                                : fmt::format("unknown query parameter '{}'", *key);
      return;
    }
    r.query[*key] = *value;
  }
}

Route notAllowed(std::string allow) {
  Route r;
  r.kind = RouteKind::MethodNotAllowed;
  r.allow = std::move(allow);
  return r;
}

}  // namespace

bool Route::changesState() const {
  if (kind == RouteKind::Scale || kind == RouteKind::Create) return true;
  if (kind != RouteKind::Command) return false;
  std::string cmd = command.value("cmd", "");
  return cmd != "list" && cmd != "describe" && cmd != "ping";
}

std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  if (out.find('\0') != std::string::npos) return std::nullopt;
  return out;
}

Route route(std::string_view method, std::string_view target) {
  size_t qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
  bool get = method == "GET" || method == "HEAD";
  auto parts = splitPath(path);
  Route r;
  auto finish = [&](Route out, const std::set<std::string>& allowed_query) {
    parseQuery(query, allowed_query, out);
    return out;
  };

  if (!path.starts_with("/")) return r;
  if (parts.empty() || (parts.size() == 1 && (parts[0] == "app.js" || parts[0] == "app.css" ||
                                              parts[0] == "index.html"))) {
    if (!get) return notAllowed("GET");
    r.kind = RouteKind::Asset;
    r.asset = parts.empty() ? "index.html" : std::string(parts[0]);
    return r;  // the dashboard ignores its query string
  }
  if (parts.size() == 1 && parts[0] == "login") {
    if (!get) return notAllowed("GET");
    r.kind = RouteKind::Login;
    return finish(r, {"code"});
  }
  if (parts.size() == 1 && parts[0] == "metrics") {
    if (!get) return notAllowed("GET");
    r.kind = RouteKind::Metrics;
    return finish(r, {});
  }
  if (parts.empty() || parts[0] != "api") return r;

  if (parts.size() == 2 && parts[1] == "ping") {
    if (!get) return notAllowed("GET");
    r.kind = RouteKind::Command;
    r.command = {{"cmd", "ping"}};
    return finish(r, {});
  }
  if (parts.size() == 2 && parts[1] == "save") {
    if (method != "POST") return notAllowed("POST");
    r.kind = RouteKind::Command;
    r.command = {{"cmd", "save"}};
    r.takes_body = true;
    return finish(r, {});
  }
  if (parts.size() >= 2 && parts[1] == "events") {
    if (parts.size() == 2 || (parts.size() == 3 && parts[2] == "ws")) {
      if (!get) return notAllowed("GET");
      r.kind = parts.size() == 2 ? RouteKind::Events : RouteKind::EventsWs;
      return finish(r, {"app", "types"});
    }
    return r;
  }
  if (parts.size() < 2 || parts[1] != "apps") return r;
  if (parts.size() == 2) {
    if (method == "POST") {
      r.kind = RouteKind::Create;
      r.takes_body = true;
      return finish(r, {});
    }
    if (!get) return notAllowed("GET, POST");
    r.kind = RouteKind::Command;
    r.command = {{"cmd", "list"}};
    r = finish(r, {"group"});
    if (r.query.contains("group")) r.command["group"] = r.query["group"];
    return r;
  }
  auto name = percentDecode(parts[2]);
  if (!name || name->empty()) {
    r.kind = RouteKind::Command;  // any kind that reaches the 400
    r.error = "malformed app name in the path";
    return r;
  }
  r.app = *name;
  if (parts.size() == 3) {
    if (get) {
      r.kind = RouteKind::Command;
      r.command = {{"cmd", "describe"}, {"target", r.app}};
      return finish(r, {});
    }
    if (method == "DELETE") {
      r.kind = RouteKind::Command;
      r.command = {{"cmd", "delete"}, {"target", r.app}};
      return finish(r, {});
    }
    return notAllowed("GET, DELETE");
  }
  if (parts.size() != 4) return r;
  std::string_view action = parts[3];
  if (action == "start" || action == "stop" || action == "restart" || action == "reload") {
    if (method != "POST") return notAllowed("POST");
    r.kind = RouteKind::Command;
    r.command = {{"cmd", std::string(action)}, {"target", r.app}};
    r.takes_body = true;
    return finish(r, {});
  }
  if (action == "scale") {
    if (method != "POST") return notAllowed("POST");
    r.kind = RouteKind::Scale;
    r.takes_body = true;
    return finish(r, {});
  }
  if (action == "logs") {
    if (get) {
      r.kind = RouteKind::Logs;
      r = finish(r, {"lines", "follow", "stream"});
      return r;
    }
    if (method == "DELETE") {
      r.kind = RouteKind::Command;
      r.command = {{"cmd", "flush"}, {"target", r.app}};
      return finish(r, {});
    }
    return notAllowed("GET, DELETE");
  }
  return r;
}

bool originAllowed(std::string_view origin, std::string_view host,
                   const std::vector<ListenAddress>& listens) {
  std::string o = toLower(origin);
  std::string h = toLower(host);
  if (h.empty() || o != "http://" + h) return false;
  auto asked = parseListenAddress(h);
  if (!asked) {
    // No port in Host: port 80.
    asked = parseListenAddress(h + ":80");
    if (!asked) return false;
  }
  for (const ListenAddress& l : listens) {
    if (l.port != asked->port) continue;
    if (l.host == "0.0.0.0" || l.host == "::") return true;
    if (l.host == asked->host) return true;
    bool loopback = l.host == "127.0.0.1" || l.host == "::1" || l.host == "localhost";
    if (loopback &&
        (asked->host == "localhost" || asked->host == "127.0.0.1" || asked->host == "::1"))
      return true;
  }
  return false;
}

int statusForReply(const nlohmann::json& reply) {
  if (reply.value("ok", false)) return 200;
  std::string error = reply.value("error", "");
  if (reply.contains("status") && reply["status"].is_number_integer()) {
    const int status = reply["status"].get<int>();
    if (status >= 400 && status <= 599) return status;
  }
  if (error.starts_with("no app named") || error.starts_with("no app or group named")) return 404;
  if (error.starts_with("unknown command") || error.starts_with("malformed request") ||
      error.find("takes no field") != std::string::npos || error.starts_with("field '") ||
      error.find("needs the field") != std::string::npos)
    return 400;
  return 500;
}

std::string errorBody(std::string_view message) {
  nlohmann::json j{{"error", message}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tend
