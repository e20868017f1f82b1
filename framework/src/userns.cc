#include "nstest/userns.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nstest/error.h"
#include "nstest/fd.h"
#include "nstest/preflight.h"

namespace nstest {
namespace {

void WriteProcFile(const std::string& path, const std::string& text, const std::string& what) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) ThrowErrno(fmt::format("{}: open {}", what, path));
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ThrowErrno(fmt::format("{}: write '{}' to {}", what, text, path));
  }
}

}  // namespace

bool NeedsOwnUserNamespace() {
  Privilege p = CurrentPrivilege();
  return !p.cap_sys_admin || !p.cap_net_admin;
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
