// The control protocol's request validation (src/api/protocol.hpp): parseRequest takes any
// line a client sends over the Unix socket (or the HTTP API builds) and either returns a
// known command with the whole validated object, or an error that the daemon sends back as
// a valid JSON reply; nothing throws.

#include <nlohmann/json.hpp>

#include <string>

#include "api/protocol.hpp"
#include "fuzz_check.hpp"

using namespace tend;

namespace {

bool isValidReply(const std::string& reply, bool ok) {
  if (reply.empty() || reply.back() != '\n') return false;
  auto j = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
  return !j.is_discarded() && j.is_object() && j.contains("ok") && j["ok"] == ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line = fuzz::text(data, size);
  auto request = parseRequest(line);
  if (!request) {
    FUZZ_CHECK(!request.error().empty(), "a refused request says why");
    FUZZ_CHECK(isValidReply(errorReply(request.error()), false),
               "the error reply is one line of valid JSON");
    return 0;
  }
  FUZZ_CHECK(!request->cmd.empty(), "a valid request names its command");
  FUZZ_CHECK(request->args.is_object(), "a valid request is an object");
  FUZZ_CHECK(request->args.contains("cmd") && request->args["cmd"] == request->cmd,
             "the command is the object's cmd");
  FUZZ_CHECK(isValidReply(okReply(request->args), true), "any data makes a valid reply");
  // What the HTTP API does with a request: its compact text is valid again.
  auto again =
      parseRequest(request->args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  FUZZ_CHECK(again.has_value() && again->cmd == request->cmd,
             "a valid request printed as JSON is valid again");
  return 0;
}
