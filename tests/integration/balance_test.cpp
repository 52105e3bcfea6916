// Integration tests of on_demand.balance with the real daemon: a cluster of backends behind
// the gateway, requests sent with curl, and the instance that answered each one counted.

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class BalanceTest : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    gateway_port_ = freePortRun(1);
    ASSERT_GT(gateway_port_, 0);
  }

  // App "a": `instances` backends balanced with `balance` (`on_demand_extra` indented 6
  // spaces, `env` entries as ", KEY: value"), `gateway_extra` indented 2 spaces.
  void startCluster(int instances, const std::string& balance,
                    const std::string& on_demand_extra = "", const std::string& env = "",
                    const std::string& gateway_extra = "") {
    base_ = freePortRun(instances);
    ASSERT_GT(base_, 0);
    std::string yaml =
        fmt::format(R"(gateway:
  listen: 127.0.0.1:{0}
{7}apps:
  - name: a
    run: ["{1}", "{2}"]
    instances: {3}
    port: "{4}-{5}"
    env: {{ TEST_TAG: "{2}"{8} }}
    on_demand:
      hosts: [a.localhost]
      idle_timeout: 5m
      start_timeout: 10s
      balance: {6}
{9})",
                    gateway_port_, BACKEND_BINARY, tag(), instances, base_, base_ + instances - 1,
                    balance, gateway_extra, env, on_demand_extra);
    RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }

  // The instance that answered /whoami, or -1.
  int whoami(const std::vector<std::string>& headers = {}) {
    std::vector<std::string> argv{"curl", "-s", "-m", "20", "-H", "Host: a.localhost"};
    for (const auto& h : headers) {
      argv.push_back("-H");
      argv.push_back(h);
    }
    argv.push_back(fmt::format("http://127.0.0.1:{}/whoami", gateway_port_));
    RunResult r = runProgram(argv, seconds(30));
    if (!r.out.starts_with("instance=")) return -1;
    return std::atoi(r.out.c_str() + 9);
  }

  std::map<int, int> count(int n, const std::vector<std::string>& headers = {}) {
    std::map<int, int> got;
    for (int i = 0; i < n; ++i) ++got[whoami(headers)];
    return got;
  }

  // Until every one of `n` instances is online (and so a target of the gateway).
  bool allOnline(int n) {
    return waitFor(
        [&] {
          auto all = instancesOf("a");
          if (all.size() != static_cast<size_t>(n)) return false;
          for (const auto& i : all)
            if (i.value("status", "") != "online") return false;
          return true;
        },
        seconds(15));
  }

  int gateway_port_ = 0;
  int base_ = 0;
};

TEST_F(BalanceTest, WeightedThreeToOneSendsThreeRequestsOfFourToTheFirstInstance) {
  startCluster(2, "weighted", "      weights: [3, 1]\n");
  ASSERT_GE(whoami(), 0);  // the cold start
  ASSERT_TRUE(allOnline(2));
  ASSERT_TRUE(waitFor([&] { return count(4).size() == 2; }, seconds(15)));
  EXPECT_EQ(count(40), (std::map<int, int>{{0, 30}, {1, 10}}));
}

TEST_F(BalanceTest, IpHashKeepsAClientOnOneInstanceAndSpreadsClientsOfATrustedProxy) {
  startCluster(3, "ip-hash", "", "", "  trusted_proxies: [127.0.0.1]\n");
  ASSERT_GE(whoami(), 0);
  ASSERT_TRUE(allOnline(3));
  // Every instance is a target (the gateway learns of the ready set a moment after).
  ASSERT_TRUE(waitFor(
      [&] {
        std::set<int> seen;
        for (int c = 0; c < 24; ++c)
          seen.insert(whoami({fmt::format("X-Forwarded-For: 10.1.0.{}", c)}));
        return seen == std::set<int>{0, 1, 2};
      },
      seconds(15)));
  // The same client always lands on the same instance; different clients are spread.
  std::set<int> homes;
  for (int c = 0; c < 24; ++c) {
    auto got = count(5, {fmt::format("X-Forwarded-For: 10.1.0.{}", c)});
    EXPECT_EQ(got.size(), 1u) << "client " << c;
    EXPECT_FALSE(got.contains(-1));
    homes.insert(got.begin()->first);
  }
  EXPECT_EQ(homes, (std::set<int>{0, 1, 2}));
  // The client behind two trusted hops is the one that counts, not the proxy's address.
  int direct = whoami({"X-Forwarded-For: 10.1.0.7"});
  EXPECT_EQ(count(5, {"X-Forwarded-For: 10.1.0.7, 127.0.0.1"}), (std::map<int, int>{{direct, 5}}));
}

