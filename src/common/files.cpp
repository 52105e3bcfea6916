#include "common/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.hpp"

namespace tend {

std::expected<std::string, std::string> readFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(std::string(std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(std::string(std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) return std::unexpected(std::string("it is a directory"));
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(std::string(std::strerror(errno)));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes)
      return std::unexpected(fmt::format("it is larger than {} KiB", max_bytes >> 10));
  }
  return out;
}

std::expected<void, std::string> writeFileAtomically(const std::string& path,
                                                     const std::string& content, int mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  auto fail = [&](const char* what) {
    std::string msg = fmt::format("cannot {} {}: {}", what, tmp, std::strerror(errno));
    ::unlink(tmp.c_str());
    return std::unexpected(msg);
  };
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return fail("create");
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail("write");
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return fail("sync");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  std::string dir = path.substr(0, path.rfind('/'));
  UniqueFd dfd(::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return {};
}

}  // namespace tend
