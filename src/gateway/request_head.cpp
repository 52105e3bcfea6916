#include "gateway/request_head.hpp"

#include "gateway/header_rules.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/text.hpp"

namespace tend {

namespace {

constexpr size_t kMaxLeadingEmptyLines = 8;

bool isTokenChar(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

HeadScan reject(int status, std::string reason) {
  HeadScan out;
  out.result = HeadScan::Result::Reject;
  out.status = status;
  out.reason = std::move(reason);
  return out;
}

std::optional<uint64_t> parseLength(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

std::string_view trimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each element of a comma-separated framing header, trimmed. Unlike
// forEachListElement it does not skip empty elements: false when there is one (",
// chunked", "5,"), as a framing header is where a proxy and an app must not read a value
// two ways.
template <typename F>
bool forEachStrictElement(std::string_view list, F&& f) {
  while (true) {
    auto comma = list.find(',');
    auto element = trimSpaces(list.substr(0, comma));
    if (element.empty()) return false;
    f(element);
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

bool isTargetChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;  // visible ASCII and obs-text; no space, no control
}

// Checks a request line, `method SP request-target SP HTTP-version` (RFC 9112 section 3),
// or as much of it as has arrived (`complete` false): anything that cannot begin a request
// line is refused at once, such as a TLS ClientHello sent to the plain HTTP port.
std::optional<HeadScan> checkRequestLine(std::string_view line, bool complete) {
  auto malformed = [] { return reject(400, "malformed request line"); };
  size_t i = 0;
  while (i < line.size() && isTokenChar(line[i])) ++i;
  if (i == line.size()) {
    if (complete) return malformed();
    return std::nullopt;
  }
  if (i == 0 || line[i] != ' ') return malformed();
  size_t target = ++i;
  while (i < line.size() && isTargetChar(line[i])) ++i;
  if (i == line.size()) {
    if (complete) return malformed();
    return std::nullopt;
  }
  if (i == target || line[i] != ' ') return malformed();
  std::string_view version = line.substr(i + 1);
  constexpr std::string_view kShape = "HTTP/d.d";
  if (version.size() > kShape.size()) return malformed();
  for (size_t k = 0; k < version.size(); ++k) {
    bool ok = kShape[k] == 'd' ? version[k] >= '0' && version[k] <= '9' : version[k] == kShape[k];
    if (!ok) return malformed();
  }
  if (!complete) return std::nullopt;
  if (version.size() != kShape.size()) return malformed();
  if (version[5] != '1') return reject(505, "HTTP version not supported");
  return std::nullopt;
}

// Every CR must start a CRLF and every LF end one. Looks at head[from..]; a CR at the very
// end may still be followed by its LF.
std::optional<HeadScan> checkLineEnds(std::string_view head, size_t from) {
  for (size_t i = from; i < head.size(); ++i) {
    if (head[i] == '\r' && i + 1 < head.size() && head[i + 1] != '\n') {
      return reject(400, "bare CR in the request head");
    }
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
      return reject(400, "bare LF in the request head (lines must end in CRLF)");
    }
  }
  return std::nullopt;
}

// Validates the complete head (without leading empty lines, up to and including CRLF CRLF).
HeadScan checkHead(std::string_view head, const HeadLimits& limits) {
  if (auto bad = checkLineEnds(head, 0)) return *bad;
  std::string_view rest = head.substr(0, head.size() - 2);  // drop the final empty line
  auto eol = rest.find("\r\n");
  std::string_view request_line = rest.substr(0, eol);
  if (request_line.size() > limits.max_request_line) return reject(414, "request line too long");
  if (auto bad = checkRequestLine(request_line, true)) return *bad;
  rest.remove_prefix(eol + 2);
  bool http10 = request_line.ends_with(" HTTP/1.0");

  size_t fields = 0;
  int hosts = 0;
  std::optional<uint64_t> content_length;
  bool has_content_length = false;
  std::vector<std::string> codings;
  bool has_transfer_encoding = false;
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (++fields > limits.max_headers) return reject(431, "too many header fields");
    if (line.empty()) return reject(400, "empty header line");
    if (line.front() == ' ' || line.front() == '\t') return reject(400, "obsolete line folding");
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return reject(400, "header field without a colon");
    std::string_view name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), isTokenChar)) {
      return reject(400, "malformed header field name");
    }
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      has_content_length = true;
      bool bad = false, differ = false;
      bool well_formed = forEachStrictElement(value, [&](std::string_view element) {
        auto v = parseLength(element);
        if (!v) {
          bad = true;
        } else if (content_length && *content_length != *v) {
          differ = true;
        } else {
          content_length = v;
        }
      });
      if (bad || !well_formed) return reject(400, "invalid Content-Length");
      if (differ) return reject(400, "conflicting Content-Length values");
    } else if (iequals(name, "transfer-encoding")) {
      has_transfer_encoding = true;
      bool malformed = false, parameters = false;
      bool well_formed = forEachStrictElement(value, [&](std::string_view element) {
        auto semicolon = element.find(';');
        std::string coding = toLower(trimSpaces(element.substr(0, semicolon)));
        if (coding.empty() || !std::all_of(coding.begin(), coding.end(), isTokenChar)) {
          malformed = true;
        }
        if (coding == "chunked" && semicolon != std::string_view::npos) parameters = true;
        codings.push_back(std::move(coding));
      });
      if (!well_formed || malformed) return reject(400, "malformed Transfer-Encoding");
      if (parameters) return reject(400, "Transfer-Encoding: chunked takes no parameters");
    } else if (iequals(name, "host")) {
      ++hosts;
    }
  }
  if (has_transfer_encoding) {
    if (has_content_length) return reject(400, "Content-Length with Transfer-Encoding");
    if (http10) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (codings.empty() || codings.back() != "chunked") {
      return reject(400, "Transfer-Encoding does not end in chunked");
    }
    if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
      return reject(400, "chunked given more than once");
    }
    if (codings.size() > 1) return reject(501, "unsupported transfer coding");
  }
  if (hosts > 1) return reject(400, "more than one Host header");
  if (hosts == 0 && !http10) return reject(400, "no Host header");
  return {};
}

}  // namespace

