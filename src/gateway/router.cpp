#include "gateway/router.hpp"

#include <algorithm>
#include <charconv>

#include "common/text.hpp"

namespace tend {

namespace {

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool isIpv6Char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.' || c == '%';
}

std::optional<uint16_t> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

// A lower-cased host without port: a name, or an IPv6 literal with brackets.
bool validHost(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    return std::all_of(host.begin() + 1, host.end() - 1, isIpv6Char);
  }
  return std::all_of(host.begin(), host.end(), isHostChar);
}

}  // namespace

std::string ListenAddress::text() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<ListenAddress> parseListenAddress(std::string_view text) {
  text = trim(text);
  ListenAddress out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = toLower(text.substr(1, close - 1));
    if (out.host.empty() || !std::all_of(out.host.begin(), out.host.end(), isIpv6Char)) {
      return std::nullopt;
    }
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = toLower(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs brackets
    if (out.host.empty()) out.host = "0.0.0.0";
    if (!std::all_of(out.host.begin(), out.host.end(), isHostChar)) return std::nullopt;
    port = text.substr(colon + 1);
  }
  auto p = parsePort(port);
  if (!p) return std::nullopt;
  out.port = *p;
  return out;
}

std::string Router::normalizeHost(std::string_view value) {
  value = trim(value);
  if (value.empty()) return "";
  std::string_view host = value;
  std::string_view port;
  if (value.front() == '[') {
    auto close = value.find(']');
    if (close == std::string_view::npos) return "";
    host = value.substr(0, close + 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "";
      port = rest.substr(1);
    }
  } else {
    auto colon = value.find(':');
    if (colon != std::string_view::npos) {
      host = value.substr(0, colon);
      port = value.substr(colon + 1);
      if (port.empty() || port.find(':') != std::string_view::npos) return "";
    }
  }
  if (!port.empty() &&
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "";
  }
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  std::string out = toLower(host);
  if (!validHost(out)) return "";
  return out;
}

std::string Router::configure(const GatewayConfig& config) {
  std::unordered_map<std::string, std::string> exact;
  std::vector<std::pair<std::string, std::string>> wildcards;
  std::unordered_map<std::string, std::string> listeners;

  for (const auto& listen : config.listen) {
    auto address = parseListenAddress(listen);
    if (!address) return "gateway listen address '" + listen + "' is not host:port";
    listeners.emplace(address->text(), "");
  }
  for (const auto& route : config.routes) {
    for (const auto& pattern : route.hosts) {
      bool wildcard = pattern.starts_with("*.");
      std::string_view name = wildcard ? std::string_view(pattern).substr(2) : pattern;
      std::string host = normalizeHost(name);
      std::string raw = toLower(name);
      if (raw.size() > 1 && raw.ends_with('.')) raw.pop_back();
      // A pattern is a bare host: no port, and no IPv6 literal under a wildcard.
      if (host.empty() || host != raw || (wildcard && host.front() == '[')) {
        return "app '" + route.app + "': '" + pattern +
               "' is not a host name (use a name like api.localhost or *.example.com)";
      }
      std::string key = wildcard ? "." + host : host;
      std::string* owner = nullptr;
      if (wildcard) {
        for (auto& [suffix, app] : wildcards) {
          if (suffix == key) owner = &app;
        }
        if (!owner) wildcards.emplace_back(key, route.app);
      } else {
        auto [it, inserted] = exact.emplace(key, route.app);
        if (!inserted) owner = &it->second;
      }
      if (owner && *owner != route.app) {
        return "host '" + pattern + "' is routed to both '" + *owner + "' and '" + route.app + "'";
      }
    }
    for (const auto& listen : route.listen) {
      auto address = parseListenAddress(listen);
      if (!address)
        return "app '" + route.app + "': listen address '" + listen + "' is not host:port";
      auto [it, inserted] = listeners.emplace(address->text(), route.app);
      if (!inserted && it->second != route.app) {
        std::string other =
            it->second.empty() ? "the gateway's own listen" : "'" + it->second + "'";
        return "listen address " + address->text() + " is used by both " + other + " and '" +
               route.app + "'";
      }
    }
  }
  // Longest first; suffixes differ, so the order is total (std::sort rather than
  // stable_sort, whose libstdc++ 12 code trips clang's -Wdeprecated-declarations).
  std::sort(wildcards.begin(), wildcards.end(), [](const auto& a, const auto& b) {
    return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a.first < b.first;
  });
  exact_ = std::move(exact);
  wildcards_ = std::move(wildcards);
  listeners_ = std::move(listeners);
  return "";
}

const std::string* Router::appForHost(std::string_view host_header) const {
  std::string host = normalizeHost(host_header);
  if (host.empty()) return nullptr;
  if (auto it = exact_.find(host); it != exact_.end()) return &it->second;
  for (const auto& [suffix, app] : wildcards_) {
    if (host.size() > suffix.size() && host.ends_with(suffix)) return &app;
  }
  return nullptr;
}

const std::string* Router::appForListener(std::string_view address) const {
  auto it = listeners_.find(std::string(address));
  if (it == listeners_.end() || it->second.empty()) return nullptr;
  return &it->second;
}

}  // namespace tend
