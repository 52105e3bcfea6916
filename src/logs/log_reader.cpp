#include "logs/log_reader.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <memory>
#include <optional>

#include "common/unique_fd.hpp"
#include "logs/log_writer.hpp"

namespace tend {

std::string_view lineTime(std::string_view line) {
  // A JSON line (logs.format: json) starts {"time":"<the same stamp>".
  static constexpr std::string_view kJsonStart = "{\"time\":\"";
  if (line.starts_with(kJsonStart)) line.remove_prefix(kJsonStart.size());
  // "YYYY-MM-DDTHH:MM:SS.mmmZ": fixed width, so the shape is checked character by character.
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (line.size() < kShape.size()) return {};
  for (size_t i = 0; i < kShape.size(); ++i) {
    const char c = line[i];
    if (kShape[i] == 'd' ? (c < '0' || c > '9') : c != kShape[i]) return {};
  }
  return line.substr(0, kShape.size());
}

std::vector<std::string> tailLines(const std::string& path, size_t n) {
  std::vector<std::string> lines;
  if (n == 0) return lines;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return lines;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return lines;
  off_t end = st.st_size;
  std::string data;  // the tail of the file, grown backwards
  constexpr off_t kChunk = 64 * 1024;
  // Skip an unterminated last line: only complete lines are shown.
  while (end > 0) {
    off_t start = std::max<off_t>(0, end - kChunk);
    std::string chunk(static_cast<size_t>(end - start), '\0');
    ssize_t got = ::pread(fd.get(), chunk.data(), chunk.size(), start);
    if (got <= 0) break;
    chunk.resize(static_cast<size_t>(got));
    data.insert(0, chunk);
    end = start;
    if (static_cast<size_t>(std::count(data.begin(), data.end(), '\n')) > n) break;
  }
  size_t last_nl = data.rfind('\n');
  if (last_nl == std::string::npos) return lines;
  data.resize(last_nl);  // drop the unterminated tail and the final '\n'
  std::vector<std::string> all;
  size_t begin = 0;
  for (size_t nl; (nl = data.find('\n', begin)) != std::string::npos; begin = nl + 1)
    all.push_back(data.substr(begin, nl - begin));
  all.push_back(data.substr(begin));
  // When the read stopped before the start of the file, the first piece may be cut.
  size_t first = end > 0 ? 1 : 0;
  if (all.size() - first > n) first = all.size() - n;
  lines.assign(all.begin() + static_cast<std::ptrdiff_t>(first), all.end());
  return lines;
}

std::vector<std::string> tailLinesAcrossRotation(const std::string& path, size_t n) {
  constexpr int kMaxRotated = 1000;  // as logs.max_files allows
  std::vector<std::string> lines = tailLines(path, n);
  for (int i = 1; lines.size() < n && i <= kMaxRotated; ++i) {
    const std::string older_path = rotatedLogPath(path, i);
    struct stat st {};
    if (::stat(older_path.c_str(), &st) != 0) break;
    std::vector<std::string> older = tailLines(older_path, n - lines.size());
    lines.insert(lines.begin(), std::make_move_iterator(older.begin()),
                 std::make_move_iterator(older.end()));
  }
  return lines;
}

namespace {

// One followed file: the open file (kept open, so a file renamed away can still be read to
// its end), which file it is, and how far it has been read.
struct FollowState {
  UniqueFd fd;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t offset = 0;
  std::string partial;
};

class Follower {
 public:
  Follower(const std::vector<FollowedFile>& files,
           const std::function<void(const FollowedFile&, const std::string&)>& on_line)
      : files_(files), on_line_(on_line), states_(files.size()) {
    for (size_t i = 0; i < files_.size(); ++i) {
      if (open(i)) states_[i].offset = fileSize(states_[i].fd.get());
    }
  }

  void poll() {
    for (size_t i = 0; i < files_.size(); ++i) pollOne(i);
  }

 private:
  static off_t fileSize(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_size : 0;
  }

  bool open(size_t i) {
    return adopt(i, UniqueFd(::open(files_[i].path.c_str(), O_RDONLY | O_CLOEXEC)));
  }

  // Follows `fd` from its start.
  bool adopt(size_t i, UniqueFd fd) {
    FollowState& s = states_[i];
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) return false;
    s.fd = std::move(fd);
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.offset = 0;
    s.partial.clear();
    return true;
  }

  // Passes on every complete line from the state's offset to the end of its file.
  void drain(size_t i) {
    FollowState& s = states_[i];
    while (true) {
      ssize_t got = ::pread(s.fd.get(), buffer_, sizeof buffer_, s.offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return;
      s.offset += got;
      s.partial.append(buffer_, static_cast<size_t>(got));
      size_t start = 0;
      for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1)
        on_line_(files_[i], s.partial.substr(start, nl - start));
      s.partial.erase(0, start);
    }
  }

