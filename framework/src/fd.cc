#include "nstest/fd.h"

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

}  // namespace nstest
