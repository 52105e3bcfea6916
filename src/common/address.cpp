#include "common/address.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include "common/text.hpp"

namespace tend {
namespace {

std::string_view withoutBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

bool isLoopbackHost(std::string_view host_in) {
  const std::string host(withoutBrackets(host_in));
  if (toLower(host) == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

bool isAllInterfacesHost(std::string_view host_in) {
  const std::string host(withoutBrackets(host_in));
  if (host.empty() || host == "*") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return v4.s_addr == INADDR_ANY;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_UNSPECIFIED(&v6);
  return false;
}

std::string_view hostOfAddress(std::string_view address) {
  if (address.starts_with("[")) {
    size_t close = address.find(']');
    return close == std::string_view::npos ? address : address.substr(0, close + 1);
  }
  size_t colon = address.rfind(':');
  return colon == std::string_view::npos ? address : address.substr(0, colon);
}

std::string allInterfacesWarning(std::string_view who, std::string_view address) {
  if (!isAllInterfacesHost(hostOfAddress(address))) return "";
  return fmt::format(
      "{} listens on {}, every network interface: other machines can connect to it (listen "
      "on 127.0.0.1 to keep it to this machine)",
      who, address);
}

std::vector<std::string> newAllInterfacesWarnings(
    std::set<std::string>& open,
    const std::vector<std::pair<std::string, std::string>>& listeners) {
  std::vector<std::string> out;
  std::set<std::string> now;
  for (const auto& [who, address] : listeners) {
    std::string warning = allInterfacesWarning(who, address);
    if (warning.empty()) continue;
    std::string key = who + " " + address;
    if (!open.contains(key) && !now.contains(key)) out.push_back(std::move(warning));
    now.insert(std::move(key));
  }
  open = std::move(now);
  return out;
}

}  // namespace tend
