#pragma once
// The gateway's access log (gateway.access_log): one line per request, formatted here
// without I/O, written by an AccessLogSink the daemon gives the gateway
// (Gateway::setAccessLog()). Formats:
//   json:     {"time":"2026-12-05T04:11:11.123Z","client":"10.0.0.7","host":"a.localhost",
//              "method":"GET","path":"/x?y=1","protocol":"HTTP/1.1","status":200,"bytes":3,
//              "duration_ms":1.25,"app":"a","instance":0,"referer":"","user_agent":"curl/7.88"}
//   combined: nginx's combined format, then app, instance and duration (seconds, as nginx's
//             $request_time):
//              10.0.0.7 - - [05/Dec/2026:04:11:11 +0000] "GET /x?y=1 HTTP/1.1" 200 3 "-"
//              "curl/7.88" a 0 0.001
// A request that reached no app (400, 404, a 503 at the connection cap) has app "-"; an
// instance is "-" (null in JSON) when the target is not one of the app's instances.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tend {

enum class AccessLogFormat { Json, Combined };

struct AccessRecord {
  int64_t wall_ms = 0;  // when the request began (its head was read)
  std::string_view client;
  std::string_view host;
  std::string_view method;  // "-" when the request line could not be read
  std::string_view path;
  int http_minor = 1;  // HTTP/1.<minor>
  int status = 0;
  uint64_t bytes = 0;  // response body bytes sent to the client (nginx's $body_bytes_sent)
  double duration_ms = 0;
  std::string_view app;  // "" when no app took the request
  int instance = -1;     // TEND_INSTANCE of the target, -1 when none
  std::string_view referer;
  std::string_view user_agent;
};

// Appends the record's line (without '\n') to `out`.
void formatAccessLine(AccessLogFormat format, const AccessRecord& record, std::string& out);

class AccessLogSink {
 public:
  virtual ~AccessLogSink() = default;
  // One request. Must not block: buffer, and drop (counting) when the disk cannot keep up.
  virtual void record(AccessLogFormat format, const AccessRecord& record) = 0;
};

}  // namespace tend
