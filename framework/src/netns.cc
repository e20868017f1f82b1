#include "nstest/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <exception>

#include "nstest/error.h"
#include "src/netlink_util.h"
#include "src/proc_net.h"

namespace nstest {
namespace {

constexpr char kRunDir[] = "/run/netns";
constexpr char kMountPrefix[] = "nstest-";

Fd OpenCurrentNetns() {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("open '/proc/thread-self/ns/net'");
  return Fd(fd);
}

ino_t InodeOf(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) ThrowErrno("stat network namespace descriptor");
  return st.st_ino;
}

// Returns the calling thread to `previous`; see NetnsGuard for why failure terminates.
void RestoreNetns(int previous) noexcept {
  if (::setns(previous, CLONE_NEWNET) != 0) std::terminate();
}

void BringLoopbackUp(nl_sock* sock, const std::string& ns_name) {
  ifinfomsg header{};
  // The loopback device is always ifindex 1 in a new namespace (net/core/dev.c assigns it first).
  header.ifi_index = 1;
  header.ifi_flags = header.ifi_change = IFF_UP;
  RtnlRequest up(RTM_NEWLINK, 0, header);
  if (int err = up.Execute(sock); err < 0) {
    throw NetlinkError(fmt::format("bring link 'lo' up in netns '{}'", ns_name), err);
  }
}

bool ValidMountName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return s != "." && s != "..";
}

// Makes /run/netns a shared mount point, as `ip netns add` does, so that mounts made below it
// propagate to mount namespaces created later (and `ip netns exec` finds them).
void PrepareRunDir() {
  if (::mkdir(kRunDir, 0755) != 0 && errno != EEXIST) ThrowErrno("create directory '/run/netns'");
  if (::mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return;
  if (errno != EINVAL) ThrowErrno("make '/run/netns' a shared mount");
  if (::mount(kRunDir, kRunDir, "none", MS_BIND | MS_REC, nullptr) != 0)
    ThrowErrno("bind-mount '/run/netns' onto itself");
  if (::mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0)
    ThrowErrno("make '/run/netns' a shared mount");
}

void RemoveMount(const std::string& path) noexcept {
  // EINVAL: not a mount point (a leftover file); the unlink below still removes it.
  ::umount2(path.c_str(), MNT_DETACH);
  ::unlink(path.c_str());
}

// Parses the pid out of a mount name "nstest-<pid>x<hex>-<name>"; 0 if it has none.
pid_t RunOwner(const std::string& entry) {
  std::string rest = entry.substr(sizeof(kMountPrefix) - 1);
  size_t x = rest.find('x');
  if (x == 0 || x == std::string::npos) return 0;
  pid_t pid = 0;
  for (size_t i = 0; i < x; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return 0;
    pid = pid * 10 + (rest[i] - '0');
    if (pid > 1 << 22) return 0;
  }
  return pid;
}

bool ProcessAlive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

void NlSockDeleter::operator()(nl_sock* sock) const noexcept { nl_socket_free(sock); }

Netns::Netns(std::string name, Fd fd, NlSockPtr route)
    : name_(std::move(name)), fd_(std::move(fd)), route_(std::move(route)) {
  inode_ = InodeOf(fd_.get());
  // Called inside the namespace: /proc/thread-self/net is its own, and an open file stays bound
  // to the namespace it was opened in.
  for (ProcNetFile f : {ProcNetFile::kNetstat, ProcNetFile::kSnmp, ProcNetFile::kSnmp6}) {
    proc_net_[static_cast<int>(f)] = Fd(::open(ProcNetThreadPath(f), O_RDONLY | O_CLOEXEC));
  }
}

Netns::Netns(Netns&&) noexcept = default;

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (!mount_path_.empty() && !keep_mount_) RemoveMount(mount_path_);
    name_ = std::move(other.name_);
    fd_ = std::move(other.fd_);
    inode_ = other.inode_;
    route_ = std::move(other.route_);
    for (int i = 0; i < 3; ++i) proc_net_[i] = std::move(other.proc_net_[i]);
    mount_path_ = std::move(other.mount_path_);
    keep_mount_ = other.keep_mount_;
    sysctls_ = std::move(other.sysctls_);
    other.mount_path_.clear();
  }
  return *this;
}

