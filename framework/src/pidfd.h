// pidfd system calls. glibc 2.36 (Debian 12) declares them in <sys/pidfd.h> without extern "C",
// so C++ cannot link against those declarations; these wrappers call the kernel directly.
#ifndef NSTEST_SRC_PIDFD_H_
#define NSTEST_SRC_PIDFD_H_

#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace nstest {

inline int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

inline int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

}  // namespace nstest

#endif  // NSTEST_SRC_PIDFD_H_
