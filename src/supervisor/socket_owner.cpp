#include "supervisor/socket_owner.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>

#include "supervisor/proc_stat.hpp"

namespace tend {
namespace {

constexpr std::string_view kListen = "0A";  // TCP_LISTEN in /proc/net/tcp's "st" column

// The whitespace-separated words of `line`, up to `max`.
std::vector<std::string_view> words(std::string_view line, size_t max) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (out.size() < max) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t end = line.find_first_of(" \t", i);
    if (end == std::string_view::npos) end = line.size();
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string readAll(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  return ok ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

// Whether `pid` has an open fd on one of `inodes` ("socket:[N]").
bool holdsAny(const std::string& proc_root, pid_t pid, const std::vector<uint64_t>& inodes) {
  const std::string dir = proc_root + "/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  char link[128];
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = dir + "/" + e->d_name;
    ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    if (n <= 0) continue;
    std::string_view target(link, static_cast<size_t>(n));
    if (!target.starts_with("socket:[") || !target.ends_with("]")) continue;
    target = target.substr(8, target.size() - 9);
    uint64_t inode = 0;
    auto [end, ec] = std::from_chars(target.data(), target.data() + target.size(), inode);
    if (ec != std::errc() || end != target.data() + target.size()) continue;
    if (std::ranges::find(inodes, inode) != inodes.end()) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

std::vector<uint64_t> parseListeningInodes(std::string_view table, uint16_t port) {
  std::vector<uint64_t> out;
  while (!table.empty()) {
    size_t nl = table.find('\n');
    std::string_view line = table.substr(0, nl);
    table = nl == std::string_view::npos ? std::string_view() : table.substr(nl + 1);
    // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ..."
    auto w = words(line, 10);
    if (w.size() < 10 || w[3] != kListen) continue;
    std::string_view local = w[1];
    size_t colon = local.rfind(':');
    if (colon == std::string_view::npos) continue;
    unsigned value = 0;
    auto [pend, pec] =
        std::from_chars(local.data() + colon + 1, local.data() + local.size(), value, 16);
    if (pec != std::errc() || pend != local.data() + local.size() || value != port) continue;
    uint64_t inode = 0;
    auto [iend, iec] = std::from_chars(w[9].data(), w[9].data() + w[9].size(), inode);
    if (iec != std::errc() || iend != w[9].data() + w[9].size() || inode == 0) continue;
    out.push_back(inode);
  }
  return out;
}

PortListeners listenersOf(uint16_t port, pid_t root, const std::string& proc_root) {
  PortListeners result;
  std::vector<uint64_t> inodes;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    bool ok = false;
    std::string text = readAll(proc_root + table, ok);
    if (!ok) continue;
    auto found = parseListeningInodes(text, port);
    inodes.insert(inodes.end(), found.begin(), found.end());
  }
  result.found = !inodes.empty();
  if (!result.found || root <= 0) return result;
  // Most often the leader itself listens: no need to read the whole process table then.
  if (holdsAny(proc_root, root, inodes)) {
    result.owned = true;
    return result;
  }
  for (pid_t pid : ProcessTable::read(proc_root).tree(root)) {
    if (pid != root && holdsAny(proc_root, pid, inodes)) {
      result.owned = true;
      break;
    }
  }
  return result;
}

}  // namespace tend