TEST_F(BalanceTest, IpHashWithoutTrustedProxiesIgnoresForwardedForAndKeepsThePeerOnOneInstance) {
  startCluster(3, "ip-hash");
  ASSERT_GE(whoami(), 0);
  ASSERT_TRUE(allOnline(3));
  // Until the gateway sees all three, then 30 requests from 127.0.0.1 (whatever they claim)
  // all go to one instance.
  ASSERT_TRUE(waitFor(
      [&] {
        RunResult d = tend({"describe", "a", "--json"});
        auto j = json::parse(d.out, nullptr, false);
        return !j.is_discarded() && j.is_array() && !j.empty() &&
               j[0]["gateway"]["targets"].size() == 3;
      },
      seconds(15)));
  std::map<int, int> got;
  for (int c = 0; c < 30; ++c) ++got[whoami({fmt::format("X-Forwarded-For: 10.2.0.{}", c)})];
  EXPECT_EQ(got.size(), 1u);
  EXPECT_FALSE(got.contains(-1));
}

TEST_F(BalanceTest, RandomReachesEveryInstance) {
  startCluster(3, "random");
  ASSERT_GE(whoami(), 0);
  ASSERT_TRUE(allOnline(3));
  ASSERT_TRUE(waitFor([&] { return count(30).size() == 3; }, seconds(15)));
  auto got = count(90);
  ASSERT_EQ(got.size(), 3u);
  for (auto [who, n] : got) {
    EXPECT_GE(who, 0);
    EXPECT_GT(n, 10) << who;  // 30 expected each
  }
}

TEST_F(BalanceTest, LeastMemoryAvoidsTheBloatedInstance) {
  // Instance 0 holds 200 MiB; 1 and 2 are small.
  startCluster(3, "least-memory", "", ", BACKEND_ALLOC_MB_0: \"200\"");
  ASSERT_GE(whoami(), 0);
  ASSERT_TRUE(allOnline(3));
  // Once the supervisor has sampled them all.
  ASSERT_TRUE(waitFor(
      [&] {
        auto all = instancesOf("a");
        if (all.size() != 3) return false;
        for (const auto& i : all)
          if (i.value("memory", uint64_t{0}) == 0) return false;
        return all[0].value("memory", uint64_t{0}) > (150u << 20);
      },
      seconds(15)));
  ASSERT_TRUE(waitFor([&] { return !count(10).contains(0); }, seconds(15)));
  auto got = count(20);
  EXPECT_FALSE(got.contains(0));
  EXPECT_FALSE(got.contains(-1));
}

TEST_F(BalanceTest, LeastCpuAvoidsTheBusyInstance) {
  // Instance 1 keeps a core busy.
  startCluster(2, "least-cpu", "", ", BACKEND_SPIN_1: \"1\"");
  ASSERT_GE(whoami(), 0);
  ASSERT_TRUE(allOnline(2));
  ASSERT_TRUE(waitFor([&] { return instance("a", 1).value("cpu", 0.0) > 30; }, seconds(15)));
  ASSERT_TRUE(waitFor([&] { return count(10) == std::map<int, int>{{0, 10}}; }, seconds(15)));
  EXPECT_EQ(count(20), (std::map<int, int>{{0, 20}}));
}

TEST_F(BalanceTest, LeastTimePrefersTheInstanceThatAnswersSooner) {
  // Instance 0 takes 200 ms per /whoami; instance 1 answers at once.
  startCluster(2, "least-time", "", ", BACKEND_WHOAMI_MS_0: \"200\"");
  std::set<int> tried{whoami()};  // the cold start
  ASSERT_TRUE(allOnline(2));
  // Both are tried (a target with no sample goes first), then the quick one keeps them.

  ASSERT_TRUE(waitFor(
      [&] {
        tried.insert(whoami());
        return tried.contains(0) && tried.contains(1);
      },
      seconds(15)))
      << ::testing::PrintToString(tried) << tend({"describe", "a", "--json"}).out;
  auto got = count(20);
  EXPECT_EQ(got, (std::map<int, int>{{1, 20}}));
}

TEST_F(BalanceTest, AnUnknownStrategyIsAConfigErrorWithASuggestion) {
  std::string yaml = fmt::format(R"(apps:
  - name: a
    run: ["{0}"]
    port: 3990
    on_demand:
      hosts: [a.localhost]
      balance: least-memry
)",
                                 BACKEND_BINARY);
  RunResult r = tend({"start", writeFile("tend.yaml", yaml)});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("tend.yaml:7:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean least-memory?"), std::string::npos) << r.err;
  std::string weights = fmt::format(R"(apps:
  - name: a
    run: ["{0}"]
    instances: 3
    port: "3990-3992"
    on_demand:
      hosts: [a.localhost]
      balance: weighted
      weights: [3, 1]
)",
                                    BACKEND_BINARY);
  r = tend({"start", writeFile("w.yaml", weights)});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("on_demand.weights has 2 weight(s) but instances is 3"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace tend::testing
