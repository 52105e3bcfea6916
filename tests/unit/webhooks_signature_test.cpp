// The webhook signature: HMAC-SHA256 in lowercase hex, checked against RFC 4231's vectors.

#include <gtest/gtest.h>

#include <string>

#include "webhooks/signature.hpp"

namespace tend {
namespace {

TEST(WebhookSignature, MatchesRfc4231TestCase2) {
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookSignature, MatchesRfc4231TestCase1) {
  const std::string key(20, '\x0b');
  EXPECT_EQ(hmacSha256Hex(key, "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(WebhookSignature, IsTheHeaderValueOfTheExactBody) {
  EXPECT_EQ(webhookSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // One byte more is another signature.
  EXPECT_NE(webhookSignature("Jefe", "what do ya want for nothing?\n"),
            webhookSignature("Jefe", "what do ya want for nothing?"));
}

}  // namespace
}  // namespace tend