Netns::~Netns() {
  if (!mount_path_.empty() && !keep_mount_) RemoveMount(mount_path_);
}

Netns Netns::Create(std::string name) {
  Fd previous = OpenCurrentNetns();
  if (::unshare(CLONE_NEWNET) != 0) {
    ThrowErrno(fmt::format("create netns '{}'", name));
  }
  struct Restore {
    int fd;
    ~Restore() { RestoreNetns(fd); }
  } restore{previous.get()};

  Fd fd = OpenCurrentNetns();
  // A netlink socket belongs to the namespace it was created in, so this one keeps working on
  // the new namespace from any thread after we return.
  NlSockPtr route = ConnectNetlink(NETLINK_ROUTE, fmt::format("netns '{}'", name));
  BringLoopbackUp(route.get(), name);
  return Netns(std::move(name), std::move(fd), std::move(route));
}

Netns Netns::Current(std::string name) {
  Fd fd = OpenCurrentNetns();
  NlSockPtr route = ConnectNetlink(NETLINK_ROUTE, fmt::format("netns '{}'", name));
  return Netns(std::move(name), std::move(fd), std::move(route));
}

Fd Netns::Socket(int domain, int type, int protocol) const {
  NetnsGuard guard(*this);
  int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) ThrowErrno(fmt::format("create socket in netns '{}'", name_));
  return Fd(fd);
}

std::string Netns::BindMount(const std::string& run_tag) {
  if (!mount_path_.empty()) return mount_path_;
  std::string entry = fmt::format("{}{}-{}", kMountPrefix, run_tag, name_);
  if (!ValidMountName(run_tag) || !ValidMountName(name_) || entry.size() > NAME_MAX) {
    throw Error(fmt::format(
        "bind-mount netns '{}': run tag and name must be 1-64 of [A-Za-z0-9._-]", name_));
  }
  PrepareRunDir();
  std::string path = fmt::format("{}/{}", kRunDir, entry);
  int f = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (f < 0) ThrowErrno(fmt::format("bind-mount netns '{}' at '{}'", name_, path));
  ::close(f);
  std::string source = fmt::format("/proc/thread-self/fd/{}", fd_.get());
  if (::mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    ThrowSystemError(fmt::format("bind-mount netns '{}' at '{}'", name_, path), err);
  }
  mount_path_ = path;
  return path;
}

NetnsGuard::NetnsGuard(const Netns& ns) : NetnsGuard(ns.fd(), ns.name()) {}

NetnsGuard::NetnsGuard(int netns_fd, const std::string& name) : previous_(OpenCurrentNetns()) {
  if (::setns(netns_fd, CLONE_NEWNET) != 0) ThrowErrno(fmt::format("enter netns '{}'", name));
}

NetnsGuard::~NetnsGuard() { RestoreNetns(previous_.get()); }

ino_t CurrentNetnsInode() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) ThrowErrno("stat '/proc/thread-self/ns/net'");
  return st.st_ino;
}

std::vector<std::string> CleanBindMounts(bool all) {
  std::vector<std::string> removed;
  DIR* dir = ::opendir(kRunDir);
  if (dir == nullptr) {
    if (errno == ENOENT) return removed;
    ThrowErrno("read directory '/run/netns'");
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    std::string entry = e->d_name;
    if (entry.rfind(kMountPrefix, 0) == 0) names.push_back(entry);
  }
  ::closedir(dir);
  for (const std::string& entry : names) {
    pid_t owner = RunOwner(entry);
    if (!all && owner > 0 && ProcessAlive(owner)) continue;
    std::string path = fmt::format("{}/{}", kRunDir, entry);
    RemoveMount(path);
    removed.push_back(path);
  }
  return removed;
}

std::string MakeRunTag() {
  // Our PID as /proc shows it, which is how `nstest clean` sees us: a case runs as PID 1 of its
  // own PID namespace, and getpid() would say 1.
  pid_t pid = ::getpid();
  char self[32] = {};
  if (::readlink("/proc/self", self, sizeof self - 1) > 0)
    pid = static_cast<pid_t>(std::atoi(self));
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(pid) * 2654435761u;
  return fmt::format("{}x{:08x}", pid, r);
}

}  // namespace nstest
