#pragma once
// An IP address or a CIDR block, as nginx's set_real_ip_from takes them: "192.168.1.7",
// "10.0.0.0/8", "::1", "fd00::/8". Pure: no sockets, no name resolution.
//
// IPv4 is kept in its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so "10.0.0.0/8" also holds
// the peer ::ffff:10.1.2.3 that a socket listening on [::] sees. Bits past the prefix are
// ignored ("10.1.2.3/8" is 10.0.0.0/8), as nginx does.

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace tend {

using IpBytes = std::array<uint8_t, 16>;

struct AddressRange {
  IpBytes bytes{};
  int prefix = 128;  // leading bits of `bytes` that an address must share (IPv4 /n: 96 + n)

  bool contains(const IpBytes& address) const;
  bool operator==(const AddressRange&) const = default;
};

// An IPv4 or IPv6 address in text ("127.0.0.1", "::1", "::ffff:10.0.0.1"), else nullopt.
std::optional<IpBytes> parseIpAddress(std::string_view text);

// "address" or "address/prefix"; an error for people ("'10.0.0.0/33': prefix must be 0 to
// 32 for an IPv4 address").
std::expected<AddressRange, std::string> parseAddressRange(std::string_view text);

}  // namespace tend
