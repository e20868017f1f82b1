#include "nstest/fd.h"

#include <sys/stat.h>
#include <unistd.h>

namespace nstest {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) {
    // close() releases the descriptor even when it reports an error (EINTR included on Linux),
    // so there is nothing to retry.
    ::close(fd_);
  }
  fd_ = fd;
}

std::string ReadTail(int fd, size_t from, size_t max) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "";
  auto size = static_cast<size_t>(st.st_size);
  return ReadRange(fd, size > from && size - from > max ? size - max : from, size);
}

std::string ReadRange(int fd, size_t from, size_t to) {
  if (to <= from) return "";
  std::string out(to - from, '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(from));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace nstest
