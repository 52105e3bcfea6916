#include "common/paths.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace tend {

Paths Paths::forHome(const std::string& home_in) {
  Paths p;
  p.home = absolutePath(home_in);
  while (p.home.size() > 1 && p.home.back() == '/') p.home.pop_back();
  p.socket = p.home + "/tend.sock";
  p.lock = p.home + "/tend.lock";
  p.pid = p.home + "/tend.pid";
  p.database = p.home + "/state.db";
  p.logs = p.home + "/logs";
  p.daemon_log = p.home + "/daemon.log";
  p.dump = p.home + "/dump.json";
  p.gateway = p.home + "/gateway.json";
  return p;
}

Paths Paths::fromEnvironment() {
  const char* env = std::getenv("TEND_HOME");
  if (env && *env) return forHome(env);
  return forHome("~/.tend");
}

std::string Paths::ensureDirectories() const {
  for (const std::string& dir : {home, logs}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      if (errno == ENOENT) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (!ec) {
          ::chmod(dir.c_str(), 0700);
          continue;
        }
      }
      return fmt::format("cannot create {}: {}", dir, std::strerror(errno));
    }
  }
  return "";
}

std::string absolutePath(const std::string& path, const std::string& base) {
  std::string p = path;
  if (p == "~" || p.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    p = std::string(home ? home : "/") + p.substr(1);
  }
  std::filesystem::path fp(p);
  if (fp.is_relative()) {
    std::filesystem::path b =
        base.empty() ? std::filesystem::current_path() : std::filesystem::path(base);
    fp = b / fp;
  }
  return fp.lexically_normal().string();
}

}  // namespace tend
