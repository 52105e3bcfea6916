// The http ready/health check's own keys: `expect` as a status, range or class, `method`,
// `body`, `insecure` and https:// URLs; their validation errors (file:line:col) and their
// canonical JSON.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config/http_check.hpp"

namespace tend {
namespace {

std::vector<std::string> errorsOf(const std::string& text) {
  std::vector<std::string> out;
  auto root = parseConfigText(text, ConfigFormat::Yaml, "tend.yaml");
  if (!root) {
    for (const auto& e : root.error()) out.push_back(e.format());
    return out;
  }
  auto result = validateConfig(*root, "tend.yaml", "/base");
  if (!result)
    for (const auto& e : result.error()) out.push_back(e.format());
  return out;
}

// One app "a" with a ready check whose keys are `probe` (one "key: value" per line); they
// start on line 6, column 7.
std::string readyWith(const std::string& probe) {
  std::string out = "apps:\n  - name: a\n    run: x\n    port: 3000\n    ready:\n";
  size_t start = 0;
  while (start < probe.size()) {
    size_t end = probe.find('\n', start);
    if (end == std::string::npos) end = probe.size();
    out += "      " + probe.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

ProbeSpec readyOf(const std::string& probe) {
  auto root = parseConfigText(readyWith(probe), ConfigFormat::Yaml, "tend.yaml");
  EXPECT_TRUE(root.has_value());
  auto config = validateConfig(*root, "tend.yaml", "/base");
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error()[0].format());
  if (!config || !config->apps[0].ready) return {};
  return *config->apps[0].ready;
}

void expectError(const std::string& probe, const std::string& expected) {
  auto errors = errorsOf(readyWith(probe));
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], expected);
}

TEST(StatusRange, ReadsAStatusARangeAndAClass) {
  EXPECT_EQ(parseStatusRange("204").value(), (StatusRange{204, 204}));
  EXPECT_EQ(parseStatusRange("200-299").value(), (StatusRange{200, 299}));
  EXPECT_EQ(parseStatusRange("2xx").value(), (StatusRange{200, 299}));
  EXPECT_EQ(parseStatusRange("5XX").value(), (StatusRange{500, 599}));
  EXPECT_EQ(parseStatusRange("301-301").value(), (StatusRange{301, 301}));
}

TEST(StatusRange, RefusesWhatIsNotAStatus) {
  EXPECT_EQ(parseStatusRange("ok").error(),
            "expected an HTTP status (200), a range (200-299) or a class (2xx), got 'ok'");
  EXPECT_EQ(parseStatusRange("200-").error(),
            "expected an HTTP status (200), a range (200-299) or a class (2xx), got '200-'");
  EXPECT_EQ(parseStatusRange("6xx").error(),
            "expected an HTTP status (200), a range (200-299) or a class (2xx), got '6xx'");
  EXPECT_EQ(parseStatusRange("99").error(), "99 is not an HTTP status (100 to 599)");
  EXPECT_EQ(parseStatusRange("200-600").error(), "600 is not an HTTP status (100 to 599)");
  EXPECT_EQ(parseStatusRange("299-200").error(),
            "the range 299-200 is empty (write the lower status first)");
}

TEST(StatusRange, FormatsAsTheConfigWritesIt) {
  EXPECT_EQ(formatStatusRange({200, 200}), "200");
  EXPECT_EQ(formatStatusRange({200, 299}), "200-299");
}

TEST(HttpCheckConfig, DefaultsToGetAndExactly200) {
  ProbeSpec p = readyOf("http: http://127.0.0.1:3000/health");
  EXPECT_EQ(p.method, "GET");
  EXPECT_EQ(p.expect_status, 200);
  EXPECT_EQ(p.expect_last, 0);  // 200 alone
  EXPECT_TRUE(p.body.empty());
  EXPECT_FALSE(p.insecure);
}

TEST(HttpCheckConfig, TakesHttpsMethodBodyExpectAndInsecure) {
  ProbeSpec p = readyOf(
      "http: https://127.0.0.1:3000/health\nmethod: post\nbody: '{\"ping\": 1}'\n"
      "expect: 2xx\ninsecure: true");
  EXPECT_EQ(p.http, "https://127.0.0.1:3000/health");
  EXPECT_EQ(p.method, "POST");
  EXPECT_EQ(p.body, "{\"ping\": 1}");
  EXPECT_EQ(p.expect_status, 200);
  EXPECT_EQ(p.expect_last, 299);
  EXPECT_TRUE(p.insecure);
  EXPECT_EQ(readyOf("http: http://127.0.0.1:3000/\nexpect: 200-204").expect_last, 204);
  EXPECT_EQ(readyOf("http: http://127.0.0.1:3000/\nexpect: 204").expect_status, 204);
  EXPECT_EQ(readyOf("http: http://127.0.0.1:3000/\nmethod: HEAD").method, "HEAD");
}

TEST(HttpCheckConfig, RoundTripsThroughTheCanonicalJson) {
  auto root = parseConfigText(readyWith("http: https://127.0.0.1:3000/health\nmethod: PUT\n"
                                        "body: x\nexpect: 200-299\ninsecure: true"),
                              ConfigFormat::Yaml, "tend.yaml");
  auto config = validateConfig(*root, "tend.yaml", "/base");
  ASSERT_TRUE(config.has_value());
  nlohmann::json j = toJson(config->apps[0]);
  EXPECT_EQ(j["ready"]["expect"], "200-299");
  EXPECT_EQ(j["ready"]["method"], "PUT");
  EXPECT_EQ(j["ready"]["body"], "x");
  EXPECT_EQ(j["ready"]["insecure"], true);
  auto node = parseConfigText(j.dump(), ConfigFormat::Json, "");
  ASSERT_TRUE(node.has_value());
  auto again = validateApp(*node, "", "/base");
  ASSERT_TRUE(again.has_value()) << again.error()[0].format();
  EXPECT_EQ(*again->ready, *config->apps[0].ready);
}

TEST(HttpCheckConfig, RefusesOtherMethods) {
  expectError("http: http://127.0.0.1:3000/\nmethod: DELETE",
              "tend.yaml:7:15: ready.method: expected GET, HEAD, POST or PUT, got 'DELETE'");
}

TEST(HttpCheckConfig, RefusesABadExpect) {
  expectError("http: http://127.0.0.1:3000/\nexpect: 2yy",
              "tend.yaml:7:15: ready.expect: expected an HTTP status (200), a range (200-299) "
              "or a class (2xx), got '2yy'");
  expectError("http: http://127.0.0.1:3000/\nexpect: 700",
              "tend.yaml:7:15: ready.expect: 700 is not an HTTP status (100 to 599)");
}

TEST(HttpCheckConfig, RefusesABodyWithoutPostOrPut) {
  expectError("http: http://127.0.0.1:3000/\nbody: x",
              "tend.yaml:7:7: ready: a body is sent with method POST or PUT, not GET");
}

TEST(HttpCheckConfig, RefusesInsecureForPlainHttp) {
  expectError("http: http://127.0.0.1:3000/\ninsecure: true",
              "tend.yaml:7:7: ready: insecure skips the certificate check of an https:// URL; "
              "http://127.0.0.1:3000/ is plain http");
}

TEST(HttpCheckConfig, RefusesHttpKeysOnOtherChecks) {
  expectError("tcp: 3000\nmethod: GET",
              "tend.yaml:7:7: ready: method applies to an http check only");
}

TEST(HttpCheckConfig, RefusesOtherSchemes) {
  expectError("http: ftp://127.0.0.1/",
              "tend.yaml:6:13: ready.http: expected a URL starting with http:// or https://, "
              "got 'ftp://127.0.0.1/'");
}

}  // namespace
}  // namespace tend
