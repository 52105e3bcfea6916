// http ready checks over TLS, with a method, a body and an expected status, against a real
// TLS server (Python's ssl module, with a self-signed certificate made by the `openssl` CLI
// when the test runs).

#include <fmt/format.h>

#include <map>

#include "harness.hpp"

namespace tend::testing {
namespace {

using nlohmann::json;

// Serves every request with STATUS, or 400 when the method or body are not the expected
// ones; appends "METHOD PATH BODY" per request to LOG. CERT "-": plain http.
constexpr const char* kServer = R"PY(
import http.server, ssl, sys
port, cert, key, status, method, body, log = sys.argv[1:8]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        got = self.rfile.read(n).decode() if n else ""
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path} {got}\n")
        ok = self.command == method and (body == "-" or got == body)
        self.send_response(int(status) if ok else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = do_PUT = do_HEAD = answer
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(port)), H)
if cert != "-":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
)PY";

class HttpsProbes : public TendTest {
 protected:
  void SetUp() override {
    TendTest::SetUp();
    script_ = writeFile("server.py", kServer);
    cert_ = dir_ + "/cert.pem";
    key_ = dir_ + "/key.pem";
    RunResult r = runProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key_, "-out",
                              cert_, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                              "subjectAltName=IP:127.0.0.1"});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // An app "web" serving on a free port, with this ready check (keys indented under
  // `ready:`, `{port}` replaced).
  void startWeb(bool tls, int status, const std::string& method, const std::string& body,
                const std::string& ready, const std::string& timeout = "60s") {
    port_ = freePortRun(1);
    ASSERT_GT(port_, 0);
    std::string cfg = writeFile(
        "tend.yaml",
        fmt::format(R"(apps:
  - name: web
    run: ["python3", "{0}", "{1}", "{2}", "{3}", "{4}", "{5}", "{6}", "{7}", "{8}"]
    port: {1}
    autorestart: false
    ready:
{9}      timeout: {10}
)",
                    script_, port_, tls ? cert_ : "-", key_, status, method, body, log(), tag(),
                    fmt::format(fmt::runtime(ready), fmt::arg("port", port_)), timeout));
    RunResult r = tend({"start", cfg});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }

  std::string log() const { return dir_ + "/requests.log"; }

  json readyProbe() {
    RunResult d = tend({"describe", "web", "--json"});
    json all = json::parse(d.out, nullptr, false);
    if (!all.is_array() || all.empty() || all[0].value("instances", json::array()).empty())
      return json::object();
    return all[0]["instances"][0].value("probes", json::object()).value("ready", json::object());
  }
  std::string status() { return instance("web").value("status", ""); }
  // Waits until the ready check has failed with `text` in its error, the app still starting.
  void expectNotReadyWith(const std::string& text) {
    ASSERT_TRUE(waitFor([&] {
      return readyProbe().value("last_error", "").find(text) != std::string::npos;
    })) << readyProbe().dump();
    EXPECT_EQ(status(), "starting");
  }

  std::string script_, cert_, key_;
  int port_ = 0;
};

TEST_F(HttpsProbes, AnHttpsCheckWithInsecurePassesOnASelfSignedCertificate) {
  startWeb(true, 200, "GET", "-",
           "      http: https://127.0.0.1:{port}/health\n      insecure: true\n");
  ASSERT_TRUE(waitFor([&] { return status() == "online"; }, std::chrono::seconds(30)))
      << readyProbe().dump();
  EXPECT_EQ(readyProbe().value("check", ""), fmt::format("https://127.0.0.1:{}/health", port_));
  EXPECT_NE(readText(log()).find("GET /health"), std::string::npos) << readText(log());
}

TEST_F(HttpsProbes, AnHttpsCheckVerifiesTheCertificateByDefault) {
  startWeb(true, 200, "GET", "-", "      http: https://127.0.0.1:{port}/health\n", "3s");
  ASSERT_TRUE(waitFor([&] {
    return readyProbe()
               .value("last_error", "")
               .find("TLS handshake: certificate verify failed: self-signed certificate") !=
           std::string::npos;
  })) << readyProbe().dump();
  // At the ready timeout the start has failed, and the daemon's log says why.
  ASSERT_TRUE(waitFor([&] {
    return readText(home_ + "/daemon.log")
               .find("not ready after 3s: https://127.0.0.1:" + std::to_string(port_) +
                     "/health: TLS handshake: certificate verify failed") != std::string::npos;
  })) << readText(home_ + "/daemon.log");
  EXPECT_NE(status(), "online");
}

TEST_F(HttpsProbes, ACertificateTheTrustStoreHoldsPassesWithoutInsecure) {
  // OpenSSL's default trust store is $SSL_CERT_FILE when set: the daemon (started by this
  // CLI, with its environment) then trusts the test's certificate, issued for 127.0.0.1.
  const std::map<std::string, std::string> env{{"SSL_CERT_FILE", cert_}};
  int port = freePortRun(1);
  ASSERT_GT(port, 0);
  std::string cfg = writeFile("tend.yaml", fmt::format(R"(apps:
  - name: web
    run: ["python3", "{0}", "{1}", "{2}", "{3}", "200", "GET", "-", "{4}", "{5}"]
    port: {1}
    ready:
      http: https://127.0.0.1:{1}/health
      timeout: 60s
)",
                                                       script_, port, cert_, key_, log(), tag()));
  ASSERT_EQ(tend({"start", cfg}, env).status, 0);
  ASSERT_TRUE(waitFor([&] { return status() == "online"; }, std::chrono::seconds(30)))
      << readyProbe().dump();
}

TEST_F(HttpsProbes, APostCheckSendsItsBody) {
  startWeb(true, 204, "POST", "ping-body",
           "      http: https://127.0.0.1:{port}/ready\n      insecure: true\n"
           "      method: POST\n      body: ping-body\n      expect: 204\n");
  ASSERT_TRUE(waitFor([&] { return status() == "online"; }, std::chrono::seconds(30)))
      << readyProbe().dump();
  EXPECT_NE(readText(log()).find("POST /ready ping-body"), std::string::npos) << readText(log());
}

TEST_F(HttpsProbes, AStatusOutsideExpectKeepsTheAppStarting) {
  startWeb(false, 200, "GET", "-",
           "      http: http://127.0.0.1:{port}/health\n      expect: 204\n");
  expectNotReadyWith("status 200 (expected 204)");
}

TEST_F(HttpsProbes, ARangeOfStatusesPasses) {
  startWeb(false, 204, "HEAD", "-",
           "      http: http://127.0.0.1:{port}/health\n      method: HEAD\n"
           "      expect: 2xx\n");
  ASSERT_TRUE(waitFor([&] { return status() == "online"; }, std::chrono::seconds(30)))
      << readyProbe().dump();
  EXPECT_NE(readText(log()).find("HEAD /health"), std::string::npos) << readText(log());
}

}  // namespace
}  // namespace tend::testing
