// The top-level `webhooks` list: defaults, every error with its position, the secret file
// read at validation, and the canonical JSON the daemon validates again.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using namespace std::chrono_literals;

constexpr const char* kApps = "apps:\n  - name: a\n    run: x\n";

std::expected<ConfigFile, ConfigErrors> check(const std::string& text, const std::string& base) {
  auto root = parseConfigText(text, ConfigFormat::Yaml, "tend.yaml");
  if (!root) return std::unexpected(root.error());
  return validateConfig(*root, "tend.yaml", base);
}

std::vector<std::string> errorsOf(const std::string& text, const std::string& base) {
  std::vector<std::string> out;
  auto r = check(text, base);
  if (!r)
    for (const auto& e : r.error()) out.push_back(e.format());
  return out;
}

class WebhookConfig : public ::testing::Test {
 protected:
  testing::TempDir dir;
  std::string secret = dir.write("hook.secret", "key\n");
};

TEST_F(WebhookConfig, TakesEveryKeyAndDefaultsToAllEventsAnd5s) {
  auto r = check(std::string("webhooks:\n  - url: http://127.0.0.1:9000/tend\n"
                             "  - url: https://hooks.example.com/x\n"
                             "    events: [crash, errored, crash]\n"
                             "    secret_file: hook.secret\n    timeout: 2s\n") +
                     kApps,
                 dir.path());
  ASSERT_TRUE(r) << r.error()[0].format();
  ASSERT_TRUE(r->webhooks);
  ASSERT_EQ(r->webhooks->size(), 2u);
  const WebhookSpec& first = (*r->webhooks)[0];
  EXPECT_EQ(first.url, "http://127.0.0.1:9000/tend");
  EXPECT_TRUE(first.events.empty());  // all
  EXPECT_TRUE(first.secret_file.empty());
  EXPECT_EQ(first.timeout, 5s);
  const WebhookSpec& second = (*r->webhooks)[1];
  EXPECT_EQ(second.events, (std::vector<std::string>{"crash", "errored"}));
  EXPECT_EQ(second.secret_file, secret);
  EXPECT_EQ(second.timeout, 2s);
}

TEST_F(WebhookConfig, NoKeyLeavesThemAloneAndAnEmptyListRemovesThem) {
  auto none = check(kApps, dir.path());
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->webhooks);
  auto empty = check(std::string("webhooks: []\n") + kApps, dir.path());
  ASSERT_TRUE(empty);
  ASSERT_TRUE(empty->webhooks);
  EXPECT_TRUE(empty->webhooks->empty());
}

TEST_F(WebhookConfig, RefusesUnknownEventsWithASuggestion) {
  auto errors =
      errorsOf(std::string("webhooks:\n  - url: http://h/\n    events: [crash, onlien]\n") + kApps,
               dir.path());
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0],
            "tend.yaml:3:21: webhooks[0].events: unknown event 'onlien' (did you mean "
            "'online'?) (events: crash, restart, errored, online, stopped, memory_limit, "
            "health_failed, activation, idle_stop)");
}

TEST_F(WebhookConfig, RefusesAMissingOrEmptySecretFile) {
  auto errors =
      errorsOf(std::string("webhooks:\n  - url: http://h/\n    secret_file: nope.secret\n") + kApps,
               dir.path());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "tend.yaml:3:18: webhooks[0].secret_file: cannot read '" + dir.path() +
                           "/nope.secret': No such file or directory");
  dir.write("empty.secret", " \n");
  errors = errorsOf(
      std::string("webhooks:\n  - url: http://h/\n    secret_file: empty.secret\n") + kApps,
      dir.path());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "tend.yaml:3:18: webhooks[0].secret_file: '" + dir.path() +
                           "/empty.secret' is empty; put the signing key in it");
}

TEST_F(WebhookConfig, RefusesBadUrlsUnknownKeysAndAMissingUrl) {
  auto errors = errorsOf(std::string("webhooks:\n  - url: ftp://h/\n  - events: [crash]\n"
                                     "  - url: http://h/\n    secret: x\n") +
                             kApps,
                         dir.path());
  ASSERT_EQ(errors.size(), 3u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0],
            "tend.yaml:2:10: webhooks[0].url: expected a URL such as http://127.0.0.1:9000/tend "
            "or https://hooks.example.com/tend, got 'ftp://h/'");
  EXPECT_EQ(errors[1], "tend.yaml:3:5: webhooks[1]: needs a url");
  EXPECT_NE(errors[2].find("tend.yaml:5:5: unknown key 'secret'"), std::string::npos) << errors[2];
  EXPECT_EQ(errorsOf(std::string("webhooks: {url: http://h/}\n") + kApps, dir.path()),
            (std::vector<std::string>{"tend.yaml:1:11: webhooks: expected a list (start each "
                                      "with '- url: ...'), got a map"}));
}

TEST_F(WebhookConfig, RoundTripsThroughTheCanonicalJson) {
  auto r = check(std::string("webhooks:\n  - url: https://h/x\n    events: [idle_stop]\n"
                             "    secret_file: hook.secret\n    timeout: 250ms\n") +
                     kApps,
                 dir.path());
  ASSERT_TRUE(r);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& w : *r->webhooks) list.push_back(toJson(w));
  auto node = parseConfigText(list.dump(), ConfigFormat::Json, "");
  ASSERT_TRUE(node);
  auto again = validateWebhooks(*node, "", "/");
  ASSERT_TRUE(again) << again.error()[0].format();
  EXPECT_EQ(*again, *r->webhooks);
}

}  // namespace
}  // namespace tend
