// Anonymous network namespaces held by file descriptors, and a guard to enter one.
#ifndef NSTEST_NETNS_H_
#define NSTEST_NETNS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nstest/fd.h"

struct nl_sock;

namespace nstest {

// Deletes a libnl socket; lets this header name the socket type without including libnl.
struct NlSockDeleter {
  void operator()(nl_sock* sock) const noexcept;
};
using NlSockPtr = std::unique_ptr<nl_sock, NlSockDeleter>;

// An anonymous network namespace, owned through a file descriptor.
//
// The namespace lives as long as this object (and anything inside it that pins it, such as a
// process started there). Nothing is mounted under /run/netns unless BindMount() is called, so a
// killed test process leaks nothing: the kernel destroys the namespace when the last descriptor
// closes. Move-only.
//
// Thread safety: const members may be called from several threads at once; the others need the
// caller to serialize them.
// The namespace's own /proc/net files that nstest reads (counters, and whether any TCP segment
// arrived yet).
enum class ProcNetFile { kNetstat, kSnmp, kSnmp6 };

class Netns {
 public:
  // Creates a namespace named `name` (used in messages only) and brings its `lo` up.
  // Only the calling thread's namespace changes, and only for the duration of the call.
  // Throws SystemError (e.g. EPERM without CAP_SYS_ADMIN) or NetlinkError.
  static Netns Create(std::string name);

  // Wraps the calling thread's current namespace, e.g. to read the host's values. Such an object
  // never owns a bind mount and is not meant to be changed.
  static Netns Current(std::string name);

  Netns(Netns&&) noexcept;
  Netns& operator=(Netns&&) noexcept;
  ~Netns();

  const std::string& name() const noexcept { return name_; }
  // The namespace file descriptor (for setns(), IFLA_NET_NS_FD, ...).
  int fd() const noexcept { return fd_.get(); }
  // The nsfs inode number: what `ls -l /proc/PID/ns/net` and `lsns` show.
  ino_t inode() const noexcept { return inode_; }

  // A route netlink socket bound to this namespace (created inside it).
  nl_sock* route_socket() const noexcept { return route_.get(); }

  // The file opened inside this namespace when it was made, so that reading it (pread from 0)
  // needs no setns; -1 where the kernel has none (snmp6 without IPv6).
  int proc_net_fd(ProcNetFile file) const noexcept {
    return proc_net_[static_cast<int>(file)].get();
  }

  // Creates socket(domain, type | SOCK_CLOEXEC, protocol) inside this namespace.
  // Throws SystemError.
  Fd Socket(int domain, int type, int protocol) const;

  // Bind-mounts the namespace as /run/netns/nstest-<run_tag>-<name> so `ip netns exec` can enter
  // it, e.g. to debug a failed test. The mount is removed on destruction unless KeepBindMount()
  // was called. Returns the path. Throws Error if the name is unusable, SystemError on mount
  // failure.
  std::string BindMount(const std::string& run_tag);
  // Leaves the bind mount (if any) in place on destruction; `nstest clean` removes it later.
  void KeepBindMount() noexcept { keep_mount_ = true; }
  const std::string& bind_mount_path() const noexcept { return mount_path_; }

  // The sysctls written through SetSysctl(), key -> value read back after the write.
  const std::map<std::string, std::string>& effective_sysctls() const noexcept { return sysctls_; }
  // Records a written value; used by SetSysctl().
  void RecordSysctl(std::string key, std::string value) {
    sysctls_[std::move(key)] = std::move(value);
  }

 private:
  Netns(std::string name, Fd fd, NlSockPtr route);

  std::string name_;
  Fd fd_;
  ino_t inode_ = 0;
  NlSockPtr route_;
  Fd proc_net_[3];  // by ProcNetFile
  std::string mount_path_;
  bool keep_mount_ = false;
  std::map<std::string, std::string> sysctls_;
};

// Moves the calling thread into a namespace for the guard's lifetime, then back.
//
// setns() changes only the calling thread, so other threads are unaffected; files opened through
// /proc/thread-self/net while the guard lives refer to the entered namespace.
// Throws SystemError when the namespace cannot be entered. If returning to the previous namespace
// fails (which needs the kernel to refuse a namespace we already were in), the process is
// terminated: continuing in the wrong namespace would silently corrupt every later operation.
class NetnsGuard {
 public:
  explicit NetnsGuard(const Netns& ns);
  explicit NetnsGuard(int netns_fd, const std::string& name);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  Fd previous_;
};

// Runs `fn` inside `ns` on the calling thread and returns its result.
template <typename Fn>
decltype(auto) RunInNetns(const Netns& ns, Fn&& fn) {
  NetnsGuard guard(ns);
  return std::forward<Fn>(fn)();
}

// Returns the inode of the calling thread's current network namespace. Throws SystemError.
ino_t CurrentNetnsInode();

// Removes nstest's debug bind mounts (/run/netns/nstest-*) whose run is over: the owning process
// named in the run tag is gone. With `all`, removes every nstest mount. Returns the removed paths.
// Never touches a mount that is not nstest's. Throws SystemError if /run/netns cannot be read.
std::vector<std::string> CleanBindMounts(bool all);

// A run tag for BindMount(): "<pid>x<random hex>", so CleanBindMounts() can tell whether the run
// that made a mount is still alive. The PID is the one /proc shows, not the one inside a PID
// namespace of ours.
std::string MakeRunTag();

}  // namespace nstest

#endif  // NSTEST_NETNS_H_
