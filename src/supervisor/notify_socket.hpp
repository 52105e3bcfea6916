#pragma once
// NotifySocket: the receiving end of the sd_notify protocol for one instance. A datagram
// socket in the abstract namespace (no file to clean up, no path length limit), whose
// address goes to the child as NOTIFY_SOCKET ("@tend-..."). Every datagram comes with the
// sender's credentials (SO_PASSCRED: the kernel fills them in, a process cannot claim
// another's pid); the owner decides from the pid whether to believe it.

#include <sys/types.h>

#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace tend {

// One datagram: newline-separated KEY=VALUE assignments (unknown ones are ignored).
struct NotifyMessage {
  bool ready = false;                 // READY=1
  bool stopping = false;              // STOPPING=1
  bool watchdog = false;              // WATCHDOG=1
  bool watchdog_trigger = false;      // WATCHDOG=trigger: fail now
  std::optional<std::string> status;  // STATUS=...
};
NotifyMessage parseNotify(std::string_view datagram);

class NotifySocket {
 public:
  using Handler = std::function<void(pid_t sender, const NotifyMessage& message)>;
  // Binds a fresh socket named after `hint` (plus a random suffix). `handler` is called on
  // the loop for each datagram, until this object is destroyed.
  static std::expected<std::unique_ptr<NotifySocket>, std::string> open(boost::asio::io_context& io,
                                                                        const std::string& hint,
                                                                        Handler handler);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The NOTIFY_SOCKET value: "@" and the abstract name.
  const std::string& address() const { return address_; }

  class Reader;

 private:
  NotifySocket(std::shared_ptr<Reader> reader, std::string address)
      : reader_(std::move(reader)), address_(std::move(address)) {}
  std::shared_ptr<Reader> reader_;
  std::string address_;
};

}  // namespace tend
