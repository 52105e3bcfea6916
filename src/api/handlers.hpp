#pragma once
// Handlers: what each control command does. Shared by the Unix control socket now and the
// HTTP API later, so both always agree. Runs on the daemon's event-loop thread.

#include <functional>
#include <string>

#include "api/protocol.hpp"
#include "common/logger.hpp"
#include "common/paths.hpp"
#include "supervisor/supervisor.hpp"

namespace tend {

class Handlers {
 public:
  using ReplyLine = std::function<void(std::string line)>;
  // `on_kill` is called after the reply to `kill` has been handed over.
  Handlers(Supervisor& supervisor, const Paths& paths, Logger& log, std::function<void()> on_kill);

  void handle(const Request& request, ReplyLine reply);

 private:
  void start(const Request& request, const ReplyLine& reply);
  void save(const ReplyLine& reply);
  void resurrect(const ReplyLine& reply);

  Supervisor& supervisor_;
  const Paths& paths_;
  Logger& log_;
  std::function<void()> on_kill_;
  int64_t started_ms_;
};

}  // namespace tend
