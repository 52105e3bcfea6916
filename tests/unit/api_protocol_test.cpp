#include "api/protocol.hpp"

#include <gtest/gtest.h>

namespace tend {
namespace {

std::string errorOf(std::string_view line) {
  auto r = parseRequest(line);
  return r ? "" : r.error();
}

TEST(Protocol, AcceptsKnownCommandsWithTheirFields) {
  auto r = parseRequest(R"({"cmd":"stop","target":"api"})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->cmd, "stop");
  EXPECT_EQ(r->args["target"], "api");
  EXPECT_TRUE(parseRequest(R"({"cmd":"list"})"));
  EXPECT_TRUE(parseRequest(R"({"cmd":"start","apps":[]})"));
}

TEST(Protocol, RefusesWhatIsNotAValidRequest) {
  EXPECT_EQ(errorOf("nope"), "malformed request: not valid JSON");
  EXPECT_EQ(errorOf("[]"), "malformed request: expected a JSON object");
  EXPECT_EQ(errorOf(R"({"target":"x"})"), "malformed request: \"cmd\" must be a string");
  EXPECT_EQ(errorOf(R"({"cmd":7})"), "malformed request: \"cmd\" must be a string");
  EXPECT_EQ(errorOf(R"({"cmd":"explode"})"), "unknown command 'explode'");
  EXPECT_EQ(errorOf(R"({"cmd":"stop"})"), "'stop' needs the field 'target'");
  EXPECT_EQ(errorOf(R"({"cmd":"stop","target":["a"]})"), "field 'target' must be a string");
  EXPECT_EQ(errorOf(R"({"cmd":"list","x":1})"), "'list' takes no field 'x'");
  EXPECT_EQ(errorOf(R"({"cmd":"start"})"), "'start' needs exactly one of 'target' and 'apps'");
  EXPECT_EQ(errorOf(R"({"cmd":"start","target":"a","apps":[]})"),
            "'start' needs exactly one of 'target' and 'apps'");
}

TEST(Protocol, StartAndRestartCarryChangesForceAndTheCallersEnvironment) {
  EXPECT_TRUE(parseRequest(
      R"({"cmd":"start","apps":[],"script":true,"force":true,"set":{"port":1},"caller_env":{}})"));
  EXPECT_TRUE(parseRequest(R"({"cmd":"start","target":"web","set":{"port":3002}})"));
  EXPECT_TRUE(parseRequest(R"({"cmd":"restart","target":"web","set":{},"caller_env":{"A":"b"}})"));
  EXPECT_EQ(errorOf(R"({"cmd":"start","target":"web","force":true})"),
            "'script' and 'force' come with 'apps'");
  EXPECT_EQ(errorOf(R"({"cmd":"restart","target":"web","set":1})"),
            "field 'set' must be an object");
  EXPECT_EQ(errorOf(R"({"cmd":"stop","target":"web","set":{}})"), "'stop' takes no field 'set'");
}

TEST(Protocol, DescribeMayAskForEnvValuesButAParsedRequestIsNeverLocal) {
  auto r = parseRequest(R"({"cmd":"describe","target":"web","show_env":true})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->args["show_env"].get<bool>());
  // Only the control socket marks a request local (after its peer check): text alone,
  // whatever it says, cannot.
  EXPECT_FALSE(r->local);
  EXPECT_FALSE(parseRequest(R"({"cmd":"describe","target":"web","local":true})"));
  EXPECT_EQ(errorOf(R"({"cmd":"describe","target":"web","show_env":1})"),
            "field 'show_env' must be a boolean");
}

TEST(Protocol, RefusesOversizedRequests) {
  std::string big(kMaxRequestBytes + 1, ' ');
  EXPECT_NE(errorOf(big).find("request too large"), std::string::npos);
}

TEST(Protocol, RepliesAreSingleJsonLines) {
  EXPECT_EQ(okReply({{"a", 1}}), "{\"data\":{\"a\":1},\"ok\":true}\n");
  EXPECT_EQ(errorReply("bad\nthing"), "{\"error\":\"bad\\nthing\",\"ok\":false}\n");
  // Invalid UTF-8 from an app's name or output never breaks the reply.
  EXPECT_NO_THROW(okReply(std::string("\xff\xfe")));
}

TEST(Protocol, ScaleTakesACountOrAChangeAndListAGroup) {
  EXPECT_TRUE(parseRequest(R"({"cmd":"scale","target":"api","instances":3})"));
  EXPECT_TRUE(parseRequest(R"({"cmd":"scale","target":"api","by":-1})"));
  EXPECT_EQ(errorOf(R"({"cmd":"scale","target":"api"})"),
            "'scale' needs exactly one of 'instances' and 'by'");
  EXPECT_EQ(errorOf(R"({"cmd":"scale","target":"api","instances":3,"by":1})"),
            "'scale' needs exactly one of 'instances' and 'by'");
  EXPECT_TRUE(parseRequest(R"({"cmd":"list","group":"backend"})"));
  EXPECT_EQ(errorOf(R"({"cmd":"list","group":1})"), "field 'group' must be a string");
  EXPECT_TRUE(parseRequest(R"({"cmd":"start","apps":[{}],"create":true})"));
  EXPECT_EQ(errorOf(R"({"cmd":"start","target":"x","create":true})"), "'create' comes with 'apps'");
}

}  // namespace
}  // namespace tend
