#include "common/address_range.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace tend {

namespace {

std::optional<IpBytes> parseV4(const std::string& text) {
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) != 1) return std::nullopt;
  IpBytes out{};
  out[10] = out[11] = 0xff;
  const auto* b = reinterpret_cast<const uint8_t*>(&v4.s_addr);
  for (size_t i = 0; i < 4; ++i) out[12 + i] = b[i];
  return out;
}

std::optional<IpBytes> parseV6(const std::string& text) {
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return std::nullopt;
  IpBytes out{};
  for (size_t i = 0; i < 16; ++i) out[i] = v6.s6_addr[i];
  return out;
}

}  // namespace

bool AddressRange::contains(const IpBytes& address) const {
  int bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address[i] & mask) != (bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<IpBytes> parseIpAddress(std::string_view text) {
  std::string s(text);
  if (auto v4 = parseV4(s)) return v4;
  return parseV6(s);
}

std::expected<AddressRange, std::string> parseAddressRange(std::string_view text) {
  auto slash = text.find('/');
  std::string address(text.substr(0, slash));
  AddressRange range;
  bool v4 = false;
  if (auto b = parseV4(address)) {
    range.bytes = *b;
    v4 = true;
  } else if (auto b6 = parseV6(address)) {
    range.bytes = *b6;
  } else {
    return std::unexpected("'" + std::string(text) +
                           "' is not an IP address or CIDR block (such as 10.0.0.0/8 or ::1)");
  }
  const int max = v4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 ||
        prefix > max) {
      return std::unexpected("'" + std::string(text) + "': the prefix must be 0 to " +
                             std::to_string(max) + " for an IPv" + (v4 ? "4" : "6") + " address");
    }
  }
  range.prefix = v4 ? 96 + prefix : prefix;
  return range;
}

}  // namespace tend
