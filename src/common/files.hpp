#pragma once
// Whole-file helpers.

#include <cstddef>
#include <expected>
#include <string>

namespace tend {

// The whole file. On failure, the reason alone (the caller names the file): the system's
// error text, "it is a directory", or "it is larger than N KiB" past `max_bytes`.
std::expected<std::string, std::string> readFile(const std::string& path,
                                                 size_t max_bytes = size_t{64} << 20);
// Writes to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
// the directory: a crash leaves either the old file or the new one, never a broken one.
std::expected<void, std::string> writeFileAtomically(const std::string& path,
                                                     const std::string& content, int mode = 0600);

}  // namespace tend
