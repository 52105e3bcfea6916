#include "cli/monit.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "cli/client.hpp"
#include "cli/commands.hpp"
#include "cli/monit_screen.hpp"
#include "cli/table.hpp"
#include "common/files.hpp"
#include "common/paths.hpp"
#include "common/unique_fd.hpp"
#include "logs/log_reader.hpp"

namespace tend {
namespace {

using monit::Key;
using monit::Message;
using nlohmann::json;

// On the wake pipe, a byte is a signal number, or this: the action thread has finished.
constexpr char kActionDone = 0;

constexpr char kEnterScreen[] = "\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[H\x1b[2J";
constexpr char kLeaveScreen[] = "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l";

// ---- what the signal handler shares with the loop -------------------------------------

int g_wake_fd = -1;                  // write end of the self-pipe, non-blocking
std::atomic<int> g_quit_signals{0};  // SIGINT/SIGTERM/SIGHUP/SIGQUIT received
termios g_saved_termios{};           // valid while g_terminal_raw
std::atomic<bool> g_terminal_raw{false};

void onSignal(int sig) {
  int saved_errno = errno;
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) {
    // A second one means the loop is stuck (say, on a daemon that stopped answering):
    // leave the terminal clean from here (write and tcsetattr are async-signal-safe).
    if (g_quit_signals.fetch_add(1) >= 1) {
      if (g_terminal_raw) {
        (void)!::write(STDOUT_FILENO, kLeaveScreen, sizeof kLeaveScreen - 1);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
      }
      ::_exit(128 + sig);
    }
  }
  char byte = static_cast<char>(sig);
  if (g_wake_fd >= 0) (void)!::write(g_wake_fd, &byte, 1);
  errno = saved_errno;
}

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP, SIGCONT};

// Routes kSignals to the wake pipe while alive; puts the previous handlers back after.
class SignalRouting {
 public:
  explicit SignalRouting(int wake_fd) {
    g_wake_fd = wake_fd;
    g_quit_signals = 0;
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll returns at once
    for (size_t k = 0; k < std::size(kSignals); ++k) ::sigaction(kSignals[k], &sa, &old_[k]);
  }
  ~SignalRouting() {
    for (size_t k = 0; k < std::size(kSignals); ++k) ::sigaction(kSignals[k], &old_[k], nullptr);
    g_wake_fd = -1;
  }
  SignalRouting(const SignalRouting&) = delete;
  SignalRouting& operator=(const SignalRouting&) = delete;

  // Stops the process as Ctrl-Z would have without us; returns once it is continued.
  static void suspend() {
    struct sigaction dfl {
    }, mine{};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGTSTP, &dfl, &mine);
    ::raise(SIGTSTP);
    ::sigaction(SIGTSTP, &mine, nullptr);
  }

 private:
  struct sigaction old_[std::size(kSignals)]{};
};

// ---- the terminal ------------------------------------------------------------------

// Owns the terminal's mode: enter() switches to the dashboard's (no echo, keys one at a
// time, alternate screen, cursor hidden, autowrap off); leave() and the destructor put back
// exactly what was there.
class Terminal {
 public:
  Terminal() { saved_ok_ = ::tcgetattr(STDIN_FILENO, &saved_) == 0; }
  ~Terminal() { leave(); }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  bool enter() {
    if (!saved_ok_) return false;
    g_saved_termios = saved_;
    g_terminal_raw = true;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);  // ISIG stays: Ctrl-C/Z
    raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL | INLCR);
    raw.c_cc[VMIN] = 0;  // read() never blocks; poll() says when there is something
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return false;
    entered_ = true;
    return write(kEnterScreen);
  }

  void leave() {
    if (!entered_) return;
    entered_ = false;
    write(kLeaveScreen);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);  // typed-ahead keys go nowhere
    g_terminal_raw = false;
  }

  // Columns and rows; 80x24 when the terminal does not say.
  std::pair<size_t, size_t> size() const {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
      return {ws.ws_col, ws.ws_row};
    return {80, 24};
  }

  bool write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pollfd p{STDOUT_FILENO, POLLOUT, 0};
        if (::poll(&p, 1, 1000) <= 0) return false;
        continue;
      }
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  termios saved_{};
  bool saved_ok_ = false;
  bool entered_ = false;
};

