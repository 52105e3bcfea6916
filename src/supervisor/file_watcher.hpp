#pragma once
// Watching an app's files (`watch`, `ignore_watch`): which paths count (WatchIgnore), when a
// burst of changes becomes one restart (WatchDebouncer), and the inotify reader on the
// daemon's loop that feeds them (FileWatcher).
//
// WatchIgnore and WatchDebouncer are pure logic (time comes in as arguments). FileWatcher
// lives on the daemon's io_context thread; not thread-safe. Nothing here polls: the only
// wake-ups are inotify events and one timer while a batch of changes is pending.

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/logger.hpp"

namespace tend {

using namespace std::chrono_literals;

// ignore_watch patterns, fnmatch-style (`*`, `?`, `[...]`), matched against paths relative
// to the watched folder:
//   - a pattern without '/' matches any one component: `node_modules`, `*.log`, `.git`;
//   - a pattern with '/' matches the relative path or any folder above it: `build/out`,
//     `src/*.gen.js`, `tmp/` (a trailing '/' and a leading "./" are dropped);
//   - a pattern starting with '/' does the same with the absolute path.
// A path also counts relative to the app's folder (its cwd), so a pattern naming a folder
// of the app ignores it even where that folder is itself listed in `watch`.
// Defaults, always on: .git .hg .svn node_modules __pycache__ .DS_Store and editors'
// swap and backup files (*.swp *.swx *~ .#*).
class WatchIgnore {
 public:
  explicit WatchIgnore(const std::vector<std::string>& patterns = {});
  // An exact absolute path to ignore (the app's own log files).
  void addExact(std::string absolute);
  // `rel`: relative to the watched folder ("" for the folder itself); `abs`: absolute.
  bool ignored(std::string_view rel, std::string_view abs) const;
  // `abs`, found under the watched folder `root`, in an app whose folder is `base`: ignored
  // when its path relative to either one matches, so that `ignore_watch: [tmp]` wins over
  // `watch: [tmp]` (and over `watch: [tmp/sub]`).
  bool ignoredPath(std::string_view abs, std::string_view root, std::string_view base) const;

  static const std::vector<std::string>& defaults();

 private:
  std::vector<std::string> names_;     // no '/': one component
  std::vector<std::string> relative_;  // with '/': the relative path or a folder above it
  std::vector<std::string> absolute_;  // leading '/'
  std::set<std::string, std::less<>> exact_;
};

// Turns a stream of changes into restarts:
//   - debounce: a batch is due once kQuiet passed without a new change, or kMaxDelay after
//     its first change (a long burst such as `git checkout` still restarts promptly);
//   - settle: when the app (re)starts, pending changes are dropped (the new process reads
//     the files as they are now) and a settle window of kSettle begins. Changes within it
//     are held, not dropped: when the window ends, the paths changed in it become a batch
//     (so an edit saved just after a restart is not lost while the process runs old code),
//     except paths that also changed in the previous window, which are what the app itself
//     writes into its watched folder each time it starts (restarting for them would loop).
//     The first window (the app's first start under this watcher) only learns them.
//     A settle() within an open window extends it (a spawn, then the instance online).
class WatchDebouncer {
 public:
  static constexpr Duration kQuiet = 500ms;
  static constexpr Duration kMaxDelay = 2s;
  static constexpr Duration kSettle = 2s;

  // A change to `path` at `now`. False when it is held for the end of a settle window.
  bool change(TimePoint now, const std::string& path);
  // The app (re)started (or came online) at `now`.
  void settle(TimePoint now);
  // When to call due() next: the pending batch's time, or the end of a settle window that
  // holds changes; nullopt when nothing is pending.
  std::optional<TimePoint> deadline() const;
  // The cause to record when the batch is due at `now` ("src/app.js", or "src/app.js and
  // 2 other files"), and the batch is then cleared; nullopt when nothing is due yet.
  std::optional<std::string> due(TimePoint now);

 private:
  static constexpr size_t kMaxPaths = 1000;
  void add(TimePoint when, const std::string& path);
  // The settle window ended: its new paths become a batch when `batch` (else forgotten),
  // and its paths are remembered as the previous window's.
  void closeWindow(bool batch);

  std::optional<TimePoint> first_, last_;
  TimePoint settle_until_{};
  std::string first_path_;
  std::set<std::string> paths_;
  bool more_than_counted_ = false;
  bool window_open_ = false;
  int windows_closed_ = 0;
  std::set<std::string> window_paths_;    // changed in the open settle window
  std::set<std::string> previous_paths_;  // changed in the window before it
};

class FileWatcher {
 public:
  struct Options {
    std::vector<std::string> roots;  // absolute: folders (recursive) or single files
    std::string base;                // changes are reported relative to it (the app's cwd)
    WatchIgnore ignore;
    size_t max_watches = 8192;  // folders; beyond it a warning and no deeper watches
  };
  // `on_change(cause)` is called on the loop when a debounced batch is due, with the
  // changed path relative to `base` ("src/app.js changed"). It may destroy the watcher.
  FileWatcher(boost::asio::io_context& io, Clock& clock, Logger& log, std::string who,
              Options options, std::function<void(const std::string& cause)> on_change);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Starts watching: "" or why it cannot (inotify unavailable). Missing roots are warned
  // about in the daemon's log and skipped.
  std::string start();
  // The app (re)started now: see WatchDebouncer::settle.
  void settle();
  size_t watchCount() const { return dirs_.size(); }

 private:
  struct Root {
    std::string dir;   // the folder watched
    std::string only;  // a root that is a file: only this name in `dir`
  };
  struct Dir {
    std::string path;  // absolute
    size_t root;
  };

  void addTree(const std::string& dir, size_t root);
  bool addWatch(const std::string& dir, size_t root);
  void doWait();
  void onReadable();
  void onEvent(int wd, uint32_t mask, std::string_view name);
  void noteChange(const std::string& abs);
  void armTimer();

  boost::asio::io_context& io_;
  Clock& clock_;
  Logger& log_;
  std::string who_;
  Options options_;
  std::function<void(const std::string&)> on_change_;
  std::vector<Root> roots_;
  std::map<int, Dir> dirs_;  // by watch descriptor
  std::optional<boost::asio::posix::stream_descriptor> stream_;
  boost::asio::steady_timer timer_;
  WatchDebouncer debouncer_;
  bool warned_limit_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tend
