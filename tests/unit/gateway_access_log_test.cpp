// The access log's line formats (json and nginx's combined), without I/O.

#include "gateway/access_log.hpp"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace tend {
namespace {

AccessRecord sample() {
  AccessRecord r;
  r.wall_ms = 1796444471123;  // 2026-12-05T04:21:11.123Z
  r.client = "10.0.0.7";
  r.host = "a.localhost";
  r.method = "GET";
  r.path = "/x?y=1";
  r.status = 200;
  r.bytes = 3;
  r.duration_ms = 1.25;
  r.app = "a";
  r.instance = 2;
  r.user_agent = "curl/7.88.1";
  return r;
}

TEST(AccessLog, JsonHasEveryField) {
  std::string line;
  formatAccessLine(AccessLogFormat::Json, sample(), line);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-12-05T04:21:11.123Z");
  EXPECT_EQ(j["client"], "10.0.0.7");
  EXPECT_EQ(j["host"], "a.localhost");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/x?y=1");
  EXPECT_EQ(j["protocol"], "HTTP/1.1");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes"], 3);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.25);
  EXPECT_EQ(j["app"], "a");
  EXPECT_EQ(j["instance"], 2);
  EXPECT_EQ(j["referer"], "");
  EXPECT_EQ(j["user_agent"], "curl/7.88.1");
}

TEST(AccessLog, JsonEscapesWhatAClientSends) {
  AccessRecord r = sample();
  r.path = "/a\"b\\c\n";
  r.user_agent = std::string_view("x\x01y", 3);
  r.app = "";
  r.instance = -1;
  std::string line;
  formatAccessLine(AccessLogFormat::Json, r, line);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["path"], "/a\"b\\c\n");
  EXPECT_EQ(j["user_agent"], std::string("x\x01y"));
  EXPECT_EQ(j["app"], "-");
  EXPECT_TRUE(j["instance"].is_null());
}

TEST(AccessLog, CombinedIsNginxsFormatThenAppInstanceAndDuration) {
  std::string line;
  formatAccessLine(AccessLogFormat::Combined, sample(), line);
  EXPECT_EQ(line,
            "10.0.0.7 - - [05/Dec/2026:04:21:11 +0000] \"GET /x?y=1 HTTP/1.1\" 200 3 \"-\" "
            "\"curl/7.88.1\" a 2 0.001");
  AccessRecord r = sample();
  r.method = "-";  // no request line could be read
  r.status = 400;
  r.bytes = 0;
  r.app = "";
  r.instance = -1;
  r.user_agent = "say \"hi\"\x7f";
  r.duration_ms = 1500;
  line.clear();
  formatAccessLine(AccessLogFormat::Combined, r, line);
  EXPECT_EQ(line,
            "10.0.0.7 - - [05/Dec/2026:04:21:11 +0000] \"-\" 400 0 \"-\" "
            "\"say \\x22hi\\x22\\x7F\" - - 1.500");
}

}  // namespace
}  // namespace tend
