#include "gateway/request_head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tend {
namespace {

using Result = HeadScan::Result;

HeadScan scan(const std::string& bytes, HeadLimits limits = {}) {
  return scanRequestHead(bytes, limits);
}

std::string head(const std::string& fields, const std::string& line = "GET / HTTP/1.1") {
  return line + "\r\nHost: a.localhost\r\n" + fields + "\r\n";
}

// The status a complete head is refused with, 0 when it is accepted.
int verdict(const std::string& bytes) {
  auto s = scan(bytes);
  EXPECT_NE(s.result, Result::NeedMore) << bytes;
  return s.result == Result::Reject ? s.status : 0;
}

TEST(RequestHead, FindsTheEndOfACompleteHead) {
  std::string h = head("Accept: */*\r\n");
  auto s = scan(h + "body bytes");
  EXPECT_EQ(s.result, Result::Complete);
  EXPECT_EQ(s.skip, 0u);
  EXPECT_EQ(s.length, h.size());
}

TEST(RequestHead, NeedsMoreUntilTheEmptyLine) {
  std::string h = head("");
  for (size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(scan(h.substr(0, n)).result, Result::NeedMore) << n;
  }
}

TEST(RequestHead, AHeadArrivingAByteAtATimeIsFoundWithResumedSearches) {
  std::string h = head("X-A: 1\r\n");
  size_t searched = 0;
  HeadScan s;
  for (size_t n = 1; n <= h.size(); ++n) {
    s = scanRequestHead(std::string_view(h).substr(0, n), {}, searched);
    if (s.result != Result::NeedMore) break;
    searched = s.searched;
  }
  EXPECT_EQ(s.result, Result::Complete);
  EXPECT_EQ(s.length, h.size());
}

TEST(RequestHead, SkipsEmptyLinesBeforeTheRequest) {
  std::string h = head("");
  auto s = scan("\r\n\r\n" + h);
  EXPECT_EQ(s.result, Result::Complete);
  EXPECT_EQ(s.skip, 4u);
  EXPECT_EQ(s.length, h.size());
}

TEST(RequestHead, AcceptsOrdinaryFraming) {
  EXPECT_EQ(verdict(head("Content-Length: 5\r\n")), 0);
  EXPECT_EQ(verdict(head("Content-Length: 5\r\nContent-Length: 5\r\n")), 0);
  EXPECT_EQ(verdict(head("Content-Length: 5, 5\r\n")), 0);
  EXPECT_EQ(verdict(head("Transfer-Encoding: chunked\r\n")), 0);
  EXPECT_EQ(verdict(head("Transfer-Encoding: Chunked\r\n")), 0);
  EXPECT_EQ(verdict("GET / HTTP/1.0\r\n\r\n"), 0);  // HTTP/1.0 needs no Host
}

TEST(RequestHead, RefusesContentLengthWithTransferEncoding) {
  EXPECT_EQ(verdict(head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 400);
}

TEST(RequestHead, RefusesDifferingOrInvalidContentLengths) {
  EXPECT_EQ(verdict(head("Content-Length: 5\r\nContent-Length: 6\r\n")), 400);
  EXPECT_EQ(verdict(head("Content-Length: 5, 6\r\n")), 400);
  for (auto bad : {"abc", "-1", "+5", "", "5 5", "0x10", "1e3", "99999999999999999999", ","}) {
    auto s = scan(head(std::string("Content-Length: ") + bad + "\r\n"));
    EXPECT_EQ(s.result, Result::Reject) << bad;
    EXPECT_EQ(s.status, 400) << bad;
  }
}

TEST(RequestHead, RefusesTransferEncodingThatDoesNotEndInASingleChunked) {
  EXPECT_EQ(verdict(head("Transfer-Encoding: gzip\r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: chunked, gzip\r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: chunked, chunked\r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: \r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: gzip, chunked\r\n")), 501);
  EXPECT_EQ(verdict("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(RequestHead, RefusesAMalformedTransferEncoding) {
  for (auto bad : {", chunked", "chunked,", "chunked, ,", "chunked;x=1", "chunked ; x=1",
                   "\"chunked\"", "chun ked", "gzip;q=1, chunked;x=1"}) {
    auto s = scan(head(std::string("Transfer-Encoding: ") + bad + "\r\n"));
    EXPECT_EQ(s.result, Result::Reject) << bad;
    EXPECT_EQ(s.status, 400) << bad;
  }
  EXPECT_EQ(verdict(head("Transfer-Encoding: ,\r\n")), 400);
  EXPECT_EQ(verdict(head("Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n")), 400);
}

TEST(RequestHead, RefusesAContentLengthListWithAnEmptyElement) {
  for (auto bad : {", 5", "5,", "5, , 5", ",,"}) {
    auto s = scan(head(std::string("Content-Length: ") + bad + "\r\n"));
    EXPECT_EQ(s.result, Result::Reject) << bad;
    EXPECT_EQ(s.status, 400) << bad;
  }
}

TEST(RequestHead, RefusesObsoleteLineFolding) {
  auto s = scan(head("X-Long: part one\r\n  part two\r\n"));
  EXPECT_EQ(s.result, Result::Reject);
  EXPECT_EQ(s.status, 400);
  EXPECT_EQ(s.reason, "obsolete line folding");
  EXPECT_EQ(verdict(head("Content-Length: 5\r\n\t5\r\n")), 400);
}

TEST(RequestHead, RefusesBareLineEndsAndMalformedFields) {
  EXPECT_EQ(verdict("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n"), 400);
  EXPECT_EQ(verdict(head("Content-Length : 5\r\n")), 400);
  EXPECT_EQ(verdict(head("NoColon\r\n")), 400);
  EXPECT_EQ(verdict(head(": empty name\r\n")), 400);
}

// nginx's lenient mode takes a bare LF as a line end; tend does not (a proxy that reads
// lines differently from the app is how requests get smuggled), and it says so at once
// rather than waiting for a CRLF CRLF that never comes.
TEST(RequestHead, ABareLfIsRefusedAsSoonAsItArrives) {
  for (std::string partial :
       {"GET / HTTP/1.1\n", "GET / HTTP/1.1\nHost: a\n\n", "GET / HTTP/1.1\r\nHost: a\n",
        "\nGET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\rX"}) {
    auto s = scan(partial);
    EXPECT_EQ(s.result, Result::Reject) << partial;
    EXPECT_EQ(s.status, 400) << partial;
  }
  // A CR at the end may still get its LF.
  EXPECT_EQ(scan("GET / HTTP/1.1\r").result, Result::NeedMore);
  EXPECT_EQ(scan("GET / HTTP/1.1\r\nHost: a\r").result, Result::NeedMore);
}

TEST(RequestHead, ABareLfIsFoundByResumedSearchesToo) {
  std::string bytes = "GET / HTTP/1.1\r\nHost: a\r\nX: 1\n";
  size_t searched = 0;
  HeadScan s;
  for (size_t n = 1; n <= bytes.size(); ++n) {
    s = scanRequestHead(std::string_view(bytes).substr(0, n), {}, searched);
    if (s.result != Result::NeedMore) break;
    searched = s.searched;
  }
  EXPECT_EQ(s.result, Result::Reject);
  EXPECT_EQ(s.status, 400);
}

TEST(RequestHead, ATlsClientHelloIsRefusedByItsFirstBytes) {
  const char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, static_cast<char>(0xfc)};
  auto s = scan(std::string(hello, sizeof hello));
  EXPECT_EQ(s.result, Result::Reject);
  EXPECT_EQ(s.status, 400);
  EXPECT_EQ(scan(std::string(1, 0x16)).result, Result::Reject);
}

TEST(RequestHead, ChecksTheRequestLineAsItArrives) {
  // Prefixes of a good line need more.
  std::string good = "GET /a?b=c HTTP/1.1";
  for (size_t n = 1; n <= good.size(); ++n) {
    EXPECT_EQ(scan(good.substr(0, n)).result, Result::NeedMore) << good.substr(0, n);
  }
  for (std::string bad :
       {" GET / HTTP/1.1", "GET  / HTTP/1.1", "GET /\x01 HTTP/1.1", "GET / HTTQ", "GET / HTTP/x",
        "GET / HTTP/1.1 extra", "G(T / HTTP/1.1", "GET\t/ HTTP/1.1"}) {
    auto s = scan(bad);
    EXPECT_EQ(s.result, Result::Reject) << bad;
    EXPECT_EQ(s.status, 400) << bad;
  }
  EXPECT_EQ(verdict("GET /\r\nHost: a\r\n\r\n"), 400);  // no version
  EXPECT_EQ(verdict("GET\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(verdict("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(verdict("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
  EXPECT_EQ(verdict("GET http://a/x?y HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

TEST(RequestHead, RefusesAMissingOrRepeatedHost) {
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), 400);
  EXPECT_EQ(verdict(head("Host: b.localhost\r\n")), 400);
}

TEST(RequestHead, ALongRequestLineIs414EvenBeforeItEnds) {
  HeadLimits limits;
  limits.max_request_line = 100;
  std::string line = "GET /" + std::string(200, 'a') + " HTTP/1.1";
  auto partial = scan(line.substr(0, 150), limits);
  EXPECT_EQ(partial.result, Result::Reject);
  EXPECT_EQ(partial.status, 414);
  EXPECT_EQ(scan(head("", line), limits).status, 414);
  EXPECT_EQ(scan(head("", "GET /" + std::string(80, 'a') + " HTTP/1.1"), limits).result,
            Result::Complete);
}

TEST(RequestHead, ALargeHeadIs431EvenBeforeItEnds) {
  HeadLimits limits;
  limits.max_head = 1000;
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'x');
  auto partial = scan(big, limits);
  EXPECT_EQ(partial.result, Result::Reject);
  EXPECT_EQ(partial.status, 431);
  EXPECT_EQ(scan(big + "\r\n\r\n", limits).status, 431);
}

TEST(RequestHead, TooManyFieldsIs431) {
  HeadLimits limits;
  limits.max_headers = 10;
  std::string fields;
  for (int i = 0; i < 9; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(scan(head(fields), limits).result, Result::Complete);  // 9 + Host = 10
  fields += "X-Last: v\r\n";
  auto s = scan(head(fields), limits);
  EXPECT_EQ(s.result, Result::Reject);
  EXPECT_EQ(s.status, 431);
}

}  // namespace
}  // namespace tend
