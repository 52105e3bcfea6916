#include "gateway/header_rules.hpp"

#include <algorithm>
#include <array>

#include "common/text.hpp"

namespace tend {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && toLower(a) == toLower(b);
}

}  // namespace

bool isHopByHopHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kHopByHop = {
      "connection", "keep-alive",        "proxy-connection", "te",
      "trailer",    "transfer-encoding", "upgrade",          "trailers"};
  return std::any_of(kHopByHop.begin(), kHopByHop.end(),
                     [&](std::string_view h) { return iequals(h, name); });
}

bool mayDropConnectionOption(std::string_view name) {
  return !iequals(name, "host") && !iequals(name, "content-length") &&
         !iequals(name, "transfer-encoding");
}

std::vector<std::string> connectionOptions(std::string_view connection_value) {
  std::vector<std::string> out;
  forEachListElement(connection_value, [&](std::string_view e) { out.push_back(toLower(e)); });
  return out;
}

bool listHasToken(std::string_view list, std::string_view token) {
  bool found = false;
  forEachListElement(list, [&](std::string_view e) { found = found || iequals(e, token); });
  return found;
}

std::string appendForwardedFor(std::string_view existing, std::string_view client_address) {
  existing = trim(existing);
  if (existing.empty()) return std::string(client_address);
  std::string out(existing);
  out += ", ";
  out += client_address;
  return out;
}

bool acceptsHtml(std::string_view accept) {
  bool found = false;
  forEachListElement(accept, [&](std::string_view e) {
    auto type = trim(e.substr(0, e.find(';')));
    found = found || iequals(type, "text/html");
  });
  return found;
}

}  // namespace tend
