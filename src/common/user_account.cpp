#include "common/user_account.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace tend {

std::optional<UserAccount> lookupUser(const std::string& user) {
  if (user.empty()) return std::nullopt;
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(static_cast<size_t>(size > 0 ? size : 16384));
  passwd entry{};
  passwd* found = nullptr;
  for (;;) {
    uid_t uid = 0;
    auto [ptr, ec] = std::from_chars(user.data(), user.data() + user.size(), uid);
    int rc = ec == std::errc() && ptr == user.data() + user.size()
                 ? ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)
                 : ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || !found) return std::nullopt;
    break;
  }
  UserAccount account;
  account.name = entry.pw_name;
  account.uid = entry.pw_uid;
  account.gid = entry.pw_gid;
  account.home = entry.pw_dir ? entry.pw_dir : "";
  int count = 32;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (::getgrouplist(entry.pw_name, entry.pw_gid, groups.data(), &count) < 0 && count <= 65536) {
    groups.resize(static_cast<size_t>(std::max(count, static_cast<int>(groups.size()) * 2)));
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(std::max(count, 0)));
  account.groups = std::move(groups);
  return account;
}

}  // namespace tend
