#pragma once
// The gateway's own reading of a request head, before Beast parses it: it finds where the
// head ends, enforces the size limits, and refuses everything that could frame a message
// two ways (request smuggling). Pure logic over bytes: no sockets.
//
// Beast's parser is lenient where a proxy must not be: it joins obsolete line folding into
// one value, and it takes "Transfer-Encoding: gzip, chunked"-style lists that do not end in
// chunked as having no body. So these checks run on the raw bytes first, and only a head
// that passes them is handed to Beast.
//
// Refused (the status the client gets):
//   414  a request line longer than max_request_line
//   431  a head longer than max_head, or more than max_headers header fields
//   400  a malformed request line (not `method SP target SP HTTP/d.d`: a TLS ClientHello on
//        the plain port is refused by its first byte), a bare CR or LF (lines must end in
//        CRLF; no lenient mode), obsolete line folding (a line starting with SP or HTAB), a
//        field without a colon or with whitespace before it, an invalid Content-Length
//        (an empty list element included: "5,") or several that differ, Content-Length
//        together with Transfer-Encoding, a malformed Transfer-Encoding (an empty list
//        element, a coding that is not a token, parameters on chunked: "chunked;x=1"),
//        Transfer-Encoding whose last coding is not chunked or that names chunked twice,
//        Transfer-Encoding on an HTTP/1.0 request, no Host (HTTP/1.1) or more than one Host
//   501  Transfer-Encoding with a coding other than chunked ("gzip, chunked")
//   505  an HTTP version other than 1.x
// Whatever can already be told from part of a head (a bad byte in the request line, a bare
// CR or LF, a limit exceeded) is refused as soon as it arrives, not at the head timeout.
// Identical Content-Length values ("5, 5", or the field twice) are accepted as one: the
// relay forwards a single Content-Length (RFC 9110 section 8.6).

#include <cstddef>
#include <string>
#include <string_view>

namespace tend {

struct HeadLimits {
  size_t max_request_line = 8 * 1024;
  size_t max_head = 32 * 1024;  // request line + header fields + the empty line
  size_t max_headers = 100;
};

struct HeadScan {
  enum class Result { NeedMore, Complete, Reject };
  Result result = Result::NeedMore;
  size_t skip = 0;      // leading empty lines to drop before the head (RFC 9112 section 2.2)
  size_t length = 0;    // Complete: bytes of the head after `skip`, the final CRLF CRLF included
  int status = 0;       // Reject: 400, 414, 431 or 501
  std::string reason;   // Reject: for the client and the log ("obsolete line folding")
  size_t searched = 0;  // NeedMore: pass back as `searched` on the next call
};

// Looks at the bytes received so far on a connection, from the start of a request.
// NeedMore until the head is complete, unless a limit is already exceeded. `searched` is
// the previous NeedMore's `searched` (0 on the first call), so that a head arriving a byte
// at a time is not searched from its start each time.
HeadScan scanRequestHead(std::string_view received, const HeadLimits& limits, size_t searched = 0);

}  // namespace tend
