#pragma once
// A user of this machine as a process would run as it: looked up in the user database
// (getpwnam_r, which also covers NSS sources such as LDAP) with the user's supplementary
// groups (getgrouplist, what initgroups would set). Thread-safe.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace tend {

struct UserAccount {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // primary group
  std::string home;
  std::vector<gid_t> groups;  // supplementary groups, the primary one included
};

// `user`: a name, or a decimal uid that has an entry. nullopt when there is no such user.
std::optional<UserAccount> lookupUser(const std::string& user);

}  // namespace tend
