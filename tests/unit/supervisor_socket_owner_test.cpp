#include "supervisor/socket_owner.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "supervisor/probe.hpp"
#include "supervisor/proc_stat.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using testing::TempDir;

// Port 3001 is 0BB9, 8080 is 1F90.
constexpr std::string_view kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 0100007F:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "1111 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "2222 1 0000000000000000 100 0 0 10 0\n"
    // An established connection from port 3001: not a listener.
    "   2: 0100007F:0BB9 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "3333 1 0000000000000000 20 4 30 10 -1\n"
    // SO_REUSEPORT: a second listener on 3001.
    "   3: 00000000:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
    "4444 1 0000000000000000 100 0 0 10 0\n"
    "garbage line\n";

constexpr std::string_view kTcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:0BB9 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000  1000        0 5555 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000000000000:0BB9 00000000000000000000000000000000:0000 07 "
    "00000000:00000000 00:00000000 00000000  1000        0 6666 2 0000000000000000 0 0 0 10 0\n";

TEST(SocketOwnerParse, FindsTheListenersOfAPortInIpv4AndIpv6Tables) {
  EXPECT_EQ(parseListeningInodes(kTcp, 3001), (std::vector<uint64_t>{1111, 4444}));
  EXPECT_EQ(parseListeningInodes(kTcp, 8080), (std::vector<uint64_t>{2222}));
  EXPECT_EQ(parseListeningInodes(kTcp6, 3001), (std::vector<uint64_t>{5555}));  // not state 07
  EXPECT_TRUE(parseListeningInodes(kTcp, 3002).empty());
  EXPECT_TRUE(parseListeningInodes("", 3001).empty());
}

// A fake /proc: net/tcp and tcp6, and processes with their stat line and fds.
class FakeProc {
 public:
  FakeProc() {
    std::filesystem::create_directories(dir.path() + "/net");
    dir.write("net/tcp", std::string(kTcp));
    dir.write("net/tcp6", std::string(kTcp6));
  }
  void process(pid_t pid, pid_t ppid, pid_t pgid, std::vector<uint64_t> sockets = {}) {
    const std::string base = dir.path() + "/" + std::to_string(pid);
    std::filesystem::create_directories(base + "/fd");
    dir.write(std::to_string(pid) + "/stat",
              fmt::format("{} (app) S {} {} {} 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 100 0 10\n", pid,
                          ppid, pgid, pgid));
    int fd = 0;
    std::filesystem::create_symlink("/dev/null", base + "/fd/" + std::to_string(fd++));
    for (uint64_t inode : sockets)
      std::filesystem::create_symlink(fmt::format("socket:[{}]", inode),
                                      base + "/fd/" + std::to_string(fd++));
    std::filesystem::create_symlink("socket:[9999]", base + "/fd/" + std::to_string(fd++));
  }
  std::string root() const { return dir.path(); }
  TempDir dir;
};

TEST(SocketOwner, ALeaderHoldingTheListenerOwnsThePort) {
  FakeProc proc;
  proc.process(100, 1, 100, {1111});
  PortListeners l = listenersOf(3001, 100, proc.root());
  EXPECT_TRUE(l.found);
  EXPECT_TRUE(l.owned);
}

TEST(SocketOwner, ADescendantOrAMemberOfItsGroupCountsForTheInstance) {
  FakeProc proc;
  proc.process(100, 1, 100);            // the leader: sh -c
  proc.process(101, 100, 100);          // a child
  proc.process(102, 101, 102, {5555});  // a grandchild in a group of its own, on IPv6
  EXPECT_TRUE(listenersOf(3001, 100, proc.root()).owned);

  FakeProc orphaned;
  orphaned.process(200, 1, 200);
  orphaned.process(201, 1, 200, {4444});  // its parent died; still in the instance's group
  EXPECT_TRUE(listenersOf(3001, 200, orphaned.root()).owned);
}

TEST(SocketOwner, APredecessorOrASiblingListeningIsNotTheInstance) {
  FakeProc proc;
  proc.process(100, 1, 100);  // the new instance, not listening yet
  proc.process(90, 1, 90);    // the old leader's group, still listening
  proc.process(91, 1, 90, {1111});
  proc.process(80, 1, 80, {2222});  // a sibling on 8080
  PortListeners l = listenersOf(3001, 100, proc.root());
  EXPECT_TRUE(l.found);
  EXPECT_FALSE(l.owned);
  EXPECT_FALSE(listenersOf(8080, 100, proc.root()).owned);
  EXPECT_TRUE(listenersOf(8080, 80, proc.root()).owned);
}

