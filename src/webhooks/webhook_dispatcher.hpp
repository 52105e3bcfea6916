#pragma once
// WebhookDispatcher: POSTs the daemon's named events (docs/API.md, "Events") to the
// config's `webhooks`, one JSON object per request, signed with X-Tend-Signature.
//
// Never delays the loop: publish() only queues. Each webhook has its own DeliveryQueue
// (bounded, drops the oldest) and at most one request in flight, so its events arrive in
// order; a request is an asio operation on the daemon's loop with the webhook's timeout
// (runNetworkCheck, the probes' HTTP client: https verified against the system's store).
// Failed attempts are retried with backoff (see DeliveryQueue); drops and given-up events
// are logged (the Logger rate-limits repeats).
//
// The webhooks of the last config that had a `webhooks` key are kept in `state_path`
// ($TEND_HOME/webhooks.json), so a new daemon posts again. Lives on the daemon's loop
// thread; not thread-safe.

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/logger.hpp"
#include "config/app_spec.hpp"
#include "webhooks/delivery_queue.hpp"

namespace boost::asio {
class io_context;
}

namespace tend {

class WebhookDispatcher {
 public:
  WebhookDispatcher(boost::asio::io_context& io, const Clock& clock, Logger& log,
                    std::string state_path, DeliveryPolicy policy = {});
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Replaces the webhooks with `section`, a list in the canonical form (toJson of each
  // WebhookSpec), validated again here, secrets read now. "" or why not (then nothing
  // changed). A webhook whose settings did not change keeps its queue. Saved when it worked.
  std::string configure(const nlohmann::json& section);
  // The webhooks saved by the last daemon, if any.
  void restore();
  // Queues `event` (an object with "event") for every webhook that wants it.
  void publish(const nlohmann::json& event);
  size_t size() const { return channels_.size(); }
  // Stops every delivery (the daemon is stopping).
  void close();

 private:
  struct Channel;
  void pump(const std::shared_ptr<Channel>& channel);
  void send(const std::shared_ptr<Channel>& channel, std::string body);

  boost::asio::io_context& io_;
  const Clock& clock_;
  Logger& log_;
  std::string state_path_;
  DeliveryPolicy policy_;
  std::vector<std::shared_ptr<Channel>> channels_;
};

}  // namespace tend
