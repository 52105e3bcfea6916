// Webhooks with the real binary and a real HTTP receiver (Python's http.server) that checks
// each request's X-Tend-Signature with the secret: the events of a crashing app, the
// `events` filter, retries, and a receiver that accepts and never answers.

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "harness.hpp"

extern char** environ;

namespace tend::testing {
namespace {

using nlohmann::json;

// Receives webhooks on PORT. MODE "ok": answers 204; "fail-first": answers the first
// request 503, then 204; "hold": accepts connections and never reads or answers. Each
// request received is appended to OUT as one JSON line: the body's event, whether the
// signature matched the secret, and the headers that matter. READY is created once it
// listens.
constexpr const char* kReceiver = R"PY(
import hashlib, hmac, http.server, json, socket, sys, time
port, secret_file, out, mode, ready = sys.argv[1:6]
secret = open(secret_file, "rb").read().strip()
if mode == "hold":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(1000)
    open(ready, "w").close()
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)
count = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        count[0] += 1
        record = {"body": json.loads(body), "signed": hmac.compare_digest(
                      want, self.headers.get("X-Tend-Signature", "")),
                  "content_type": self.headers.get("Content-Type", ""),
                  "event_header": self.headers.get("X-Tend-Event", ""), "n": count[0]}
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        status = 503 if mode == "fail-first" and count[0] == 1 else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(port)), H)
open(ready, "w").close()
server.serve_forever()
)PY";

class Webhooks : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    script_ = writeFile("receiver.py", kReceiver);
    secret_ = writeFile("webhook.secret", "s3cret-key\n");
  }
  void TearDown() override {
    if (receiver_ > 0) {
      ::kill(receiver_, SIGKILL);
      ::waitpid(receiver_, nullptr, 0);
    }
    TendTest::TearDown();
  }

  // Starts the receiver in `mode` on a free port; returns the port.
  int startReceiver(const std::string& mode) {
    int port = freePortRun(1);
    EXPECT_GT(port, 0);
    std::string ready = dir_ + "/receiver.ready";
    std::vector<std::string> args{
        "python3", script_, std::to_string(port), secret_, received(), mode, ready, tag()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(::posix_spawnp(&receiver_, "python3", nullptr, nullptr, argv.data(), environ), 0);
    remember(receiver_);
    EXPECT_TRUE(waitFor([&] { return std::ifstream(ready).good(); }))
        << "the receiver did not start";
    return port;
  }

  std::string received() const { return dir_ + "/received.jsonl"; }

  // The requests the receiver got so far.
  std::vector<json> requests() {
    std::vector<json> out;
    std::istringstream in(readText(received()));
    for (std::string line; std::getline(in, line);)
      if (auto j = json::parse(line, nullptr, false); j.is_object()) out.push_back(j);
    return out;
  }
  bool receivedEvent(const std::string& app, const std::string& event) {
    for (const auto& r : requests())
      if (r["body"].value("app", "") == app && r["body"].value("event", "") == event) return true;
    return false;
  }

  std::string config(int port, const std::string& webhook_extra, const std::string& apps) {
    return writeFile("tend.yaml", fmt::format(R"(webhooks:
  - url: http://127.0.0.1:{}/hooks/tend
    secret_file: {}
{}apps:
{})",
                                              port, secret_, webhook_extra, apps));
  }

  std::string script_, secret_;
  pid_t receiver_ = -1;
};

TEST_F(Webhooks, ACrashingAppsEventsArriveSignedInOrder) {
  int port = startReceiver("ok");
  std::string cfg = config(port, "",
                           fmt::format(R"(  - name: crasher
    run: ["{}", "crash", "300", "3", "{}"]
    max_restarts: 2
    min_uptime: 10s
    backoff: {{ initial: 10ms }}
)",
                                       testapp(), tag()));
  RunResult r = tend({"start", cfg});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  // online, crash, restart ... and at last errored (it gave up).
  ASSERT_TRUE(
      waitFor([&] { return receivedEvent("crasher", "errored"); }, std::chrono::seconds(30)))
      << readText(received()) << readText(home_ + "/daemon.log");
  for (const char* e : {"online", "crash", "restart"})
    EXPECT_TRUE(receivedEvent("crasher", e)) << e << "\n" << readText(received());
  ASSERT_EQ(tend({"stop", "crasher"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return receivedEvent("crasher", "stopped"); })) << readText(received());

  std::vector<json> all = requests();
  int crashes = 0;
  for (const auto& req : all) {
    const json& body = req["body"];
    EXPECT_TRUE(req.value("signed", false)) << req;
    EXPECT_EQ(req.value("content_type", ""), "application/json");
    EXPECT_EQ(req.value("event_header", ""), body.value("event", ""));
    for (const char* field : {"event", "app", "instance", "time", "pid", "reason"})
      EXPECT_TRUE(body.contains(field)) << field << " missing in " << body;
    if (body.value("event", "") == "crash") {
      ++crashes;
      EXPECT_NE(body.value("reason", "").find("exited with code 3"), std::string::npos) << body;
      EXPECT_GT(body.value("pid", 0), 0) << body;
    }
  }
  EXPECT_EQ(crashes, 3) << readText(received());  // the first run and two restarts
  // In order: the first event is the first online, the errored one comes after every crash.
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front()["body"].value("event", ""), "online");
  size_t errored = 0, last_crash = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i]["body"].value("event", "") == "errored") errored = i;
    if (all[i]["body"].value("event", "") == "crash") last_crash = i;
  }
  EXPECT_GT(errored, last_crash);
}

