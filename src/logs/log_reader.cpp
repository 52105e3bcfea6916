#include "logs/log_reader.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/unique_fd.hpp"

namespace tend {

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

void followFiles(const std::vector<FollowedFile>& files,
                 const std::function<void(const FollowedFile&, const std::string&)>& on_line,
                 const std::function<bool()>& keep_going) {
  struct State {
    off_t offset = 0;
    std::string partial;
  };
  std::vector<State> states(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    struct stat st {};
    if (::stat(files[i].path.c_str(), &st) == 0) states[i].offset = st.st_size;
  }
  UniqueFd inotify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (inotify) {
    for (const auto& f : files) {
      std::string dir = f.path.substr(0, f.path.rfind('/'));
      ::inotify_add_watch(inotify.get(), dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    }
  }
  char buf[64 * 1024];
  while (keep_going()) {
    if (inotify) {
      pollfd p{inotify.get(), POLLIN, 0};
      if (::poll(&p, 1, 250) > 0) {
        while (::read(inotify.get(), buf, sizeof buf) > 0) {
        }
      }
    } else {
      ::usleep(250 * 1000);
    }
    for (size_t i = 0; i < files.size(); ++i) {
      UniqueFd fd(::open(files[i].path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) continue;
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) continue;
      State& s = states[i];
      if (st.st_size < s.offset) {  // truncated or replaced: start again from the top
        s.offset = 0;
        s.partial.clear();
      }
      while (s.offset < st.st_size) {
        ssize_t got = ::pread(fd.get(), buf, sizeof buf, s.offset);
        if (got <= 0) break;
        s.offset += got;
        s.partial.append(buf, static_cast<size_t>(got));
        size_t start = 0;
        for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1)
          on_line(files[i], s.partial.substr(start, nl - start));
        s.partial.erase(0, start);
      }
    }
  }
}

}  // namespace tend
