#include "supervisor/socket_owner.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "common/unique_fd.hpp"

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

// The inodes of the sockets listening on `port`, asked of the kernel's socket diagnostics
// (NETLINK_SOCK_DIAG, as `ss` does): it walks the listening sockets only, where reading
// /proc/net/tcp walks every socket and costs milliseconds. nullopt when it cannot be asked.
std::optional<std::vector<uint64_t>> diagListeningInodes(uint16_t port) {
  constexpr uint32_t kListenState = 10;  // TCP_LISTEN
  UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) return std::nullopt;
  std::vector<uint64_t> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    struct {
      nlmsghdr header;
      inet_diag_req_v2 request;
    } message{};
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 1u << kListenState;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd.get(), &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0)
      return std::nullopt;
    alignas(nlmsghdr) char buffer[16384];
    for (bool done = false; !done;) {
      ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, 0);
      if (got <= 0) return std::nullopt;
      size_t at = 0;
      const size_t size = static_cast<size_t>(got);
      while (at + sizeof(nlmsghdr) <= size) {
        nlmsghdr header;
        std::memcpy(&header, buffer + at, sizeof header);
        if (header.nlmsg_len < sizeof header || at + header.nlmsg_len > size) break;
        if (header.nlmsg_type == NLMSG_DONE) {
          done = true;
          break;
        }
        if (header.nlmsg_type == NLMSG_ERROR) return std::nullopt;
        if (header.nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
          inet_diag_msg socket_info;
          std::memcpy(&socket_info, buffer + at + NLMSG_HDRLEN, sizeof socket_info);
          if (ntohs(socket_info.id.idiag_sport) == port && socket_info.idiag_inode != 0)
            out.push_back(socket_info.idiag_inode);
        }
        at += NLMSG_ALIGN(header.nlmsg_len);
      }
    }
  }
  return out;
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
  std::optional<std::vector<uint64_t>> asked;
  if (proc_root == "/proc") asked = diagListeningInodes(port);
  if (asked) inodes = std::move(*asked);
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    if (asked) break;
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