TEST_F(Webhooks, OnlyTheListedEventsArriveAndAFailedAttemptIsRetried) {
  int port = startReceiver("fail-first");
  std::string cfg = config(port, "    events: [stopped]\n",
                           fmt::format(R"(  - name: sleeper
    run: ["{}", "sleep", "{}"]
)",
                                       testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}, {{"TEND_WEBHOOK_RETRY_MS", "50"}}).status, 0);
  ASSERT_EQ(tend({"stop", "sleeper"}).status, 0);
  // The first attempt got a 503; the retry delivered it.
  ASSERT_TRUE(waitFor([&] { return requests().size() >= 2; })) << readText(received());
  std::vector<json> all = requests();
  ASSERT_EQ(all.size(), 2u) << readText(received());
  EXPECT_EQ(all[0]["body"], all[1]["body"]);
  EXPECT_EQ(all[1]["body"].value("event", ""), "stopped");
  EXPECT_EQ(all[1]["body"].value("app", ""), "sleeper");
  EXPECT_NE(readText(home_ + "/daemon.log").find("attempt 1 failed"), std::string::npos);
}

TEST_F(Webhooks, AReceiverThatNeverAnswersDelaysNothing) {
  int port = startReceiver("hold");
  std::string cfg = config(port, "    timeout: 30s\n",
                           fmt::format(R"(  - name: crasher
    run: ["{}", "crash", "0", "1", "{}"]
    max_restarts: 1000
    restart_window: 1s
    backoff: {{ initial: 1ms, max: 5ms }}
)",
                                       testapp(), tag()));
  // A queue of 3: the crash loop fills it at once.
  ASSERT_EQ(tend({"start", cfg}, {{"TEND_WEBHOOK_QUEUE", "3"}}).status, 0);
  ASSERT_TRUE(waitFor([&] {
    return readText(home_ + "/daemon.log").find("its queue is full") != std::string::npos;
  })) << readText(home_ + "/daemon.log");
  // The daemon answers as ever while the one request in flight waits for its 30 s timeout.
  for (int i = 0; i < 5; ++i) {
    RunResult l = tend({"list", "--json"}, {}, std::chrono::seconds(20));
    ASSERT_EQ(l.status, 0) << l.err;
    EXPECT_NE(l.out.find("crasher"), std::string::npos);
  }
  pid_t daemon = daemonPid();
  EXPECT_TRUE(processAlive(daemon));
  ASSERT_EQ(tend({"stop", "crasher"}).status, 0);
  EXPECT_TRUE(processAlive(daemon));
}

TEST_F(Webhooks, MemoryLimitAndHealthFailuresAreEventsWithTheirCause) {
  int port = startReceiver("ok");
  std::string cfg = config(port, "    events: [memory_limit, health_failed]\n",
                           fmt::format(R"(  - name: hog
    run: ["{0}", "alloc", "64", "{1}"]
    max_memory: 16M
  - name: sick
    run: ["{0}", "sleep", "{1}"]
    health:
      exec: "false"
      interval: 100ms
      failures: 1
)",
                                       testapp(), tag()));
  ASSERT_EQ(tend({"start", cfg}).status, 0);
  ASSERT_TRUE(
      waitFor([&] { return receivedEvent("hog", "memory_limit"); }, std::chrono::seconds(30)))
      << readText(received());
  ASSERT_TRUE(
      waitFor([&] { return receivedEvent("sick", "health_failed"); }, std::chrono::seconds(30)))
      << readText(received());
  for (const auto& req : requests()) {
    const json& body = req["body"];
    const std::string event = body.value("event", "");
    // Only the two listed kinds arrive (no online, no restart).
    EXPECT_TRUE(event == "memory_limit" || event == "health_failed") << body;
    EXPECT_GT(body.value("pid", 0), 0) << body;
    if (event == "memory_limit") {
      EXPECT_NE(body.value("reason", "").find("over max_memory"), std::string::npos) << body;
      EXPECT_EQ(body.value("max_memory", 0), 16 << 20) << body;
    } else {
      EXPECT_NE(body.value("reason", "").find("health check failed 1 time in a row"),
                std::string::npos)
          << body;
    }
  }
}

TEST_F(Webhooks, ApplyingTheConfigAgainUpdatesTheWebhooks) {
  int port = startReceiver("ok");
  const std::string apps = fmt::format(R"(  - name: sleeper
    run: ["{}", "sleep", "{}"]
)",
                                       testapp(), tag());
  ASSERT_EQ(tend({"start", config(port, "    events: [online]\n", apps)}).status, 0);
  ASSERT_TRUE(waitFor([&] { return receivedEvent("sleeper", "online"); })) << readText(received());
  // The same file with other events: applied again, the webhook now wants `stopped` only.
  ASSERT_EQ(tend({"start", config(port, "    events: [stopped]\n", apps)}).status, 0);
  ASSERT_EQ(tend({"restart", "sleeper"}).status, 0);
  ASSERT_EQ(tend({"stop", "sleeper"}).status, 0);
  ASSERT_TRUE(waitFor([&] { return receivedEvent("sleeper", "stopped"); })) << readText(received());
  // Events arrive in order: an `online` of the restart would have come before the `stopped`.
  std::vector<json> all = requests();
  ASSERT_EQ(all.size(), 2u) << readText(received());
  EXPECT_EQ(all[0]["body"].value("event", ""), "online");
  EXPECT_EQ(all[1]["body"].value("event", ""), "stopped");
}

TEST_F(Webhooks, AnUnreadableSecretIsAConfigError) {
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(webhooks:
  - url: http://127.0.0.1:9/tend
    secret_file: {}/missing.secret
apps:
  - name: a
    run: ["{}", "sleep", "{}"]
)",
                                                       dir_, testapp(), tag()));
  RunResult r = tend({"start", cfg});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(fmt::format(
                "tend.yaml:3:18: webhooks[0].secret_file: cannot read '{}/missing.secret'", dir_)),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace tend::testing
