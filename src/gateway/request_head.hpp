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
//   400  a bare CR or LF, obsolete line folding (a line starting with SP or HTAB), a field
//        without a colon or with whitespace before it, an invalid Content-Length or several
//        that differ, Content-Length together with Transfer-Encoding, Transfer-Encoding
//        whose last coding is not chunked or that names chunked twice, Transfer-Encoding on
//        an HTTP/1.0 request, no Host (HTTP/1.1) or more than one Host
//   501  Transfer-Encoding with a coding other than chunked ("gzip, chunked")

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