// ---- actions -----------------------------------------------------------------------

// Runs one daemon command at a time on a thread of its own over a connection of its own,
// so that a restart waiting for an app to stop never freezes the screen. When it finishes,
// it writes kActionDone to the wake pipe. Methods are for the loop's thread.
class ActionRunner {
 public:
  struct Outcome {
    bool ok = false;
    std::string error;
  };

  ActionRunner(Paths paths, int wake_fd) : paths_(std::move(paths)), wake_fd_(wake_fd) {}
  ~ActionRunner() { cancel(); }
  ActionRunner(const ActionRunner&) = delete;
  ActionRunner& operator=(const ActionRunner&) = delete;

  bool busy() const { return busy_; }

  std::expected<void, std::string> start(json request) {
    if (busy_) return std::unexpected("busy");
    if (thread_.joinable()) thread_.join();
    {
      std::lock_guard lock(mutex_);
      cancelled_ = false;
      outcome_.reset();
    }
    busy_ = true;
    // The thread takes no signals: they all reach the loop's thread.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    std::string error;
    try {
      thread_ = std::thread(&ActionRunner::run, this, std::move(request));
    } catch (const std::exception& e) {
      busy_ = false;
      error = fmt::format("cannot start a thread: {}", e.what());
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (!error.empty()) return std::unexpected(error);
    return {};
  }

  std::optional<Outcome> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(outcome_, std::nullopt);
  }

  // Abandons waiting for the running request's reply and joins the thread. The request
  // itself is still sent, and the daemon carries it out: a key pressed just before quitting
  // is not lost.
  void cancel() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      if (client_) client_->interrupt();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run(json request) {
    Outcome outcome;
    try {
      Client client(paths_);
      auto sent = client.connect(/*autostart=*/false);
      if (sent) sent = client.send(request);  // even when cancelled: the user asked for it
      bool wait = false;
      {
        std::lock_guard lock(mutex_);
        if (sent && !cancelled_) {
          client_ = &client;
          wait = true;
        }
      }
      if (!sent) {
        outcome.error = sent.error();
      } else if (wait) {
        auto reply = client.reply();
        outcome.ok = reply.has_value();
        if (!reply) outcome.error = reply.error();
      }
      std::lock_guard lock(mutex_);
      client_ = nullptr;
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      client_ = nullptr;
      outcome = {false, e.what()};
    }
    {
      std::lock_guard lock(mutex_);
      outcome_ = std::move(outcome);
    }
    busy_ = false;
    char byte = kActionDone;
    (void)!::write(wake_fd_, &byte, 1);
  }

  Paths paths_;
  int wake_fd_;
  std::mutex mutex_;
  Client* client_ = nullptr;        // guarded by mutex_: the connection in use
  bool cancelled_ = false;          // guarded by mutex_
  std::optional<Outcome> outcome_;  // guarded by mutex_
  std::atomic<bool> busy_{false};
  std::thread thread_;
};

// ---- logs --------------------------------------------------------------------------

