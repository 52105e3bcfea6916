#include "supervisor/probe.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <memory>

#include "common/duration.hpp"
#include "common/text.hpp"
#include "supervisor/socket_owner.hpp"

namespace tend {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string ProbeCheck::describe() const {
  switch (kind) {
    case Kind::None:
      return "none";
    case Kind::Tcp:
      return fmt::format("tcp {}:{}", host, port);
    case Kind::Http:
      return url;
    case Kind::Exec:
      return fmt::format("exec {}", shellQuote(command));
    case Kind::Notify:
      return "notify";
  }
  return "none";
}

std::expected<HttpUrl, std::string> parseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  constexpr std::string_view kTlsScheme = "https://";
  HttpUrl out;
  std::string_view rest;
  if (url.starts_with(kScheme)) {
    rest = url.substr(kScheme.size());
  } else if (url.starts_with(kTlsScheme)) {
    rest = url.substr(kTlsScheme.size());
    out.tls = true;
    out.port = 443;
  } else {
    return std::unexpected("expected a URL starting with http:// or https://");
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    if (size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
    out.path = path.empty() || path[0] != '/' ? "/" + std::string(path) : std::string(path);
  }
  if (authority.empty()) return std::unexpected("the URL has no host");
  if (authority.find('@') != std::string_view::npos)
    return std::unexpected("user info in a probe URL is not supported");
  out.host_header = std::string(authority);
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::unexpected("unclosed [ in the URL's host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::unexpected("junk after the URL's host");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::unexpected("the URL has no host");
  out.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return std::unexpected(fmt::format("bad port '{}' in the URL", port));
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

std::optional<int> parseStatusLine(std::string_view line) {
  if (!line.starts_with("HTTP/1.")) return std::nullopt;
  size_t space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return std::nullopt;
  std::string_view code = line.substr(space + 1, 3);
  int value = 0;
  auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
  if (ec != std::errc() || end != code.data() + code.size() || value < 100 || value > 999)
    return std::nullopt;
  if (line.size() > space + 4 && line[space + 4] != ' ' && line[space + 4] != '\r')
    return std::nullopt;
  return value;
}

std::string probeOutputLine(std::string_view output) {
  constexpr size_t kMax = 200;
  output = trim(output);
  if (size_t nl = output.rfind('\n'); nl != std::string_view::npos)
    output = trim(output.substr(nl + 1));
  std::string line;
  if (output.size() > kMax) {
    output.remove_prefix(output.size() - kMax);
    // Not in the middle of a character.
    while (!output.empty() && (static_cast<unsigned char>(output.front()) & 0xC0) == 0x80)
      output.remove_prefix(1);
    line = "...";
  }
  // Valid UTF-8 (the message goes into JSON), control characters as spaces.
  for (size_t i = 0; i < output.size();) {
    uint32_t cp = 0;
    size_t len = decodeUtf8(output, i, cp);
    if (len == 0) {
      line += '?';
      ++i;
    } else {
      if (cp < 0x20 || cp == 0x7F)
        line += ' ';
      else
        line.append(output.substr(i, len));
      i += len;
    }
  }
  return line;
}

ProbeCheck resolveProbe(const ProbeSpec* probe, uint16_t instance_port) {
  ProbeCheck c;
  if (!probe) {
    if (instance_port) {
      c.kind = ProbeCheck::Kind::Tcp;
      c.port = instance_port;
    }
    return c;
  }
  if (probe->tcp) {
    c.kind = ProbeCheck::Kind::Tcp;
    c.port = probe->tcp;
  } else if (!probe->http.empty()) {
    c.kind = ProbeCheck::Kind::Http;
    c.url = probe->http;
    c.expect = probe->expect_status;
    c.expect_last = probe->expect_last ? probe->expect_last : probe->expect_status;
    c.method = probe->method;
    c.body = probe->body;
    c.insecure = probe->insecure;
    if (auto u = parseHttpUrl(probe->http)) {
      c.tls = u->tls;
      c.host = u->host;
      c.port = u->port;
      c.path = u->path;
      c.host_header = u->host_header;
    }  // the validator accepted it; a URL this cannot read fails at connect (port 0)
  } else if (!probe->exec.empty()) {
    c.kind = ProbeCheck::Kind::Exec;
    c.command = probe->exec;
  } else if (probe->notify) {
    c.kind = ProbeCheck::Kind::Notify;
  }
  return c;
}

void requireOwnListener(ProbeCheck& check, uint16_t instance_port, pid_t pid) {
  if (pid <= 0 || instance_port == 0 || check.port != instance_port) return;
  if (check.kind != ProbeCheck::Kind::Tcp && check.kind != ProbeCheck::Kind::Http) return;
  bool local = check.host == "localhost";
  if (!local) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(check.host, ec);
    local =
        !ec && (address.is_loopback() || address.is_unspecified() ||
                (address.is_v6() && address.to_v6().is_v4_mapped() &&
                 asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback()));
  }
  if (local) check.owner = pid;
}

bool statusExpected(const ProbeCheck& check, int status) {
  return status >= check.expect && status <= check.expect_last;
}

namespace {

std::string errorText(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::eof) return "connection closed";
  return ec.message();
}

std::string expectedText(const ProbeCheck& check) {
  if (check.expect == check.expect_last) return std::to_string(check.expect);
  return fmt::format("{}-{}", check.expect, check.expect_last);
}

// One TCP or HTTP(S) check in flight. Owns itself through its pending handlers.
class NetworkCheck : public std::enable_shared_from_this<NetworkCheck> {
 public:
  NetworkCheck(asio::io_context& io, ProbeCheck check, Duration timeout, ProbeDone done)
      : check_(std::move(check)),
        timeout_(timeout),
        resolver_(io),
        socket_(io),
        timer_(io),
        done_(std::move(done)) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(timeout_);
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec)
        self->finish(
            {false, self->where() + ": timed out after " + formatDuration(self->timeout_)});
    });
    boost::system::error_code ec;
    auto address =
        asio::ip::make_address(check_.host == "localhost" ? "127.0.0.1" : check_.host, ec);
    if (!ec) {
      connect(tcp::endpoint(address, check_.port));
      return;
    }
    resolver_.async_resolve(
        check_.host, std::to_string(check_.port),
        [self](boost::system::error_code rec, tcp::resolver::results_type r) {
          if (self->finished_) return;
          if (rec || r.empty()) {
            self->finish({false, fmt::format("resolve {}: {}", self->check_.host, errorText(rec))});
            return;
          }
          self->connect(r.begin()->endpoint());
        });
  }

 private:
  std::string where() const {
    return check_.kind == ProbeCheck::Kind::Http
               ? check_.url
               : fmt::format("connect {}:{}", check_.host, check_.port);
  }

  void connect(const tcp::endpoint& endpoint) {
    socket_.async_connect(endpoint, [self = shared_from_this()](boost::system::error_code ec) {
      if (self->finished_) return;
      if (ec) {
        self->finish({false, fmt::format("{}: {}", self->where(), errorText(ec))});
        return;
      }
      if (self->check_.kind == ProbeCheck::Kind::Tcp) {
        self->passed();
        return;
      }
      if (self->check_.tls) {
        self->handshake();
        return;
      }
      self->request();
    });
  }

  // TLS over the connected socket: the system's trust store and the URL's host name
  // (unless insecure), SNI when the host is a name.
  void handshake() {
    tls_context_.emplace(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    if (check_.insecure) {
      tls_context_->set_verify_mode(asio::ssl::verify_none);
    } else {
      tls_context_->set_default_verify_paths(ec);
      tls_context_->set_verify_mode(asio::ssl::verify_peer);
      tls_context_->set_verify_callback(asio::ssl::host_name_verification(check_.host));
    }
    tls_.emplace(socket_, *tls_context_);
    boost::system::error_code not_ip;
    asio::ip::make_address(check_.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(tls_->native_handle(), check_.host.c_str());
    tls_->async_handshake(
        asio::ssl::stream_base::client, [self = shared_from_this()](boost::system::error_code hec) {
          if (self->finished_) return;
          if (hec) {
            self->finish({false, fmt::format("{}: TLS handshake: {}", self->where(),
                                             self->tlsErrorText(hec))});
            return;
          }
          self->request();
        });
  }

  // Why a handshake failed, in the words of the certificate check when it was that.
  std::string tlsErrorText(const boost::system::error_code& ec) {
    if (tls_) {
      long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK)
        return fmt::format("certificate verify failed: {} (insecure: true skips the check)",
                           X509_verify_cert_error_string(verify));
    }
    return errorText(ec);
  }

  template <typename Handler>
  void write(Handler handler) {
    if (tls_)
      asio::async_write(*tls_, asio::buffer(request_), std::move(handler));
    else
      asio::async_write(socket_, asio::buffer(request_), std::move(handler));
  }

  template <typename Handler>
  void readSome(asio::mutable_buffer buffer, Handler handler) {
    if (tls_)
      tls_->async_read_some(buffer, std::move(handler));
    else
      socket_.async_read_some(buffer, std::move(handler));
  }

  void request() {
    request_ = fmt::format(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\n"
        "Connection: close\r\n",
        check_.method, check_.path, check_.host_header, check_.user_agent);
    for (const auto& [name, value] : check_.headers)
      request_ += fmt::format("{}: {}\r\n", name, value);
    if (!check_.body.empty() || check_.method == "POST" || check_.method == "PUT")
      request_ += fmt::format("Content-Length: {}\r\n", check_.body.size());
    request_ += "\r\n";
    request_ += check_.body;
    write([self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (self->finished_) return;
      if (ec) {
        self->finish({false, fmt::format("{}: {}", self->where(), errorText(ec))});
        return;
      }
      self->readStatus();
    });
  }

  // Reads until the status line is complete; only that is looked at, within 1 KiB.
  void readStatus() {
    readSome(asio::buffer(buffer_.data() + used_, buffer_.size() - used_),
             [self = shared_from_this()](boost::system::error_code ec, size_t n) {
               if (self->finished_) return;
               self->used_ += n;
               std::string_view got(self->buffer_.data(), self->used_);
               size_t eol = got.find('\n');
               if (eol == std::string_view::npos) {
                 if (ec || self->used_ == self->buffer_.size()) {
                   self->finish({false, fmt::format("{}: {}", self->where(),
                                                    ec ? errorText(ec) : "no HTTP status line")});
                   return;
                 }
                 self->readStatus();
                 return;
               }
               auto status = parseStatusLine(got.substr(0, eol));
               if (status) self->status_ = *status;
               if (!status) {
                 self->finish({false, fmt::format("{}: not an HTTP response", self->where())});
               } else if (!statusExpected(self->check_, *status)) {
                 self->finish({false, fmt::format("{}: status {} (expected {})", self->where(),
                                                  *status, expectedText(self->check_))});
               } else {
                 self->passed();
               }
             });
  }

  // It answered as expected; with an owner, only its own listener counts.
  void passed() {
    if (check_.owner > 0) {
      PortListeners listeners = listenersOf(check_.port, check_.owner);
      // No listener seen at all (the tables are unreadable, or the port is forwarded from
      // another network namespace): nothing to hold against the answer.
      if (listeners.found && !listeners.owned) {
        finish({false, fmt::format("port {} answers, but not from this instance (pid {}'s tree)",
                                   check_.port, check_.owner)});
        return;
      }
    }
    finish({true, ""});
  }

  void finish(ProbeResult result) {
    if (finished_) return;
    finished_ = true;
    result.status = status_;
    boost::system::error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.close(ignored);
    auto done = std::move(done_);
    done(std::move(result));
  }

  ProbeCheck check_;
  Duration timeout_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  std::optional<asio::ssl::context> tls_context_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;  // over socket_, for https
  asio::steady_timer timer_;
  ProbeDone done_;
  std::string request_;
  std::array<char, 1024> buffer_{};
  size_t used_ = 0;
  int status_ = 0;
  bool finished_ = false;
};

}  // namespace

void runNetworkCheck(asio::io_context& io, const ProbeCheck& check, Duration timeout,
                     ProbeDone done) {
  if (check.port == 0) {
    asio::post(io, [check, done = std::move(done)] {
      done({false, fmt::format("{}: no port to connect to", check.describe())});
    });
    return;
  }
  auto op = std::make_shared<NetworkCheck>(io, check, timeout, std::move(done));
  // Posted, so `done` never runs inside this call.
  asio::post(io, [op] { op->start(); });
}

}  // namespace tend