  // Every line of a whole file, for rotated files written while the follower looked away.
  void readWhole(size_t i, UniqueFd fd) {
    FollowState whole;
    whole.fd = std::move(fd);
    std::swap(whole, states_[i]);
    drain(i);
    if (!states_[i].partial.empty()) on_line_(files_[i], states_[i].partial);
    std::swap(whole, states_[i]);
  }

  void pollOne(size_t i) {
    FollowState& s = states_[i];
    const std::string& path = files_[i].path;
    if (!s.fd) {
      if (open(i)) drain(i);  // appeared since: everything in it is new
      return;
    }
    drain(i);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return;  // mid-rotation: look again next time
    if (st.st_dev == s.dev && st.st_ino == s.ino) {
      if (st.st_size < s.offset) {  // truncated: start again from the top
        s.offset = 0;
        s.partial.clear();
        drain(i);
      }
      return;
    }
    // Replaced. Everything written to the old file was written before the rename, so it
    // can be read to its end now; an unterminated last piece is a line of its own.
    drain(i);
    if (!s.partial.empty()) on_line_(files_[i], s.partial);
    s.partial.clear();
    // The files written since, found while the writer may be rotating again: a few quick
    // looks, then the next poll looks again (the old file stays open, read to its end).
    for (int look = 0; look < 3; ++look) {
      if (look > 0) ::usleep(1000);
      UniqueFd current;
      auto newer = rotatedSince(path, s.dev, s.ino, current);
      if (!newer) continue;
      for (auto it = newer->rbegin(); it != newer->rend(); ++it) readWhole(i, std::move(*it));
      if (adopt(i, std::move(current))) drain(i);
      return;
    }
  }

  // The rotated files between the file (dev, ino) and the current one, newest first, opened,
  // and the current file in `current`. The writer rotates by renaming path.(j) to
  // path.(j+1), highest first, then path to path.1; a walk that overlapped such a rotation
  // is refused (nullopt): one that saw a file twice, stopped at a gap with files beyond
  // it, or found another current file at its end than at its start. A walk that does not
  // find the file, with no gap, means it was removed (more rotations than max_files):
  // every rotated file is newer than it then.
  static std::optional<std::vector<UniqueFd>> rotatedSince(const std::string& path, dev_t dev,
                                                           ino_t ino, UniqueFd& current) {
    constexpr int kMaxRotated = 1000;  // as logs.max_files allows
    current = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat cur {};
    if (!current || ::fstat(current.get(), &cur) != 0) return std::nullopt;  // mid-rotation
    std::vector<UniqueFd> newer;
    std::vector<ino_t> seen{cur.st_ino};
    bool found = false;
    int j = 1;
    for (; j <= kMaxRotated; ++j) {
      UniqueFd fd(::open(rotatedLogPath(path, j).c_str(), O_RDONLY | O_CLOEXEC));
      struct stat st {};
      if (!fd || ::fstat(fd.get(), &st) != 0) break;
      if (st.st_dev == dev && st.st_ino == ino) {
        found = true;
        break;
      }
      if (std::find(seen.begin(), seen.end(), st.st_ino) != seen.end()) return std::nullopt;
      seen.push_back(st.st_ino);
      newer.push_back(std::move(fd));
    }
    struct stat probe {};
    if (!found && ::stat(rotatedLogPath(path, j + 1).c_str(), &probe) == 0) return std::nullopt;
    struct stat after {};
    if (::stat(path.c_str(), &after) != 0 || after.st_ino != cur.st_ino) return std::nullopt;
    return newer;
  }

  const std::vector<FollowedFile>& files_;
  const std::function<void(const FollowedFile&, const std::string&)>& on_line_;
  std::vector<FollowState> states_;
  char buffer_[64 * 1024];
};

}  // namespace

void followFiles(const std::vector<FollowedFile>& files,
                 const std::function<void(const FollowedFile&, const std::string&)>& on_line,
                 const std::function<bool()>& keep_going, const std::function<void()>& on_started) {
  UniqueFd inotify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (inotify) {
    for (const auto& f : files) {
      const size_t slash = f.path.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : f.path.substr(0, slash);
      ::inotify_add_watch(inotify.get(), dir.empty() ? "/" : dir.c_str(),
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM);
    }
  }
  auto follower = std::make_unique<Follower>(files, on_line);
  if (on_started) on_started();
  char events[4096];
  while (keep_going()) {
    if (inotify) {
      pollfd p{inotify.get(), POLLIN, 0};
      if (::poll(&p, 1, 250) > 0) {
        while (::read(inotify.get(), events, sizeof events) > 0) {
        }
      }
    } else {
      ::usleep(250 * 1000);
    }
    follower->poll();
  }
}

}  // namespace tend