int64_t modifiedNanos(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The last `rows` lines of an instance's out and err logs together. With timestamps they
// interleave by time; without, the log written to last comes last.
std::vector<monit::LogLine> tailOfLogs(const json& files, size_t rows) {
  std::vector<monit::LogLine> out, err, all;
  std::string out_path = files.value("out", ""), err_path = files.value("err", "");
  for (auto& t : tailLinesAcrossRotation(out_path, rows)) out.push_back({std::move(t), false});
  for (auto& t : tailLinesAcrossRotation(err_path, rows)) err.push_back({std::move(t), true});
  if (files.value("timestamps", false)) {
    // By the timestamp that starts each line; lines of the same instant keep out before err.
    auto stamp = [](const monit::LogLine& l) {
      return std::string_view(l.text).substr(0, l.text.find(' '));
    };
    std::merge(
        out.begin(), out.end(), err.begin(), err.end(), std::back_inserter(all),
        [&](const monit::LogLine& a, const monit::LogLine& b) { return stamp(a) < stamp(b); });
  } else {
    bool err_last = modifiedNanos(err_path) > modifiedNanos(out_path);
    auto& first = err_last ? out : err;
    auto& second = err_last ? err : out;
    all = std::move(first);
    all.insert(all.end(), second.begin(), second.end());
  }
  if (all.size() > rows) all.erase(all.begin(), all.end() - static_cast<ptrdiff_t>(rows));
  return all;
}

std::string oneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// ---- the loop ----------------------------------------------------------------------

class Monitor {
 public:
  Monitor(Paths paths, Client client, Terminal& terminal, int wake_read, ActionRunner& actions,
          std::chrono::milliseconds refresh_every)
      : refresh_every_(refresh_every),
        paths_(std::move(paths)),
        client_(std::move(client)),
        terminal_(terminal),
        wake_read_(wake_read),
        actions_(actions),
        color_(useColor(STDOUT_FILENO)) {
    view_.home = paths_.home;
  }

  // Runs until a quit key or signal; returns the exit status.
  int run() {
    std::tie(width_, height_) = terminal_.size();
    refresh();
    auto next_refresh = std::chrono::steady_clock::now() + refresh_every_;
    while (!quit_) {
      if (!draw()) return failed("cannot write to the terminal");
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          next_refresh - std::chrono::steady_clock::now());
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_read_, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(0, wait.count())));
      if (n < 0 && errno != EINTR) return failed(fmt::format("poll: {}", std::strerror(errno)));
      if (n > 0 && (fds[1].revents & POLLIN)) onWake();
      if (quit_) break;
      if (n > 0 && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
        return failed("the terminal went away");  // before reading: a hung-up tty reads 0
      if (n > 0 && (fds[0].revents & POLLIN)) {
        char buf[256];
        ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
        if (got < 0 && errno != EINTR && errno != EAGAIN) return failed("the terminal went away");
        if (got > 0)
          for (Key k : keys_.feed({buf, static_cast<size_t>(got)})) onKey(k);
      }
      if (std::chrono::steady_clock::now() >= next_refresh) {
        refresh();
        next_refresh = std::chrono::steady_clock::now() + refresh_every_;
      }
    }
    return kExitOk;
  }

  const std::string& error() const { return error_; }

 private:
  int failed(std::string why) {
    error_ = std::move(why);
    return kExitFailed;
  }

  // One request on the loop's connection; reconnects (never starting a daemon) and tries
  // once more when the connection was lost, e.g. closed by the daemon while suspended.
  std::expected<json, std::string> request(const json& req) {
    if (connected_) {
      auto r = client_.request(req);
      if (r) return r;
    }
    client_ = Client(paths_);
    connected_ = false;
    if (auto c = client_.connect(/*autostart=*/false); !c) return std::unexpected(c.error());
    connected_ = true;
    return client_.request(req);
  }

  void refresh() {
    view_.system = monit::systemOverview(readFile("/proc/loadavg").value_or(""),
                                         readFile("/proc/meminfo").value_or(""),
                                         std::thread::hardware_concurrency());
    auto list = request({{"cmd", "list"}});
    if (!list || !list->is_array()) {
      view_.error = list ? "malformed list reply" : oneLine(list.error());
      view_.instances = json::array();
      view_.logs.clear();
      view_.log_label.clear();
      return;
    }
    view_.error.clear();
    view_.instances = std::move(*list);
    // Keep the same instance selected when rows come and go.
    size_t n = view_.instances.size();
    for (size_t k = 0; k < n; ++k)
      if (keyOf(view_.instances[k]) == selected_key_) view_.selected = k;
    if (n > 0) view_.selected = std::min(view_.selected, n - 1);
    if (n > 0) selected_key_ = keyOf(view_.instances[view_.selected]);
    refreshLogs();
  }

  void refreshLogs() {
    view_.logs.clear();
    view_.log_label.clear();
    if (!view_.error.empty() || view_.instances.empty()) return;
    const json& inst = view_.instances[view_.selected];
    view_.log_label = instanceLabel(inst);
    size_t rows = monit::logRows(view_.instances.size(), height_);
    if (rows == 0) return;
    auto files = request({{"cmd", "logs"}, {"target", inst.value("name", "")}});
    if (!files) {
      view_.logs.push_back({"cannot list the log files: " + oneLine(files.error()), true});
      return;
    }
    for (const auto& f : *files)
      if (f.value("instance", -1) == inst.value("instance", 0)) view_.logs = tailOfLogs(f, rows);
  }

  static std::pair<int64_t, int> keyOf(const json& inst) {
    return {inst.value("id", int64_t{0}), inst.value("instance", 0)};
  }

  void select(size_t index) {
    size_t n = view_.instances.size();
    if (n == 0 || !view_.error.empty()) return;
    index = std::min(index, n - 1);
    if (index == view_.selected) return;
    view_.selected = index;
    selected_key_ = keyOf(view_.instances[index]);
    refreshLogs();
  }

  void onKey(Key key) {
    size_t page = std::max<size_t>(1, height_ > 8 ? (height_ - 4) / 2 : 1);
    size_t at = view_.selected;
    switch (key) {
      case Key::Up:
        select(at > 0 ? at - 1 : 0);
        break;
      case Key::Down:
        select(at + 1);
        break;
      case Key::PageUp:
        select(at > page ? at - page : 0);
        break;
      case Key::PageDown:
        select(at + page);
        break;
      case Key::Home:
        select(0);
        break;
      case Key::End:
        select(view_.instances.empty() ? 0 : view_.instances.size() - 1);
        break;
      case Key::Restart:
        act("restart", "restarting", "restarted");
        break;
      case Key::Stop:
        act("stop", "stopping", "stopped");
        break;
      case Key::Start:
        act("start", "starting", "started");
        break;
      case Key::Quit:
        quit_ = true;
        break;
      case Key::Redraw:
        full_redraw_ = true;
        break;
    }
  }

  void act(const char* verb, const char* doing, const char* done) {
    if (!view_.error.empty() || view_.instances.empty()) {
      view_.message = {Message::Kind::Failed, "no app selected"};
      return;
    }
    if (actions_.busy()) return;  // the message already says what is under way
    std::string name = view_.instances[view_.selected].value("name", "");
    if (auto r = actions_.start({{"cmd", verb}, {"target", name}}); !r) {
      view_.message = {Message::Kind::Failed, fmt::format("{} {}: {}", verb, name, r.error())};
      return;
    }
    view_.message = {Message::Kind::Busy, fmt::format("{} {}…", doing, name)};
    pending_ = {verb, done, name};
  }

  void onWake() {
    char bytes[64];
    ssize_t n;
    while ((n = ::read(wake_read_, bytes, sizeof bytes)) > 0) {
      for (ssize_t k = 0; k < n; ++k) {
        int what = bytes[k];
        if (what == kActionDone) {
          actionDone();
        } else if (what == SIGINT || what == SIGTERM || what == SIGHUP || what == SIGQUIT) {
          quit_ = true;
        } else if (what == SIGTSTP) {
          terminal_.leave();
          SignalRouting::suspend();
          terminal_.enter();
          full_redraw_ = true;
        } else if (what == SIGCONT) {
          terminal_.enter();  // whatever the shell did to the terminal meanwhile
          full_redraw_ = true;
        } else if (what == SIGWINCH) {
          full_redraw_ = true;
        }
      }
    }
  }

  void actionDone() {
    auto outcome = actions_.take();
    if (!outcome) return;
    if (outcome->ok)
      view_.message = {Message::Kind::Done, fmt::format("{} {}", pending_.done, pending_.name)};
    else
      view_.message = {Message::Kind::Failed, fmt::format("{} {} failed: {}", pending_.verb,
                                                          pending_.name, oneLine(outcome->error))};
    refresh();
  }

  // Rewrites the rows that changed since the last frame (all of them after a resize),
  // each in place: cursor to the row, the text, clear to its end.
  bool draw() {
    auto [width, height] = terminal_.size();
    if (width != width_ || height != height_) {
      width_ = width;
      height_ = height;
      full_redraw_ = true;
      refreshLogs();  // the log pane holds a different number of lines now
    }
    auto lines = monit::renderFrame(view_, width_, height_, color_);
    std::string out;
    for (size_t row = 0; row < lines.size(); ++row) {
      if (!full_redraw_ && row < shown_.size() && shown_[row] == lines[row]) continue;
      out += fmt::format("\x1b[{};1H", row + 1);
      out += lines[row].text;
      if (lines[row].width < width_) out += "\x1b[K";
    }
    shown_ = std::move(lines);
    full_redraw_ = false;
    if (out.empty()) return true;
    // Synchronized output (ignored by terminals that do not know it): the frame at once.
    return terminal_.write("\x1b[?2026h" + out + "\x1b[?2026l");
  }

  struct Pending {
    std::string verb, done, name;
  };

  std::chrono::milliseconds refresh_every_;
  Paths paths_;
  Client client_;
  bool connected_ = true;
  Terminal& terminal_;
  int wake_read_;
  ActionRunner& actions_;
  bool color_;
  monit::KeyDecoder keys_;
  monit::MonitView view_;
  std::pair<int64_t, int> selected_key_{-1, -1};
  Pending pending_;
  std::vector<monit::ScreenLine> shown_;
  size_t width_ = 0, height_ = 0;
  bool full_redraw_ = true;
  bool quit_ = false;
  std::string error_;
};

}  // namespace

