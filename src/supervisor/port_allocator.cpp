#include "supervisor/port_allocator.hpp"

#include <fmt/format.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <algorithm>

#include "common/unique_fd.hpp"

namespace tend {

bool SocketPortProbe::isFree(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

std::string PortAllocator::ownerOf(uint16_t port) const {
  auto it = owner_.find(port);
  return it == owner_.end() ? std::string() : it->second;
}

const std::vector<uint16_t>& PortAllocator::portsOf(const std::string& app) const {
  static const std::vector<uint16_t> kNone;
  auto it = by_app_.find(app);
  return it == by_app_.end() ? kNone : it->second;
}

std::expected<std::vector<uint16_t>, std::string> PortAllocator::allocate(const std::string& app,
                                                                          const PortSpec& spec,
                                                                          int instances) {
  using Kind = PortSpec::Kind;
  const std::vector<uint16_t>& held = portsOf(app);
  std::vector<uint16_t> result;
  // A port is usable when this app holds it already, or nobody else does and it is free.
  auto usable = [&](uint16_t port, std::string& why) {
    for (uint16_t h : held)
      if (h == port) return true;
    std::string owner = ownerOf(port);
    if (!owner.empty()) {
      why = fmt::format("port {} is already assigned to app '{}'", port, owner);
      return false;
    }
    if (!probe_.isFree(port)) {
      why = fmt::format("port {} is in use by another process", port);
      return false;
    }
    return true;
  };

  std::string why;
  switch (spec.kind) {
    case Kind::None:
      break;
    case Kind::Fixed:
      if (!usable(spec.first, why)) return std::unexpected(why);
      result.assign(static_cast<size_t>(instances), spec.first);
      break;
    case Kind::Range: {
      int size = spec.last - spec.first + 1;
      if (size < instances)
        return std::unexpected(fmt::format("port range {}-{} has {} ports for {} instances",
                                           spec.first, spec.last, size, instances));
      for (int i = 0; i < instances; ++i) {
        uint16_t port = static_cast<uint16_t>(spec.first + i);
        if (!usable(port, why)) return std::unexpected(why);
        result.push_back(port);
      }
      break;
    }
    case Kind::Auto: {
      uint16_t first = spec.first ? spec.first : PortSpec::kAutoFirst;
      uint16_t last = spec.last ? spec.last : PortSpec::kAutoLast;
      uint32_t size = static_cast<uint32_t>(last - first + 1);
      // Keep the ports this app already holds when they are in the range.
      for (uint16_t h : held)
        if (h >= first && h <= last && static_cast<int>(result.size()) < instances)
          result.push_back(h);
      for (uint32_t step = 0; step < size && static_cast<int>(result.size()) < instances; ++step) {
        uint16_t port = static_cast<uint16_t>(first + (auto_cursor_ + step) % size);
        bool taken = false;
        for (uint16_t r : result) taken = taken || r == port;
        std::string ignored;
        if (!taken && usable(port, ignored)) result.push_back(port);
      }
      if (static_cast<int>(result.size()) < instances)
        return std::unexpected(
            fmt::format("no free port in {}-{} ({} needed)", first, last, instances));
      auto_cursor_ = (auto_cursor_ + static_cast<uint32_t>(instances)) % size;
      break;
    }
  }
  release(app);
  claim(app, result);
  return result;
}

void PortAllocator::claim(const std::string& app, const std::vector<uint16_t>& ports) {
  if (ports.empty()) return;
  auto& mine = by_app_[app];
  for (uint16_t p : ports) {
    mine.push_back(p);
    owner_[p] = app;
  }
}

void PortAllocator::release(const std::string& app) {
  auto it = by_app_.find(app);
  if (it == by_app_.end()) return;
  for (uint16_t p : it->second) {
    auto o = owner_.find(p);
    if (o != owner_.end() && o->second == app) owner_.erase(o);
  }
  by_app_.erase(it);
}

}  // namespace tend
