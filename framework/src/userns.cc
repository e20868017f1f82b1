#include "nstest/userns.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nstest/error.h"
#include "nstest/preflight.h"

namespace nstest {
namespace {

bool HasEffective(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

void WriteProcFile(const std::string& path, const std::string& text, const std::string& what) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(fmt::format("{}: open {}", what, path));
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ThrowSystemError(fmt::format("{}: write '{}' to {}", what, text, path), err);
  }
}

}  // namespace

bool NeedsOwnUserNamespace() {
  return !HasEffective(CAP_SYS_ADMIN) || !HasEffective(CAP_NET_ADMIN);
}

void EnterOwnUserNamespace() {
  const std::string what = "enter a user namespace";
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  // A home network namespace too: a thread that enters a test namespace must be able to return,
  // and it could not return to the host's, which our user namespace does not own.
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    int err = errno;
    throw SystemError(fmt::format("{}: unshare(CLONE_NEWUSER | CLONE_NEWNET): {}{}", what,
                                  std::strerror(err), UserNamespaceAdvice(err)),
                      err);
  }
  WriteProcFile("/proc/self/setgroups", "deny", what);
  WriteProcFile("/proc/self/uid_map", fmt::format("0 {} 1", uid), what);
  WriteProcFile("/proc/self/gid_map", fmt::format("0 {} 1", gid), what);
}

}  // namespace nstest
