#pragma once
// Authentication of the HTTP API: the bearer token kept in api.token_file, one-time login
// codes for the dashboard (`tend dashboard`), and the dashboard's session cookies.
//
// Tokens and codes are 256 random bits from getrandom(2), written as 64 hex digits, and
// always compared in constant time. Codes are single-use and expire; sessions expire and
// are capped in number (the oldest goes first). Sessions live in the daemon's memory: a new
// daemon means logging in again. Pure logic over a Clock (no sockets); not thread-safe.

#include <cstddef>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace tend {

// 64 hex digits of fresh randomness.
std::string randomToken();

// Equal, in time that depends only on the lengths.
bool constantTimeEquals(std::string_view a, std::string_view b);

// Reads the token from `path`, or creates the file (mode 0600, in a folder that exists)
// with a new token when it does not exist. Errors name the file.
std::expected<std::string, std::string> loadOrCreateToken(const std::string& path);

// "Bearer abc" -> "abc"; nullopt for any other scheme or form.
std::optional<std::string_view> bearerToken(std::string_view authorization);
// The value of cookie `name` in a Cookie header ("a=1; tend_session=xyz").
std::optional<std::string_view> cookieValue(std::string_view cookie_header, std::string_view name);

class ApiAuth {
 public:
  static constexpr const char* kCookieName = "tend_session";
  static constexpr Duration kCodeLifetime = std::chrono::minutes(5);
  static constexpr Duration kSessionLifetime = std::chrono::hours(12);
  static constexpr size_t kMaxCodes = 16;
  static constexpr size_t kMaxSessions = 64;

  explicit ApiAuth(const Clock& clock) : clock_(clock) {}

  void setToken(std::string token) { token_ = std::move(token); }
  bool hasToken() const { return !token_.empty(); }
  bool tokenMatches(std::string_view candidate) const;

  // A new one-time login code.
  std::string issueCode();
  // Consumes `code`: a new session id when it was issued, unused and unexpired.
  std::optional<std::string> redeemCode(std::string_view code);
  bool sessionValid(std::string_view session) const;

  // Authorization and Cookie headers of a request: does either let it in?
  bool allows(std::string_view authorization, std::string_view cookie) const;

 private:
  void expire();

  const Clock& clock_;
  std::string token_;
  std::map<std::string, TimePoint> codes_;     // code -> expiry
  std::map<std::string, TimePoint> sessions_;  // session id -> expiry
};

}  // namespace tend
