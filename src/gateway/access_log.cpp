#include "gateway/access_log.hpp"

#include <fmt/format.h>

#include <ctime>

#include "common/clock.hpp"

namespace tend {

namespace {

// JSON string contents: quotes, backslashes and control characters escaped; bytes that are
// not UTF-8 are passed on as they are (the reader decides).
void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// As nginx escapes variables in its access log: '"', '\\' and bytes outside printable
// ASCII become \xHH; an empty value is "-".
void appendNginx(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += '-';
    return;
  }
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
}

// nginx's $time_local, in UTC: "05/Dec/2026:04:11:11 +0000".
void appendTimeLocal(std::string& out, int64_t wall_ms) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  out += fmt::format("{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000", tm.tm_mday, kMonths[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

void formatAccessLine(AccessLogFormat format, const AccessRecord& r, std::string& out) {
  std::string_view app = r.app.empty() ? std::string_view("-") : r.app;
  if (format == AccessLogFormat::Json) {
    out += "{\"time\":";
    appendJsonString(out, formatTimestamp(r.wall_ms));
    out += ",\"client\":";
    appendJsonString(out, r.client);
    out += ",\"host\":";
    appendJsonString(out, r.host);
    out += ",\"method\":";
    appendJsonString(out, r.method);
    out += ",\"path\":";
    appendJsonString(out, r.path);
    out +=
        fmt::format(",\"protocol\":\"HTTP/1.{}\",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3f}",
                    r.http_minor, r.status, r.bytes, r.duration_ms);
    out += ",\"app\":";
    appendJsonString(out, app);
    out += ",\"instance\":";
    out += r.instance >= 0 ? std::to_string(r.instance) : "null";
    out += ",\"referer\":";
    appendJsonString(out, r.referer);
    out += ",\"user_agent\":";
    appendJsonString(out, r.user_agent);
    out += '}';
    return;
  }
  appendNginx(out, r.client);
  out += " - - [";
  appendTimeLocal(out, r.wall_ms);
  out += "] \"";
  if (r.method == "-" || r.method.empty()) {
    out += '-';
  } else {
    appendNginx(out, r.method);
    out += ' ';
    appendNginx(out, r.path);
    out += fmt::format(" HTTP/1.{}", r.http_minor);
  }
  out += fmt::format("\" {} {} \"", r.status, r.bytes);
  appendNginx(out, r.referer);
  out += "\" \"";
  appendNginx(out, r.user_agent);
  out += "\" ";
  appendNginx(out, app);
  out += ' ';
  out += r.instance >= 0 ? std::to_string(r.instance) : "-";
  out += fmt::format(" {:.3f}", r.duration_ms / 1000.0);
}

}  // namespace tend
