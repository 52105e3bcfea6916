#include "supervisor/proc_stat.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include <fmt/format.h>

#include "common/files.hpp"
#include "common/unique_fd.hpp"

namespace tend {
namespace {

// Reads <proc_root>/<pid>/stat and returns the text after the command name's closing ')'.
bool readStat(const std::string& proc_root, pid_t pid, std::string& rest) {
  std::string path = proc_root + "/" + std::to_string(pid) + "/stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  if (!close) return false;
  rest.assign(close + 1);
  return true;
}

// Field `index` (1-based as in proc(5)) of a stat line, given the text after ')', which
// starts at field 3.
uint64_t field(const std::string& rest, int index) {
  const char* p = rest.c_str();
  for (int f = 3; f < index; ++f) {
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
  }
  while (*p == ' ') ++p;
  return std::strtoull(p, nullptr, 10);
}

}  // namespace

std::optional<uint64_t> processStartTicks(pid_t pid) {
  std::string rest;
  if (!readStat("/proc", pid, rest)) return std::nullopt;
  return field(rest, 22);
}

std::vector<pid_t> processesWithEnvironment(const std::string& name, const std::string& value) {
  std::vector<pid_t> out;
  const std::string entry = name + "=" + value;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto environ = readFile(fmt::format("/proc/{}/environ", e->d_name));
    if (!environ) continue;
    // Entries are NUL-terminated: look for a whole one.
    const std::string& text = *environ;
    for (size_t at = 0; at < text.size();) {
      size_t end = text.find('\0', at);
      if (end == std::string::npos) end = text.size();
      if (std::string_view(text).substr(at, end - at) == entry) {
        out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
        break;
      }
      at = end + 1;
    }
  }
  ::closedir(dir);
  return out;
}

ProcessTable ProcessTable::read(const std::string& proc_root) {
  ProcessTable table;
  static const long page = ::sysconf(_SC_PAGESIZE);
  DIR* dir = ::opendir(proc_root.c_str());
  if (!dir) return table;
  std::string rest;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (!readStat(proc_root, pid, rest)) continue;
    Proc p;
    p.ppid = static_cast<pid_t>(field(rest, 4));
    p.pgid = static_cast<pid_t>(field(rest, 5));
    p.cpu_ticks = field(rest, 14) + field(rest, 15);
    p.rss_bytes = field(rest, 24) * static_cast<uint64_t>(page);
    table.procs_[pid] = p;
    table.children_.emplace(p.ppid, pid);
  }
  ::closedir(dir);
  return table;
}

ProcessTable::Usage ProcessTable::treeUsage(pid_t root) const {
  Usage u;
  std::vector<pid_t> todo{root};
  size_t guard = 0;
  while (!todo.empty() && guard++ < procs_.size() + 1) {
    pid_t pid = todo.back();
    todo.pop_back();
    auto it = procs_.find(pid);
    if (it == procs_.end()) continue;
    u.cpu_ticks += it->second.cpu_ticks;
    u.rss_bytes += it->second.rss_bytes;
    auto [b, e] = children_.equal_range(pid);
    for (auto c = b; c != e; ++c) todo.push_back(c->second);
  }
  return u;
}

std::vector<pid_t> ProcessTable::tree(pid_t root) const {
  std::vector<pid_t> out;
  if (root <= 0) return out;
  std::vector<pid_t> todo{root};
  for (const auto& [pid, p] : procs_)
    if (p.pgid == root && pid != root) todo.push_back(pid);
  std::set<pid_t> seen;
  while (!todo.empty()) {
    pid_t pid = todo.back();
    todo.pop_back();
    if (!procs_.contains(pid) || !seen.insert(pid).second) continue;
    out.push_back(pid);
    auto [b, e] = children_.equal_range(pid);
    for (auto c = b; c != e; ++c) todo.push_back(c->second);
  }
  return out;
}

}  // namespace tend
