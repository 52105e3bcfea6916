#pragma once
// PortAllocator hands out the ports of each app's instances: a fixed port, one port per
// instance from a range, or free ports found in an `auto` range. Two apps never get the
// same port, and a port some other process already listens on is reported, not taken.
// Ports are stable: instance i keeps the port it holds across restarts, reloads and
// scaling (allocate keeps the held ones in instance order), and no two instances of an app
// hold one port unless the spec is a fixed port they share.
//
// Whether a port is free on the machine comes from a PortProbe, so tests need no sockets.
// Not thread-safe.

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <vector>

#include "config/app_spec.hpp"

namespace tend {

class PortProbe {
 public:
  virtual ~PortProbe() = default;
  // True when nothing listens on `port` (any address).
  virtual bool isFree(uint16_t port) = 0;
};

// Tries to bind 0.0.0.0:port with SO_REUSEADDR (so TIME_WAIT does not count as taken).
class SocketPortProbe final : public PortProbe {
 public:
  bool isFree(uint16_t port) override;
};

class PortAllocator {
 public:
  explicit PortAllocator(PortProbe& probe) : probe_(probe) {}

  // Ports for `instances` instances of `app` (empty for PortSpec::Kind::None). Ports the
  // app already holds are kept and not probed again (its own process may hold them).
  // On error nothing changes.
  std::expected<std::vector<uint16_t>, std::string> allocate(const std::string& app,
                                                             const PortSpec& spec, int instances);
  // Claims ports recorded before (e.g. from the store after a daemon restart), unprobed.
  void claim(const std::string& app, const std::vector<uint16_t>& ports);
  void release(const std::string& app);
  const std::vector<uint16_t>& portsOf(const std::string& app) const;

 private:
  std::string ownerOf(uint16_t port) const;

  PortProbe& probe_;
  std::map<std::string, std::vector<uint16_t>> by_app_;
  std::map<uint16_t, std::string> owner_;
  uint32_t auto_cursor_ = 0;
};

}  // namespace tend
