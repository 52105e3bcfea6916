#pragma once
// Client: the CLI's side of the control socket. Connects to the daemon of $TEND_HOME,
// starting it in the background first when asked and none is running.

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <expected>
#include <string>

#include "common/paths.hpp"
#include "common/unique_fd.hpp"

namespace tend {

class Client {
 public:
  explicit Client(Paths paths) : paths_(std::move(paths)) {}

  // Connects; with `autostart`, starts a daemon when none answers.
  std::expected<void, std::string> connect(bool autostart);
  // Sends one request and returns the reply's `data`, or its error message.
  std::expected<nlohmann::json, std::string> request(const nlohmann::json& request);
  // request() in two halves, for a caller that may stop waiting once the request is sent.
  std::expected<void, std::string> send(const nlohmann::json& request);
  std::expected<nlohmann::json, std::string> reply();
  // Makes a request blocked in another thread return an error now (the daemon still carries
  // out what it was asked); the connection is unusable afterwards. Safe from any thread once
  // connect() has returned.
  void interrupt();

  const Paths& paths() const { return paths_; }

 private:
  std::expected<void, std::string> startDaemon();
  bool tryConnect();

  Paths paths_;
  UniqueFd fd_;
  std::string pending_;  // bytes read past the last reply line
};

// True while a daemon holds the lock of `paths`.
bool daemonRunning(const Paths& paths);

// Waits until process `pid` has exited (a zombie counts as exited); false on timeout.
bool waitForExit(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace tend
