#include "api/auth.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "common/files.hpp"
#include "common/unique_fd.hpp"

namespace tend {

std::string randomToken() {
  std::array<unsigned char, 32> bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    // getrandom(2) on Linux >= 3.17 cannot fail otherwise once the pool is ready.
    if (n <= 0) std::abort();
    got += static_cast<size_t>(n);
  }
  std::string out;
  out.reserve(64);
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::expected<std::string, std::string> loadOrCreateToken(const std::string& path) {
  auto text = readFile(path);
  if (text) {
    std::string token = *text;
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    size_t start = 0;
    while (start < token.size() && std::isspace(static_cast<unsigned char>(token[start]))) ++start;
    token.erase(0, start);
    if (token.empty()) return std::unexpected(fmt::format("api token file {} is empty", path));
    if (token.find_first_of(" \t\r\n") != std::string::npos)
      return std::unexpected(fmt::format("api token file {} holds more than one word", path));
    return token;
  }
  if (::access(path.c_str(), F_OK) == 0)
    return std::unexpected(fmt::format("cannot read api token file {}: {}", path, text.error()));
  std::string token = randomToken();
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd)
    return std::unexpected(
        fmt::format("cannot create api token file {}: {}", path, std::strerror(errno)));
  std::string line = token + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return std::unexpected(
        fmt::format("cannot write api token file {}: {}", path, std::strerror(err)));
  }
  return token;
}

std::optional<std::string_view> bearerToken(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer ";
  if (h.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != kScheme[i]) return std::nullopt;
  h.remove_prefix(kScheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  if (h.empty() || h.find_first_of(" \t,") != std::string_view::npos) return std::nullopt;
  return h;
}

std::optional<std::string_view> cookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return std::nullopt;
}

bool ApiAuth::tokenMatches(std::string_view candidate) const {
  return !token_.empty() && constantTimeEquals(candidate, token_);
}

void ApiAuth::expire() {
  TimePoint now = clock_.now();
  std::erase_if(codes_, [now](const auto& kv) { return kv.second <= now; });
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second <= now; });
}

namespace {
// Drops the entry that expires first.
void dropOldest(std::map<std::string, TimePoint>& m) {
  auto oldest = std::min_element(m.begin(), m.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
  if (oldest != m.end()) m.erase(oldest);
}
}  // namespace

std::string ApiAuth::issueCode() {
  expire();
  if (codes_.size() >= kMaxCodes) dropOldest(codes_);
  std::string code = randomToken();
  codes_[code] = clock_.now() + kCodeLifetime;
  return code;
}

std::optional<std::string> ApiAuth::redeemCode(std::string_view code) {
  expire();
  // Every stored code is compared (in constant time), so timing tells nothing of them.
  auto found = codes_.end();
  for (auto it = codes_.begin(); it != codes_.end(); ++it)
    if (constantTimeEquals(code, it->first)) found = it;
  if (found == codes_.end()) return std::nullopt;
  codes_.erase(found);
  if (sessions_.size() >= kMaxSessions) dropOldest(sessions_);
  std::string session = randomToken();
  sessions_[session] = clock_.now() + kSessionLifetime;
  return session;
}

bool ApiAuth::sessionValid(std::string_view session) const {
  TimePoint now = clock_.now();
  bool ok = false;
  for (const auto& [id, expiry] : sessions_)
    if (constantTimeEquals(session, id) && expiry > now) ok = true;
  return ok;
}

bool ApiAuth::allows(std::string_view authorization, std::string_view cookie) const {
  if (auto token = bearerToken(authorization); token && tokenMatches(*token)) return true;
  if (auto session = cookieValue(cookie, kCookieName); session && sessionValid(*session))
    return true;
  return false;
}

}  // namespace tend
