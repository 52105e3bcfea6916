#pragma once
// The signature of a webhook's body: HMAC-SHA256 with the webhook's secret (OpenSSL's
// HMAC), as the X-Tend-Signature header carries it. Pure; thread-safe.

#include <string>
#include <string_view>

namespace tend {

// Lowercase hex of HMAC-SHA256(key, message): 64 characters.
std::string hmacSha256Hex(std::string_view key, std::string_view message);

// "sha256=<hmacSha256Hex(key, body)>", the value of X-Tend-Signature.
std::string webhookSignature(std::string_view key, std::string_view body);

}  // namespace tend
