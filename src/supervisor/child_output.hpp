#pragma once
// What the daemon reads from its children: an instance's stdout and stderr into its log
// files (PipeReader), and what an exec check prints, kept for its failure message
// (ProbeOutput). Both live on the daemon's loop thread (only supervisor.cpp includes this:
// it brings Asio) and own themselves while a read is pending (shared_from_this), so closing
// an instance never leaves a dangling handler.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/unique_fd.hpp"
#include "logs/line_splitter.hpp"
#include "logs/log_writer.hpp"

namespace tend {

// Reads one child stream into its log file, line by line. Waits for readability and then
// reads into one buffer shared by every reader (the loop has one thread), so an idle
// instance costs no read buffer.
class PipeReader : public std::enable_shared_from_this<PipeReader> {
 public:
  PipeReader(boost::asio::io_context& io, UniqueFd fd, std::shared_ptr<LogWriter> writer,
             Clock& clock);

  void start() { doWait(); }
  // Also gets each line, after the log file did.
  void observe(std::function<void(std::string_view)> on_line) { on_line_ = std::move(on_line); }
  void close();

 private:
  static constexpr int kReadsPerWakeup = 16;  // then let other work run

  void doWait();
  void onReadable();

  boost::asio::posix::stream_descriptor stream_;
  LineSplitter splitter_;
  std::shared_ptr<LogWriter> writer_;
  Clock& clock_;
  std::function<void(std::string_view)> on_line_;
};

// What an exec check prints (stdout and stderr on one pipe), read as it comes so that the
// check never blocks on a full pipe; the last kKept bytes are kept for its failure message.
class ProbeOutput : public std::enable_shared_from_this<ProbeOutput> {
 public:
  ProbeOutput(boost::asio::io_context& io, UniqueFd fd);

  void start() { read(); }
  // Calls `done` once with what was kept, when the pipe has ended or after `grace` at the
  // most (a process the check started in another session could hold it open).
  void finish(Duration grace, std::function<void(std::string)> done);

 private:
  static constexpr size_t kKept = 4096;

  void read();
  void complete();

  boost::asio::posix::stream_descriptor stream_;
  boost::asio::steady_timer grace_;
  std::array<char, 1024> buffer_{};
  std::string kept_;
  bool ended_ = false;
  std::function<void(std::string)> done_;
};

}  // namespace tend
