#pragma once
// Whole-file helpers.

#include <expected>
#include <string>

namespace tend {

std::expected<std::string, std::string> readFile(const std::string& path);
// Writes to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
// the directory: a crash leaves either the old file or the new one, never a broken one.
std::expected<void, std::string> writeFileAtomically(const std::string& path,
                                                     const std::string& content, int mode = 0600);

}  // namespace tend
