// `tend dashboard`: asks the daemon for a one-time login link to the web dashboard, prints
// it, and opens it in a browser when there is a display and xdg-open.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/client.hpp"
#include "cli/commands.hpp"

extern char** environ;

namespace tend {
namespace {

// Starts xdg-open on `url` in the background (its output to /dev/null); false when it
// could not be started.
bool openInBrowser(const std::string& url) {
  const char* display = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  if ((!display || !*display) && (!wayland || !*wayland)) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string program = "xdg-open";
  char* argv[] = {program.data(), const_cast<char*>(url.c_str()), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "xdg-open", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  // xdg-open hands the URL to the browser and returns.
  return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int cmdDashboard(bool no_open, bool as_json) {
  Client client(Paths::fromEnvironment());
  if (auto r = client.connect(/*autostart=*/true); !r) {
    std::fprintf(stderr, "tend: %s\n", r.error().c_str());
    return kExitFailed;
  }
  auto data = client.request({{"cmd", "dashboard"}});
  if (!data) {
    std::fprintf(stderr, "tend: %s\n", data.error().c_str());
    return kExitFailed;
  }
  std::string url = data->value("url", "");
  if (as_json) {
    std::printf("%s\n", data->dump(2).c_str());
    return kExitOk;
  }
  std::printf("%s\n", url.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "(a one-time link, valid for %lld s: it logs this browser in)\n",
               static_cast<long long>(data->value("expires_in_s", 0)));
  if (!no_open && openInBrowser(url)) std::fprintf(stderr, "opened in your browser\n");
  return kExitOk;
}

}  // namespace tend
