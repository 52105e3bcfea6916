#pragma once
// ControlServer: the daemon's Unix socket ($TEND_HOME/tend.sock, mode 0600). Accepts
// connections from the daemon's own uid only, reads one JSON request per line (bounded
// size), hands it to Handlers and writes the reply line. A malformed or oversized request
// gets an error reply and never stops the daemon. Connections are capped and idle ones
// time out.

#include <memory>
#include <string>

#include "api/handlers.hpp"

namespace boost::asio {
class io_context;
}

namespace tend {

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, Handlers& handlers, Logger& log);
  ~ControlServer();
  // Removes a stale socket file and listens. Returns an error text or "".
  std::string listen(const std::string& path);
  void close();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tend
