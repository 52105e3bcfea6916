#include "daemon/private_home.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/text.hpp"

namespace tend {
namespace {

namespace fs = std::filesystem;

void keep(std::vector<std::string>& list, size_t& count, std::string what) {
  if (list.size() < PrivateHome::kListed) list.push_back(std::move(what));
  ++count;
}

std::string listed(const std::vector<std::string>& list, size_t count) {
  std::string out = join(list, ", ");
  if (count > list.size()) out += fmt::format(" and {} more", count - list.size());
  return out;
}

}  // namespace

std::string PrivateHome::summary(const std::string& home) const {
  if (!changedAnything()) return "";
  std::string out = fmt::format("made {} private:", home);
  if (home_was != 0) out += fmt::format(" the folder was {:04o}, now 0700;", home_was);
  if (tightened_count > 0)
    out += fmt::format(
        " {} {} in it could be read or entered by other users, now only by "
        "their owner ({});",
        tightened_count, tightened_count == 1 ? "entry" : "entries",
        listed(tightened, tightened_count));
  out.pop_back();
  return out;
}

std::expected<PrivateHome, std::string> makeHomePrivate(const std::string& home,
                                                        const std::string& logs) {
  PrivateHome result;
  for (const std::string& dir : {home, logs}) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
      return std::unexpected(fmt::format("cannot look at {}: {}", dir, std::strerror(errno)));
    const unsigned mode = st.st_mode & 07777;
    if (mode == 0700) continue;
    if (::chmod(dir.c_str(), 0700) != 0)
      return std::unexpected(
          fmt::format("cannot make {} private (mode 0700): {}", dir, std::strerror(errno)));
    if ((mode & 077) == 0) continue;  // it was narrower (say 0500): fixed, nothing to tell
    if (dir == home)
      result.home_was = mode;
    else
      keep(result.tightened, result.tightened_count, fs::path(dir).filename().string());
  }

  std::error_code ec;
  fs::recursive_directory_iterator it(home, fs::directory_options::skip_permission_denied, ec);
  size_t seen = 0;
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (++seen > PrivateHome::kMaxEntries) {
      result.truncated = true;
      break;
    }
    const fs::path& path = it->path();
    if (path.string() == logs) continue;  // made 0700 above
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    const unsigned mode = st.st_mode & 07777;
    if ((mode & 077) == 0) continue;
    const std::string relative = path.lexically_relative(home).string();
    // AT_SYMLINK_NOFOLLOW: should the entry have become a link since, it is not followed.
    if (::fchmodat(AT_FDCWD, path.c_str(), mode & ~077u, AT_SYMLINK_NOFOLLOW) != 0) {
      keep(result.failed, result.failed_count,
           fmt::format("{}: {}", relative, std::strerror(errno)));
      continue;
    }
    keep(result.tightened, result.tightened_count, relative);
  }
  if (ec) keep(result.failed, result.failed_count, fmt::format("{}: {}", home, ec.message()));
  return result;
}

}  // namespace tend
