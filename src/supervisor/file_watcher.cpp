#include "supervisor/file_watcher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace tend {
namespace asio = boost::asio;

namespace {

// Only what changes content or the tree; never IN_ACCESS / IN_OPEN / IN_ATTRIB.
constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                             IN_MOVE_SELF | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW |
                             IN_EXCL_UNLINK;
constexpr int kReadsPerWakeup = 16;  // then let other work run

std::string normalise(std::string p) {
  while (p.starts_with("./")) p.erase(0, 2);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool globMatch(const std::string& pattern, std::string_view text, int flags) {
  return ::fnmatch(pattern.c_str(), std::string(text).c_str(), flags) == 0;
}

// `path` or any folder above it (within `path`, components separated by '/').
bool matchesPathOrParent(const std::string& pattern, std::string_view path) {
  while (!path.empty()) {
    if (globMatch(pattern, path, FNM_PATHNAME)) return true;
    size_t slash = path.rfind('/');
    if (slash == std::string_view::npos || slash == 0) break;
    path = path.substr(0, slash);
  }
  return false;
}

// `abs` relative to `dir`: "" for `dir` itself; nullopt when it is not under it.
std::optional<std::string_view> relativeTo(std::string_view abs, std::string_view dir) {
  if (abs == dir) return std::string_view();
  if (dir == "/") return abs.substr(1);
  if (abs.size() > dir.size() && abs.starts_with(dir) && abs[dir.size()] == '/')
    return abs.substr(dir.size() + 1);
  return std::nullopt;
}

bool isDirectory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

// ---- WatchIgnore ----------------------------------------------------------------------

const std::vector<std::string>& WatchIgnore::defaults() {
  static const std::vector<std::string> kDefaults = {
      ".git",      ".hg",   ".svn",  "node_modules", "__pycache__",
      ".DS_Store", "*.swp", "*.swx", "*~",           ".#*"};
  return kDefaults;
}

WatchIgnore::WatchIgnore(const std::vector<std::string>& patterns) {
  auto add = [this](const std::string& raw) {
    std::string p = normalise(raw);
    if (p.empty() || p == ".") return;
    if (p.front() == '/')
      absolute_.push_back(p);
    else if (p.find('/') != std::string::npos)
      relative_.push_back(p);
    else
      names_.push_back(p);
  };
  for (const auto& p : defaults()) add(p);
  for (const auto& p : patterns) add(p);
}

void WatchIgnore::addExact(std::string absolute) {
  exact_.insert(std::move(absolute));
}

bool WatchIgnore::ignored(std::string_view rel, std::string_view abs) const {
  if (exact_.contains(abs)) return true;
  if (!rel.empty()) {
    size_t start = 0;
    while (start <= rel.size()) {
      size_t slash = rel.find('/', start);
      std::string_view part = rel.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
      for (const auto& n : names_)
        if (globMatch(n, part, 0)) return true;
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    for (const auto& r : relative_)
      if (matchesPathOrParent(r, rel)) return true;
  }
  for (const auto& a : absolute_)
    if (matchesPathOrParent(a, abs)) return true;
  return false;
}

bool WatchIgnore::ignoredPath(std::string_view abs, std::string_view root,
                              std::string_view base) const {
  if (ignored(relativeTo(abs, root).value_or(abs), abs)) return true;
  auto from_base = base.empty() ? std::nullopt : relativeTo(abs, base);
  return from_base && !from_base->empty() && ignored(*from_base, abs);
}

// ---- WatchDebouncer -------------------------------------------------------------------

void WatchDebouncer::add(TimePoint when, const std::string& path) {
  if (!first_) {
    first_ = when;
    first_path_ = path;
  }
  last_ = when;
  if (paths_.size() < kMaxPaths)
    paths_.insert(path);
  else if (!paths_.contains(path))
    more_than_counted_ = true;
}

void WatchDebouncer::closeWindow(bool batch) {
  if (!window_open_) return;
  window_open_ = false;
  if (batch && windows_closed_ > 0)
    for (const std::string& path : window_paths_)
      if (!previous_paths_.contains(path)) add(settle_until_, path);
  ++windows_closed_;
  previous_paths_ = std::move(window_paths_);
  window_paths_.clear();
}

bool WatchDebouncer::change(TimePoint now, const std::string& path) {
  if (now < settle_until_) {
    if (window_paths_.size() < kMaxPaths) window_paths_.insert(path);
    return false;
  }
  closeWindow(true);
  add(now, path);
  return true;
}

void WatchDebouncer::settle(TimePoint now) {
  // A window that ended without a change after it: the new process reads what it held.
  if (now >= settle_until_) closeWindow(false);
  window_open_ = true;
  settle_until_ = std::max(settle_until_, now + kSettle);
  first_.reset();
  last_.reset();
  paths_.clear();
  more_than_counted_ = false;
}

std::optional<TimePoint> WatchDebouncer::deadline() const {
  if (!first_) {
    if (window_open_ && windows_closed_ > 0 && !window_paths_.empty()) return settle_until_;
    return std::nullopt;
  }
  return std::min(*last_ + kQuiet, *first_ + kMaxDelay);
}

std::optional<std::string> WatchDebouncer::due(TimePoint now) {
  if (now >= settle_until_) closeWindow(true);
  auto when = deadline();
  if (!when || now < *when) return std::nullopt;
  std::string cause = first_path_;
  const size_t others = paths_.size() - 1;
  if (others > 0 || more_than_counted_)
    cause += fmt::format(" and {}{} other file{}", more_than_counted_ ? "over " : "", others,
                         others == 1 && !more_than_counted_ ? "" : "s");
  first_.reset();
  last_.reset();
  paths_.clear();
  more_than_counted_ = false;
  return cause;
}

// ---- FileWatcher ----------------------------------------------------------------------

FileWatcher::FileWatcher(asio::io_context& io, Clock& clock, Logger& log, std::string who,
                         Options options, std::function<void(const std::string&)> on_change)
    : io_(io),
      clock_(clock),
      log_(log),
      who_(std::move(who)),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      timer_(io) {}

FileWatcher::~FileWatcher() {
  *alive_ = false;
  timer_.cancel();
  if (stream_) {
    boost::system::error_code ignored;
    stream_->close(ignored);  // closing the inotify fd drops every watch
  }
}

std::string FileWatcher::start() {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return fmt::format("cannot watch files: inotify: {}", std::strerror(errno));
  stream_.emplace(io_, fd);
  for (const std::string& raw : options_.roots) {
    std::string path = normalise(raw);
    if (options_.ignore.ignoredPath(path, path, options_.base)) {
      log_.info("{}: watch: {} is in ignore_watch; not watched", who_, path);
      continue;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      log_.warn("{}: watch: {}: {}; not watched", who_, path, std::strerror(errno));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      roots_.push_back({path, ""});
      addTree(path, roots_.size() - 1);
    } else {
      size_t slash = path.rfind('/');
      std::string dir = slash == 0 ? "/" : path.substr(0, slash);
      roots_.push_back({dir, path.substr(slash + 1)});
      addWatch(dir, roots_.size() - 1);
    }
  }
  log_.info("{}: watching {} folder{} for changes", who_, dirs_.size(),
            dirs_.size() == 1 ? "" : "s");
  doWait();
  return "";
}

void FileWatcher::settle() {
  debouncer_.settle(clock_.now());
  timer_.cancel();
  armTimer();  // an extended window may hold changes already
}

bool FileWatcher::addWatch(const std::string& dir, size_t root) {
  if (dirs_.size() >= options_.max_watches) {
    if (!warned_limit_) {
      warned_limit_ = true;
      log_.warn(
          "{}: watch: more than {} folders; {} and the folders after it are not watched "
          "(add the big ones to ignore_watch)",
          who_, options_.max_watches, dir);
    }
    return false;
  }
  int wd = ::inotify_add_watch(stream_->native_handle(), dir.c_str(), kEvents);
  if (wd < 0) {
    if (errno == ENOSPC && !warned_limit_) {
      warned_limit_ = true;
      log_.warn(
          "{}: watch: the system's inotify limit is reached at {} (raise "
          "fs.inotify.max_user_watches, or add folders to ignore_watch)",
          who_, dir);
    } else if (errno != ENOENT && errno != ENOTDIR && errno != ENOSPC) {
      log_.warn("{}: watch: {}: {}", who_, dir, std::strerror(errno));
    }
    return false;
  }
  dirs_[wd] = Dir{dir, root};
  return true;
}

// Depth-first with an explicit stack; symbolic links are not followed.
void FileWatcher::addTree(const std::string& top, size_t root) {
  std::vector<std::string> stack{top};
  while (!stack.empty()) {
    std::string dir = std::move(stack.back());
    stack.pop_back();
    if (!addWatch(dir, root)) continue;
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
      bool is_dir = e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && isDirectory(child));
      if (!is_dir || options_.ignore.ignoredPath(child, roots_[root].dir, options_.base)) continue;
      stack.push_back(std::move(child));
    }
    ::closedir(d);
  }
}

void FileWatcher::doWait() {
  stream_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
                        if (ec || alive.expired()) return;
                        onReadable();
                      });
}