HeadScan scanRequestHead(std::string_view received, const HeadLimits& limits, size_t searched) {
  size_t skip = 0;
  while (received.substr(skip).starts_with("\r\n")) skip += 2;
  if (skip / 2 > kMaxLeadingEmptyLines) return reject(400, "too many empty lines before a request");
  std::string_view head = received.substr(skip);

  size_t from = searched > skip + 3 ? searched - skip - 3 : 0;
  auto end = head.find("\r\n\r\n", from);
  if (end == std::string_view::npos) {
    // Refused now rather than at the head timeout: what can never become a valid head.
    if (auto bad = checkLineEnds(head, searched > skip + 1 ? searched - skip - 1 : 0)) return *bad;
    auto eol = head.find('\n');
    size_t line = eol == std::string_view::npos ? head.size() : eol;
    if (line > limits.max_request_line + 1) return reject(414, "request line too long");
    std::string_view request_line = head.substr(0, line);
    if (request_line.ends_with('\r')) request_line.remove_suffix(1);
    if (auto bad = checkRequestLine(request_line, eol != std::string_view::npos)) return *bad;
    if (head.size() > limits.max_head) return reject(431, "request head too large");
    HeadScan out;
    out.skip = skip;
    out.searched = received.size();
    return out;
  }
  size_t length = end + 4;
  if (length > limits.max_head) return reject(431, "request head too large");
  HeadScan out = checkHead(head.substr(0, length), limits);
  if (out.result == HeadScan::Result::Reject) return out;
  out.result = HeadScan::Result::Complete;
  out.skip = skip;
  out.length = length;
  return out;
}

}  // namespace tend