int cmdMonit(const std::string& interval) {
  auto refresh_every = monit::parseRefreshInterval(interval);
  if (!refresh_every) {
    std::fprintf(stderr, "tend: %s\n", refresh_every.error().c_str());
    return kExitUsage;
  }
  if (::isatty(STDIN_FILENO) != 1 || ::isatty(STDOUT_FILENO) != 1) {
    std::fprintf(stderr,
                 "tend: monit is a full-screen dashboard and needs a terminal on stdin and "
                 "stdout; for scripts use `tend list --json` or `tend logs`\n");
    return kExitUsage;
  }
  Paths paths = Paths::fromEnvironment();
  Client client(paths);
  if (auto r = client.connect(/*autostart=*/true); !r) {
    std::fprintf(stderr, "tend: %s\n", r.error().c_str());
    return kExitFailed;
  }
  std::string error;
  int status = kExitFailed;
  try {
    UniqueFd wake_read, wake_write;
    if (!makePipe(wake_read, wake_write)) {
      std::fprintf(stderr, "tend: pipe: %s\n", std::strerror(errno));
      return kExitFailed;
    }
    for (int fd : {wake_read.get(), wake_write.get()})
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    SignalRouting signals(wake_write.get());
    Terminal terminal;
    if (!terminal.enter()) {
      std::fprintf(stderr, "tend: cannot set up the terminal: %s\n", std::strerror(errno));
      return kExitFailed;
    }
    ActionRunner actions(paths, wake_write.get());
    Monitor monitor(paths, std::move(client), terminal, wake_read.get(), actions, *refresh_every);
    status = monitor.run();
    error = monitor.error();
  } catch (const std::exception& e) {  // the guards above have restored the terminal
    error = e.what();
    status = kExitFailed;
  }
  if (!error.empty()) std::fprintf(stderr, "tend: monit: %s\n", error.c_str());
  return status;
}

}  // namespace tend
