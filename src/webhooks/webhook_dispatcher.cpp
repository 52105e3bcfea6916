#include "webhooks/webhook_dispatcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/duration.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "config/config.hpp"
#include "supervisor/probe.hpp"
#include "webhooks/signature.hpp"

namespace tend {

namespace asio = boost::asio;

namespace {

constexpr size_t kMaxSecretBytes = 64u << 10;

std::string dumpJson(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

struct WebhookDispatcher::Channel {
  Channel(asio::io_context& io, WebhookSpec s, std::string k, const DeliveryPolicy& policy)
      : spec(std::move(s)), key(std::move(k)), queue(policy), timer(io) {}

  bool wants(const std::string& event) const {
    return spec.events.empty() ||
           std::find(spec.events.begin(), spec.events.end(), event) != spec.events.end();
  }

  WebhookSpec spec;
  std::string key;  // the HMAC key: the secret file's text without surrounding whitespace
  ProbeCheck request;
  DeliveryQueue queue;
  asio::steady_timer timer;  // the front's retry
  bool closed = false;
};

WebhookDispatcher::WebhookDispatcher(asio::io_context& io, const Clock& clock, Logger& log,
                                     std::string state_path, DeliveryPolicy policy)
    : io_(io), clock_(clock), log_(log), state_path_(std::move(state_path)), policy_(policy) {}

WebhookDispatcher::~WebhookDispatcher() {
  close();
}

std::string WebhookDispatcher::configure(const nlohmann::json& section) {
  if (!section.is_array()) return "webhooks: expected a list";
  auto node = parseConfigText(dumpJson(section), ConfigFormat::Json, "");
  if (!node) return "webhooks: " + node.error().front().format();
  auto specs = validateWebhooks(*node, "", "/");
  if (!specs) {
    std::vector<std::string> lines;
    for (const auto& e : specs.error()) lines.push_back(e.message);
    return join(lines, "; ");
  }
  std::vector<std::shared_ptr<Channel>> next;
  for (const WebhookSpec& spec : *specs) {
    std::string key;
    if (!spec.secret_file.empty()) {
      auto text = readFile(spec.secret_file, kMaxSecretBytes);
      if (!text)
        return fmt::format("webhooks: cannot read '{}': {}", spec.secret_file, text.error());
      key = std::string(trim(*text));
      if (key.empty()) return fmt::format("webhooks: '{}' is empty", spec.secret_file);
    }
    auto url = parseHttpUrl(spec.url);
    if (!url) return fmt::format("webhooks: {}: {}", spec.url, url.error());
    // An unchanged webhook keeps its queue and its delivery in flight.
    auto same = std::find_if(channels_.begin(), channels_.end(),
                             [&](const auto& c) { return c->spec == spec && c->key == key; });
    if (same != channels_.end()) {
      next.push_back(*same);
      continue;
    }
    auto channel = std::make_shared<Channel>(io_, spec, std::move(key), policy_);
    ProbeCheck& r = channel->request;
    r.kind = ProbeCheck::Kind::Http;
    r.url = spec.url;
    r.host = url->host;
    r.port = url->port;
    r.path = url->path;
    r.host_header = url->host_header;
    r.tls = url->tls;
    r.method = "POST";
    r.expect = 200;
    r.expect_last = 299;
    r.user_agent = "tend-webhook";
    next.push_back(std::move(channel));
  }
  for (auto& old : channels_) {
    if (std::find(next.begin(), next.end(), old) != next.end()) continue;  // kept
    old->closed = true;
    old->timer.cancel();
  }
  channels_ = std::move(next);
  if (auto r = writeFileAtomically(state_path_, dumpJson(section, 2) + "\n"); !r)
    log_.warn("{}", r.error());
  if (!channels_.empty()) {
    std::vector<std::string> urls;
    for (const auto& c : channels_) urls.push_back(c->spec.url);
    log_.info("webhooks: posting events to {}", join(urls, ", "));
  }
  return "";
}

void WebhookDispatcher::restore() {
  auto text = readFile(state_path_);
  if (!text) return;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_array()) {
    log_.warn("{} is not a webhooks list; no webhooks", state_path_);
    return;
  }
  if (std::string err = configure(j); !err.empty()) log_.error("{}", err);
}

void WebhookDispatcher::publish(const nlohmann::json& event) {
  auto name = event.find("event");
  if (name == event.end() || !name->is_string() || channels_.empty()) return;
  std::string body;
  for (const auto& channel : channels_) {
    if (!channel->wants(name->get_ref<const std::string&>())) continue;
    if (body.empty()) body = dumpJson(event);
    if (!channel->queue.push(body))
      log_.warn("webhook {}: its queue is full; dropped the oldest event ({} dropped so far)",
                channel->spec.url, channel->queue.dropped());
    pump(channel);
  }
}

void WebhookDispatcher::pump(const std::shared_ptr<Channel>& channel) {
  if (channel->closed || channel->queue.inFlight() || channel->queue.empty()) return;
  if (auto body = channel->queue.take(clock_.now())) {
    send(channel, std::move(*body));
    return;
  }
  auto at = channel->queue.retryAt();
  if (!at) return;
  channel->timer.expires_after(
      std::max(Duration(0), std::chrono::duration_cast<Duration>(*at - clock_.now())));
  channel->timer.async_wait(
      [this, weak = std::weak_ptr<Channel>(channel)](boost::system::error_code ec) {
        auto c = weak.lock();
        if (ec || !c) return;
        pump(c);
      });
}

void WebhookDispatcher::send(const std::shared_ptr<Channel>& channel, std::string body) {
  ProbeCheck request = channel->request;
  auto event = nlohmann::json::parse(body, nullptr, false);
  request.headers = {{"Content-Type", "application/json"},
                     {"X-Tend-Event", event.is_object() ? event.value("event", "") : ""}};
  if (!channel->key.empty())
    request.headers.emplace_back("X-Tend-Signature", webhookSignature(channel->key, body));
  request.body = std::move(body);
  runNetworkCheck(io_, request, channel->spec.timeout,
                  [this, weak = std::weak_ptr<Channel>(channel)](ProbeResult result) {
                    auto c = weak.lock();
                    if (!c || c->closed) return;
                    const int attempt = c->queue.attempts();
                    switch (c->queue.finished(clock_.now(), result.status)) {
                      case DeliveryQueue::Outcome::Delivered:
                        break;
                      case DeliveryQueue::Outcome::RetryLater:
                        log_.warn("webhook {}: attempt {} failed: {}; trying again in {}",
                                  c->spec.url, attempt, result.detail,
                                  formatDuration(c->queue.backoff(attempt)));
                        break;
                      case DeliveryQueue::Outcome::GaveUp:
                        log_.error("webhook {}: gave up an event after {} attempt{}: {}",
                                   c->spec.url, attempt, attempt == 1 ? "" : "s", result.detail);
                        break;
                    }
                    pump(c);
                  });
}

void WebhookDispatcher::close() {
  for (auto& c : channels_) {
    c->closed = true;
    c->timer.cancel();
  }
  channels_.clear();
}

}  // namespace tend
