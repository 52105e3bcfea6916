#include "supervisor/child_output.hpp"

#include <unistd.h>

#include <cerrno>

namespace tend {

namespace asio = boost::asio;

PipeReader::PipeReader(asio::io_context& io, UniqueFd fd, std::shared_ptr<LogWriter> writer,
                       Clock& clock)
    : stream_(io, fd.release()), writer_(std::move(writer)), clock_(clock) {
  boost::system::error_code ignored;
  stream_.non_blocking(true, ignored);
}

void PipeReader::close() {
  boost::system::error_code ignored;
  stream_.close(ignored);
}

void PipeReader::doWait() {
  stream_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       if (ec) return;
                       self->onReadable();
                     });
}

void PipeReader::onReadable() {
  static std::array<char, 64 * 1024> buffer;
  const int64_t now = clock_.wallMillis();  // one stamp per read: a read takes microseconds
  auto sink = [this, now](std::string_view line) {
    writer_->append(line, now);
    if (on_line_) on_line_(line);
  };
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (!stream_.is_open()) return;
    ssize_t n = ::read(stream_.native_handle(), buffer.data(), buffer.size());
    if (n > 0) {
      splitter_.feed(std::string_view(buffer.data(), static_cast<size_t>(n)), sink);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    splitter_.finish(sink);  // end of stream (or an error): nothing more will come
    writer_->flush(now);
    close();
    return;
  }
  writer_->flush(now);
  doWait();
}

ProbeOutput::ProbeOutput(asio::io_context& io, UniqueFd fd)
    : stream_(io, fd.release()), grace_(io) {}

void ProbeOutput::finish(Duration grace, std::function<void(std::string)> done) {
  done_ = std::move(done);
  if (ended_) return complete();
  grace_.expires_after(grace);
  grace_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->complete();
  });
}

void ProbeOutput::read() {
  stream_.async_read_some(asio::buffer(buffer_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            self->kept_.append(self->buffer_.data(), n);
                            if (self->kept_.size() > kKept)
                              self->kept_.erase(0, self->kept_.size() - kKept);
                            if (ec) {
                              self->ended_ = true;
                              if (ec != asio::error::operation_aborted) self->complete();
                              return;
                            }
                            self->read();
                          });
}

void ProbeOutput::complete() {
  if (!done_) return;  // not finished yet, or already reported
  auto done = std::move(done_);
  done_ = nullptr;
  grace_.cancel();
  boost::system::error_code ignored;
  stream_.close(ignored);
  done(std::move(kept_));
}

}  // namespace tend
