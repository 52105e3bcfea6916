// The gateway's own reading of a request head (src/gateway/request_head.hpp), before Beast:
// whatever the bytes, scanRequestHead answers NeedMore, Complete or Reject consistently:
//   - a head found is inside what was received and ends with CRLF CRLF; a refusal has one of
//     the documented statuses and a reason;
//   - the answer does not depend on how the bytes arrived: scanning every prefix of a cut
//     (as reads deliver them), passing `searched` on, gives the same answers as scanning
//     each prefix from the start, and the first prefix that is not NeedMore ends the scan
//     with the same kind of answer (and the same head) as the whole input does.
//
// The input: one byte of parameters (small limits, so 414 and 431 are reachable with short
// inputs; how the bytes are cut into reads), then the bytes a client sent.

#include "fuzz_check.hpp"
#include "gateway/request_head.hpp"

using namespace tend;

namespace {

bool sameAnswer(const HeadScan& a, const HeadScan& b) {
  if (a.result != b.result) return false;
  switch (a.result) {
    case HeadScan::Result::NeedMore:
      return a.skip == b.skip;
    case HeadScan::Result::Complete:
      return a.skip == b.skip && a.length == b.length;
    case HeadScan::Result::Reject:
      return a.status == b.status && a.reason == b.reason;
  }
  return false;
}

void checkAnswer(const HeadScan& scan, std::string_view received) {
  switch (scan.result) {
    case HeadScan::Result::NeedMore:
      FUZZ_CHECK(scan.searched == received.size(), "NeedMore has searched what it received");
      break;
    case HeadScan::Result::Complete: {
      FUZZ_CHECK(scan.length >= 4 && scan.skip + scan.length <= received.size(),
                 "a complete head lies within what was received");
      std::string_view head = received.substr(scan.skip, scan.length);
      FUZZ_CHECK(head.ends_with("\r\n\r\n"), "a complete head ends with an empty line");
      FUZZ_CHECK(head.find("\r\n\r\n") == head.size() - 4, "the head ends at its first empty line");
      FUZZ_CHECK(!head.starts_with("\r\n"), "leading empty lines are skipped");
      break;
    }
    case HeadScan::Result::Reject:
      FUZZ_CHECK(scan.status == 400 || scan.status == 414 || scan.status == 431 ||
                     scan.status == 501 || scan.status == 505,
                 "a refusal has a documented status");
      FUZZ_CHECK(!scan.reason.empty(), "a refusal says why");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);
  const uint8_t params = fuzz::takeByte(in);
  HeadLimits limits;
  if (params & 1) {
    limits.max_request_line = 40;
    limits.max_head = 200;
    limits.max_headers = 6;
  }
  fuzz::Pieces pieces(params >> 1);

  const HeadScan whole = scanRequestHead(in, limits);
  checkAnswer(whole, in);

  size_t searched = 0;
  size_t received = 0;
  while (received < in.size()) {
    received = std::min(in.size(), received + pieces.next(16));
    std::string_view prefix = in.substr(0, received);
    HeadScan step = scanRequestHead(prefix, limits, searched);
    checkAnswer(step, prefix);
    FUZZ_CHECK(sameAnswer(step, scanRequestHead(prefix, limits)),
               "passing `searched` on changes no answer");
    if (step.result == HeadScan::Result::NeedMore) {
      searched = step.searched;
      continue;
    }
    FUZZ_CHECK(step.result == whole.result, "the answer does not depend on how bytes arrive");
    if (step.result == HeadScan::Result::Complete) {
      FUZZ_CHECK(step.skip == whole.skip && step.length == whole.length,
                 "the same head, however the bytes arrive");
    }
    break;
  }
  return 0;
}
