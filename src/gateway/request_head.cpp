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

// Validates the complete head (without leading empty lines, up to and including CRLF CRLF).
HeadScan checkHead(std::string_view head, const HeadLimits& limits) {
  // Every CR must start a CRLF and every LF end one.
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r' && (i + 1 >= head.size() || head[i + 1] != '\n')) {
      return reject(400, "bare CR in the request head");
    }
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
      return reject(400, "bare LF in the request head");
    }
  }
  std::string_view rest = head.substr(0, head.size() - 2);  // drop the final empty line
  auto eol = rest.find("\r\n");
  std::string_view request_line = rest.substr(0, eol);
  if (request_line.size() > limits.max_request_line) return reject(414, "request line too long");
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
      size_t elements = 0;
      forEachListElement(value, [&](std::string_view element) {
        ++elements;
        auto v = parseLength(element);
        if (!v) {
          bad = true;
        } else if (content_length && *content_length != *v) {
          differ = true;
        } else {
          content_length = v;
        }
      });
      if (bad || elements == 0) return reject(400, "invalid Content-Length");
      if (differ) return reject(400, "conflicting Content-Length values");
    } else if (iequals(name, "transfer-encoding")) {
      has_transfer_encoding = true;
      forEachListElement(value, [&](std::string_view element) {
        auto semicolon = element.find(';');
        codings.push_back(toLower(trim(element.substr(0, semicolon))));
      });
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
    auto eol = head.find('\n');
    size_t line = eol == std::string_view::npos ? head.size() : eol;
    if (line > limits.max_request_line + 1) return reject(414, "request line too long");
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
