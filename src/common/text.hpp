#pragma once
// Small string helpers shared by every area.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tend {

std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string toLower(std::string_view s);
// Decodes one UTF-8 code point at s[i]; returns its length, or 0 when the bytes there are
// not valid UTF-8 (truncated, overlong, a surrogate, or beyond U+10FFFF).
size_t decodeUtf8(std::string_view s, size_t i, uint32_t& cp);
// The offset of the first byte of `s` that does not start a valid UTF-8 sequence, or npos
// when all of `s` is valid UTF-8.
size_t invalidUtf8At(std::string_view s);
inline bool isUtf8(std::string_view s) {
  return invalidUtf8At(s) == std::string_view::npos;
}
// `s` made safe to show in a message or a terminal: valid UTF-8 is kept, and so are
// newlines and tabs; NUL becomes "\0", other control characters and bytes that are not
// UTF-8 become "\xNN". So a NUL cannot cut a message short and nothing can reach a
// terminal as an escape sequence.
std::string printableText(std::string_view s);
// Quotes a word for /bin/sh when it needs it, for showing commands to people.
std::string shellQuote(std::string_view word);
// Signal names: "SIGTERM", "TERM", "15" -> 15; 0 when unknown.
int signalFromName(std::string_view name);
std::string signalName(int sig);

}  // namespace tend