void FileWatcher::onReadable() {
  alignas(inotify_event) static std::array<char, 64 * 1024> buffer;
  std::weak_ptr<bool> alive = alive_;
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    ssize_t n = ::read(stream_->native_handle(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buffer.data() + off);
      std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
      onEvent(ev->wd, ev->mask, name);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  if (alive.expired()) return;
  armTimer();
  doWait();
}

void FileWatcher::onEvent(int wd, uint32_t mask, std::string_view name) {
  if (mask & IN_Q_OVERFLOW) {
    log_.warn("{}: watch: the kernel dropped events (too many at once)", who_);
    noteChange(roots_.empty() ? options_.base : roots_.front().dir);
    return;
  }
  auto it = dirs_.find(wd);
  if (it == dirs_.end()) return;
  const Dir dir = it->second;
  if (mask & IN_IGNORED) {
    dirs_.erase(it);
    return;
  }
  if (mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    // Gone or moved: its path is stale. A move within the tree is re-added from its new parent.
    ::inotify_rm_watch(stream_->native_handle(), wd);
    dirs_.erase(it);
    return;
  }
  if (name.empty()) return;
  const Root& root = roots_[dir.root];
  if (!root.only.empty() && name != root.only) return;
  std::string abs = dir.path == "/" ? "/" + std::string(name) : dir.path + "/" + std::string(name);
  if (options_.ignore.ignoredPath(abs, root.dir, options_.base)) return;
  if ((mask & IN_ISDIR) && (mask & (IN_CREATE | IN_MOVED_TO)) && root.only.empty())
    addTree(abs, dir.root);
  noteChange(abs);
}

void FileWatcher::noteChange(const std::string& abs) {
  std::string shown = abs;
  const std::string& base = options_.base;
  if (!base.empty() && base != "/" && abs.size() > base.size() && abs.starts_with(base) &&
      abs[base.size()] == '/')
    shown = abs.substr(base.size() + 1);
  debouncer_.change(clock_.now(), shown);
}

void FileWatcher::armTimer() {
  auto when = debouncer_.deadline();
  if (!when) return;
  const Duration wait =
      std::max(Duration(0), std::chrono::duration_cast<Duration>(*when - clock_.now()));
  timer_.expires_after(wait);
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    if (auto cause = debouncer_.due(clock_.now())) {
      on_change_(*cause + " changed");  // may destroy this watcher
      return;
    }
    armTimer();
  });
}

}  // namespace tend
