#include "nstest/preflight.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_tun.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netfilter/queue.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include "nstest/error.h"
#include "nstest/impair.h"
#include "nstest/link.h"
#include "nstest/netns.h"
#include "nstest/sockdiag.h"
#include "src/netlink_util.h"

namespace nstest {
namespace {

constexpr int kCapNetAdmin = 12;
constexpr int kCapSysAdmin = 21;

std::string ReadFirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

uint64_t EffectiveCaps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

FeatureProbe Probe(const std::function<void()>& fn, const std::string& ok_detail) {
  try {
    fn();
    return {true, ok_detail};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
}

void ProbeNetem(const Netns& ns) {
  try {
    SetNetem(ns, "lo", NetemOptions{});
  } catch (const NetlinkError& e) {
    throw Error(fmt::format("no usable netem qdisc (CONFIG_NET_SCH_NETEM): {}", e.what()));
  }
}

void ProbeNftables(const Netns& ns) {
  NlSockPtr sock = RunInNetns(ns, [] { return ConnectNetlink(NETLINK_NETFILTER, "nftables"); });
  int err =
      nfnl_send_simple(sock.get(), NFNL_SUBSYS_NFTABLES, NFT_MSG_GETGEN, NLM_F_ACK, AF_UNSPEC, 0);
  if (err >= 0) err = nl_wait_for_ack(sock.get());
  if (err < 0) throw NetlinkError("query the nftables generation (no nf_tables)", err);
}

void ProbeNfqueue(const Netns& ns) {
  NlSockPtr sock = RunInNetns(ns, [] { return ConnectNetlink(NETLINK_NETFILTER, "nfqueue"); });
  using QueuePtr = std::unique_ptr<nfnl_queue, NlDeleter<nfnl_queue, nfnl_queue_put>>;
  QueuePtr q(nfnl_queue_alloc());
  if (!q) throw Error("allocate queue: out of memory");
  nfnl_queue_set_group(q.get(), 4711);
  int err = nfnl_queue_create(sock.get(), q.get());
  if (err < 0) throw NetlinkError("bind NFQUEUE 4711 (no nfnetlink_queue)", err);
  nfnl_queue_delete(sock.get(), q.get());
}

void ProbeTun(const Netns& ns) {
  NetnsGuard guard(ns);
  Fd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) ThrowErrno("open '/dev/net/tun'");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "nstprobe0", IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) ThrowErrno("create a TUN device (TUNSETIFF)");
}

// Tries user+net namespaces as user nobody in a forked child; returns 0 or the errno.
int TryUnprivilegedUserns() {
  pid_t pid = ::fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    if (::geteuid() == 0) {
      // Raw syscalls: in the child of a threaded parent, avoid glibc's multi-thread setxid path.
      // Where root may not switch (no CAP_SETUID, or nobody unmapped in a user namespace), it
      // has no capabilities to lose: unshare as it is, so that its errno is the one reported.
      if (::syscall(SYS_setgroups, 0, nullptr) == 0 &&
          ::syscall(SYS_setresgid, 65534, 65534, 65534) == 0 &&
          ::syscall(SYS_setresuid, 65534, 65534, 65534) != 0) {
        ::_exit(errno);
      }
    }
    ::_exit(::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : errno);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

FeatureProbe ProbeUserns() {
  int err = TryUnprivilegedUserns();
  if (err == 0) return {true, "an unprivileged user can create user and network namespaces"};
  return {false, fmt::format("an unprivileged user cannot create a user namespace ({}){}",
                             std::strerror(err), UserNamespaceAdvice(err))};
}

}  // namespace

std::string UserNamespaceAdvice(int err) {
  std::string apparmor = ReadFirstLine("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  std::string clone = ReadFirstLine("/proc/sys/kernel/unprivileged_userns_clone");
  std::string max = ReadFirstLine("/proc/sys/user/max_user_namespaces");
  if (apparmor == "1") {
    return "; AppArmor restricts it (kernel.apparmor_restrict_unprivileged_userns=1): set it to 0 "
           "or give nstest an AppArmor profile with 'userns,'";
  }
  if (clone == "0") return "; kernel.unprivileged_userns_clone=0: set it to 1";
  if (max == "0") return "; user.max_user_namespaces=0: raise it";
  if (err == EINVAL) {
    return "; the process already runs threads: enter the user namespace before any starts "
           "(nstest::EnterOwnUserNamespace() first in main())";
  }
  if (err == EPERM) {
    return "; a seccomp filter (e.g. a container runtime's default profile) may forbid unshare: "
           "run the container with --security-opt seccomp=unconfined, or give it CAP_SYS_ADMIN";
  }
  return "";
}

const std::vector<Feature>& AllFeatures() {
  static const std::vector<Feature> all = {
      Feature::kVeth, Feature::kNetem,        Feature::kNftables, Feature::kNfqueue,
      Feature::kTun,  Feature::kPacketSocket, Feature::kInetDiag, Feature::kUserNamespaces};
  return all;
}

const char* FeatureName(Feature feature) {
  switch (feature) {
    case Feature::kVeth:
      return "veth";
    case Feature::kNetem:
      return "netem";
    case Feature::kNftables:
      return "nftables";
    case Feature::kNfqueue:
      return "nfqueue";
    case Feature::kTun:
      return "tun";
    case Feature::kPacketSocket:
      return "packet";
    case Feature::kInetDiag:
      return "inet_diag";
    case Feature::kUserNamespaces:
      return "userns";
  }
  return "?";
}

std::optional<Feature> FeatureFromName(std::string_view name) {
  for (Feature f : AllFeatures()) {
    if (name == FeatureName(f)) return f;
  }
  return std::nullopt;
}

bool PreflightReport::Has(Feature feature) const {
  auto it = features.find(feature);
  return it != features.end() && it->second.available;
}

std::string PreflightReport::MissingReason(Feature feature) const {
  if (Has(feature)) return "";
  auto it = features.find(feature);
  return fmt::format("{}: {}", FeatureName(feature),
                     it == features.end() ? "not probed" : it->second.detail);
}

std::string PreflightReport::NamespaceSkipReason() const {
  if (privilege.can_create_netns) return "";
  std::string why = "cannot create network namespaces here (" + privilege.netns_detail +
                    "); run as root, with CAP_SYS_ADMIN and CAP_NET_ADMIN, or in a user namespace";
  // Without privilege, nstest makes a user namespace of its own: say why that was refused too.
  auto userns = features.find(Feature::kUserNamespaces);
  if ((!privilege.cap_sys_admin || !privilege.cap_net_admin) && userns != features.end() &&
      !userns->second.available) {
    why += "; but " + userns->second.detail;
  }
  return why;
}

std::string PreflightReport::ToString() const {
  std::string out = fmt::format("kernel      {}\n", kernel_release);
  out += fmt::format("user        {}, CAP_NET_ADMIN {}, CAP_SYS_ADMIN {}\n",
                     privilege.root ? "root" : "not root", privilege.cap_net_admin ? "yes" : "no",
                     privilege.cap_sys_admin ? "yes" : "no");
  out += fmt::format("netns       {}\n", privilege.can_create_netns
                                             ? std::string("can create network namespaces")
                                             : "NO: " + privilege.netns_detail);
  for (Feature f : AllFeatures()) {
    auto it = features.find(f);
    if (it == features.end()) continue;
    out += fmt::format("{:<11} {} ({})\n", FeatureName(f), it->second.available ? "yes" : "NO",
                       it->second.detail);
  }
  return out;
}

Privilege CurrentPrivilege() {
  Privilege p;
  uint64_t caps = EffectiveCaps();
  p.root = ::geteuid() == 0;
  p.cap_net_admin = (caps >> kCapNetAdmin) & 1;
  p.cap_sys_admin = (caps >> kCapSysAdmin) & 1;
  return p;
}

std::string KernelRelease() {
  utsname u{};
  return ::uname(&u) == 0 ? u.release : "";
}

PreflightReport RunPreflight() {
  PreflightReport r;
  r.kernel_release = KernelRelease();
  r.privilege = CurrentPrivilege();
  r.features[Feature::kUserNamespaces] = ProbeUserns();

  std::optional<Netns> ns;
  try {
    ns.emplace(Netns::Create("preflight"));
    r.privilege.can_create_netns = true;
  } catch (const std::exception& e) {
    r.privilege.netns_detail = e.what();
    for (Feature f : AllFeatures()) {
      if (f == Feature::kUserNamespaces) continue;
      r.features[f] = {false, "not probed: " + r.privilege.netns_detail};
    }
    return r;
  }
  r.features[Feature::kVeth] = Probe([&] { AddVethPair(*ns, "nstp0", *ns, "nstp1"); },
                                     "created a veth pair in a probe namespace");
  r.features[Feature::kNetem] =
      Probe([&] { ProbeNetem(*ns); }, "added a netem qdisc in a probe namespace");
  r.features[Feature::kNftables] =
      Probe([&] { ProbeNftables(*ns); }, "nf_tables answered in a probe namespace");
  r.features[Feature::kNfqueue] =
      Probe([&] { ProbeNfqueue(*ns); }, "bound an NFQUEUE in a probe namespace");
  r.features[Feature::kTun] = Probe([&] { ProbeTun(*ns); }, "created a TUN device");
  r.features[Feature::kPacketSocket] =
      Probe([&] { ns->Socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)); }, "opened a packet socket");
  // Listeners only: a dump of the other states walks the kernel's whole table of established
  // sockets, every namespace's (milliseconds on a busy host), and proves nothing more.
  r.features[Feature::kInetDiag] =
      Probe([&] { SockDiag(*ns).Dump(1u << static_cast<int>(TcpState::kListen)); },
            "dumped TCP sockets through sock_diag");
  return r;
}

const PreflightReport& CachedPreflight() {
  static const PreflightReport report = RunPreflight();
  return report;
}

bool KernelAtLeast(const std::string& release, const std::string& minimum) {
  auto parts = [](const std::string& s) {
    std::vector<long> v;
    size_t i = 0;
    while (i < s.size() && v.size() < 3 && std::isdigit(static_cast<unsigned char>(s[i]))) {
      v.push_back(std::strtol(s.c_str() + i, nullptr, 10));
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      if (i < s.size() && s[i] == '.') ++i;
    }
    v.resize(3, 0);
    return v;
  };
  return parts(release) >= parts(minimum);
}

}  // namespace nstest
