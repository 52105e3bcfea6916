#pragma once
// Probes: what an instance's `ready` or `health` check comes down to (a TCP connect, an
// HTTP GET, a command, or waiting for sd_notify's READY=1), and the one-shot network
// checks themselves. A network check runs on the loop, is bounded by its timeout, reads
// a bounded reply and reports exactly once.

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "config/app_spec.hpp"

namespace boost::asio {
class io_context;
}

namespace tend {

struct ProbeCheck {
  enum class Kind { None, Tcp, Http, Exec, Notify };
  Kind kind = Kind::None;
  std::string host = "127.0.0.1";  // tcp, http
  uint16_t port = 0;               // tcp, http
  std::string path = "/";          // http: path and query
  std::string host_header;         // http: as in the URL
  std::string url;                 // http: the whole URL, for people
  int expect = 200;                // http: the statuses that pass, expect..expect_last
  int expect_last = 200;
  std::string method = "GET";  // http: GET, HEAD, POST or PUT
  std::string body;            // http: sent with Content-Length (POST, PUT)
  bool tls = false;            // http: an https:// URL
  bool insecure = false;       // tls: the server's certificate is not verified
  // http: more request headers (webhooks: Content-Type, the signature).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "tend-probe";  // http
  std::string command;                    // exec: run under /bin/sh -c
  // tcp, http: when > 0, the check passes only when the socket listening on `port` belongs
  // to this process's tree (see socket_owner.hpp); an answer from anyone else is a "not
  // yet". 0: whoever answers.
  pid_t owner = 0;

  // "tcp 127.0.0.1:3000", "http://127.0.0.1:3000/health", "exec 'pg_isready'", "notify"
  std::string describe() const;
};

// What `probe` checks for an instance listening on `instance_port` (0: none). Without a
// probe (`ready` not given): a TCP connect to the instance's own port when it has one,
// else nothing (Kind::None: ready at once).
ProbeCheck resolveProbe(const ProbeSpec* probe, uint16_t instance_port);

// Makes `check` (a ready check of the instance whose process, and process group, is `pid`,
// listening on `instance_port`) count only when the instance itself answers: when it is a
// tcp or http check of `instance_port` on a loopback or unspecified address (or
// "localhost"). A check of another port or host (a port forwarded by something outside
// the instance, a remote service) is left as it is: its answer cannot be traced to the
// instance.
void requireOwnListener(ProbeCheck& check, uint16_t instance_port, pid_t pid);

// The part of an exec check's output that goes into its failure message: its last line
// that is not blank, trimmed, at most 200 bytes (cut at the start, marked with "..."); ""
// when it printed nothing.
std::string probeOutputLine(std::string_view output);

struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string path = "/";
  std::string host_header;  // host[:port] as written
  bool tls = false;         // https://, port 443 unless given
};
// http://host[:port][/path?query] or https://...; no user info.
std::expected<HttpUrl, std::string> parseHttpUrl(std::string_view url);

// The status code of an HTTP/1.x response's status line ("HTTP/1.1 200 OK"); nullopt
// when `line` is not one.
std::optional<int> parseStatusLine(std::string_view line);

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed ("connect 127.0.0.1:3001: connection refused")
  int status = 0;      // http: the response's status; 0 when none came
};
using ProbeDone = std::function<void(ProbeResult)>;

// Whether `status` is one that `check` passes on.
bool statusExpected(const ProbeCheck& check, int status);

// Runs a Tcp or Http check. An https check verifies the server's certificate against the
// system's store (and its name against the URL's host) unless `insecure`. `done` is called
// exactly once, from the loop (never inside this call), within about `timeout`.
void runNetworkCheck(boost::asio::io_context& io, const ProbeCheck& check, Duration timeout,
                     ProbeDone done);

}  // namespace tend
