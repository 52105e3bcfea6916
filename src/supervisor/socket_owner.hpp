#pragma once
// Whose is the socket listening on a TCP port: what makes a ready check count only when the
// instance itself answers, not a dying predecessor or a sibling that holds its port.
//
// From /proc: <proc_root>/net/tcp and tcp6 name each listening socket's inode (state 0A);
// a process holds it when one of <proc_root>/<pid>/fd/* links to "socket:[inode]". Only the
// network namespace of the reader is seen. Reads a few small files; meant for the retries
// of a ready check, not for a hot path.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tend {

// The inodes of the sockets listening on `port` (any address) in the text of one
// /proc/net/tcp or /proc/net/tcp6 table. Several with SO_REUSEPORT; lines in other states,
// on other ports, and lines it cannot read are passed over.
std::vector<uint64_t> parseListeningInodes(std::string_view table, uint16_t port);

struct PortListeners {
  // Sockets listen on the port (IPv4 or IPv6). False also when the tables cannot be read:
  // then nothing can be told about the port's owner.
  bool found = false;
  // One of them is held by a process of the tree.
  bool owned = false;
};

// Whether a process of the tree of `root` (ProcessTable::tree: the root, its descendants and
// the members of its process group) holds a socket listening on TCP `port`.
PortListeners listenersOf(uint16_t port, pid_t root, const std::string& proc_root = "/proc");

}  // namespace tend