TEST(SocketOwner, AnyOfSeveralReusePortListenersCounts) {
  FakeProc proc;
  proc.process(100, 1, 100, {1111});  // instance 0
  proc.process(200, 1, 200, {4444});  // instance 1, the same port
  proc.process(300, 1, 300);          // instance 2, not bound yet
  EXPECT_TRUE(listenersOf(3001, 100, proc.root()).owned);
  EXPECT_TRUE(listenersOf(3001, 200, proc.root()).owned);
  EXPECT_FALSE(listenersOf(3001, 300, proc.root()).owned);
}

TEST(SocketOwner, NoListenerSeenIsNotFound) {
  FakeProc proc;
  proc.process(100, 1, 100);
  EXPECT_FALSE(listenersOf(3002, 100, proc.root()).found);
  TempDir empty;  // no net/tcp at all: nothing can be told
  EXPECT_FALSE(listenersOf(3001, 100, empty.path()).found);
}

TEST(ProcessTableTree, IsTheRootItsDescendantsAndItsGroup) {
  FakeProc proc;
  proc.process(100, 1, 100);
  proc.process(101, 100, 100);
  proc.process(102, 101, 500);  // its own group, still a descendant
  proc.process(103, 1, 100);    // reparented, still in the group
  proc.process(104, 1, 104);    // someone else
  auto tree = ProcessTable::read(proc.root()).tree(100);
  std::sort(tree.begin(), tree.end());
  EXPECT_EQ(tree, (std::vector<pid_t>{100, 101, 102, 103}));
}

// ---- the ready check with the real /proc ---------------------------------------------------

int listenOnLoopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return -1;
  port = ntohs(addr.sin_port);
  return fd;
}

ProbeResult check(ProbeCheck c) {
  boost::asio::io_context io;
  ProbeResult result;
  runNetworkCheck(io, c, std::chrono::seconds(5), [&](ProbeResult r) { result = r; });
  io.run();
  return result;
}

TEST(ProbeOwnership, ATcpCheckPassesOnlyForTheTreeThatHoldsTheListener) {
  uint16_t port = 0;
  int fd = listenOnLoopback(port);
  ASSERT_GE(fd, 0);
  int closed[2];
  ASSERT_EQ(::pipe(closed), 0);
  pid_t other = ::fork();  // a process of its own: not in this process's tree
  if (other == 0) {
    ::close(fd);  // it must not hold the listener it inherited
    char done = 1;
    (void)!::write(closed[1], &done, 1);
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(other, 0);
  char done = 0;
  ASSERT_EQ(::read(closed[0], &done, 1), 1);
  ::close(closed[0]);
  ::close(closed[1]);

  ProbeCheck c = resolveProbe(nullptr, port);
  requireOwnListener(c, port, ::getpid());
  EXPECT_EQ(c.owner, ::getpid());
  ProbeResult own = check(c);
  EXPECT_TRUE(own.ok) << own.detail;

  requireOwnListener(c, port, other);
  ProbeResult theirs = check(c);
  EXPECT_FALSE(theirs.ok);
  EXPECT_EQ(
      theirs.detail,
      fmt::format("port {} answers, but not from this instance (pid {}'s tree)", port, other));

  c.owner = 0;  // not asked: anyone's answer counts, as before
  EXPECT_TRUE(check(c).ok);

  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
  ::close(fd);
}

TEST(ProbeOwnership, OnlyChecksOfTheInstancesOwnPortOnThisMachineAreOwnershipChecked) {
  auto owner = [](const std::string& yaml_host, uint16_t port, ProbeCheck::Kind kind) {
    ProbeCheck c;
    c.kind = kind;
    c.host = yaml_host;
    c.port = port;
    requireOwnListener(c, 3001, 42);
    return c.owner;
  };
  using K = ProbeCheck::Kind;
  EXPECT_EQ(owner("127.0.0.1", 3001, K::Tcp), 42);
  EXPECT_EQ(owner("localhost", 3001, K::Http), 42);
  EXPECT_EQ(owner("::1", 3001, K::Tcp), 42);
  EXPECT_EQ(owner("0.0.0.0", 3001, K::Tcp), 42);
  EXPECT_EQ(owner("127.0.0.2", 3001, K::Tcp), 42);
  EXPECT_EQ(owner("127.0.0.1", 3002, K::Tcp), 0);  // another port (a docker-proxy's, say)
  EXPECT_EQ(owner("10.1.2.3", 3001, K::Tcp), 0);   // another host
  EXPECT_EQ(owner("db.internal", 3001, K::Http), 0);
  EXPECT_EQ(owner("127.0.0.1", 3001, K::Exec), 0);
  ProbeCheck none;
  requireOwnListener(none, 3001, 42);
  EXPECT_EQ(none.owner, 0);
}

}  // namespace
}  // namespace tend
