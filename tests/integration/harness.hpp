#pragma once
// The integration-test harness: each test gets its own TEND_HOME in a fresh temporary
// directory, runs the real `tend` binary against it, and on teardown kills the daemon and
// every process the test saw, whether the test passed or not.

#include <gtest/gtest.h>
#include <sys/types.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tend::testing {

struct RunResult {
  int status = -1;  // exit code, or -1 when killed/timed out
  std::string out;
  std::string err;
};

// True once `predicate` holds, polling every 10 ms until `timeout`.
bool waitFor(const std::function<bool()>& predicate,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Runs a program (argv[0] searched in PATH) and collects its output.
RunResult runProgram(const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct HttpReply {
  int code = 0;  // 0: no answer
  std::string body;
};
// curl GET http://127.0.0.1:PORT/PATH with `Host: host` (the gateway routes by it) and `more`
// curl arguments (-X POST, --data-binary, -H ...), waiting at most 20 s.
HttpReply curlGet(int port, const std::string& host, const std::string& path,
                  const std::vector<std::string>& more = {});

bool processAlive(pid_t pid);
// Pids of live processes whose command line contains `needle`.
std::vector<pid_t> processesWith(const std::string& needle);
// A TCP port on 127.0.0.1 that nothing listens on now, starting a run of `count` free ports.
int freePortRun(int count);
std::string readText(const std::string& path);
void writeText(const std::string& path, const std::string& text);

class TendTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs `tend args...` with TEND_HOME set; stdin is /dev/null.
  RunResult tend(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {},
                 std::chrono::seconds timeout = std::chrono::seconds(60));
  // `tend list --json`, parsed (and its pids remembered for cleanup).
  nlohmann::json list();
  // The instances of app `name` in `tend list --json`.
  std::vector<nlohmann::json> instancesOf(const std::string& name);
  nlohmann::json instance(const std::string& name, int index = 0);
  // Writes `text` to `name` in the test's directory and returns its path.
  std::string writeFile(const std::string& name, const std::string& text);
  pid_t daemonPid();
  // A unique word to put on test processes' command lines.
  std::string tag() const { return tag_; }
  std::string testapp() const { return TESTAPP_BINARY; }
  void remember(pid_t pid) { seen_pids_.insert(pid); }

  std::string dir_;   // the test's temporary directory
  std::string home_;  // its TEND_HOME

 private:
  std::string tag_;
  std::set<pid_t> seen_pids_;
};

}  // namespace tend::testing
