// What this machine lets nstest do: privilege and kernel features, probed for real.
#ifndef NSTEST_PREFLIGHT_H_
#define NSTEST_PREFLIGHT_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nstest {

enum class Feature {
  kVeth,
  kNetem,
  kNftables,
  kNfqueue,
  kTun,
  kPacketSocket,
  kInetDiag,
  kUserNamespaces,
};
// "veth", "netem", "nftables", "nfqueue", "tun", "packet", "inet_diag", "userns".
const char* FeatureName(Feature feature);
std::optional<Feature> FeatureFromName(std::string_view name);
const std::vector<Feature>& AllFeatures();

struct FeatureProbe {
  bool available = false;
  std::string detail{};  // how it was probed, or why it is missing
};

struct Privilege {
  bool root = false;
  bool cap_net_admin = false;
  bool cap_sys_admin = false;
  bool can_create_netns = false;  // a namespace was actually created and entered
  std::string netns_detail{};     // why not, when it could not
};

struct PreflightReport {
  std::string kernel_release{};
  Privilege privilege{};
  std::map<Feature, FeatureProbe> features{};

  bool Has(Feature feature) const;
  // "" when the feature is available, else why not: "netem: the kernel has no netem qdisc ..."
  std::string MissingReason(Feature feature) const;
  // Why tests that need namespaces cannot run here, or "" when they can.
  std::string NamespaceSkipReason() const;
  // A human-readable report, one line per item, with fixes where one is known.
  std::string ToString() const;
};

// Probes privilege and every Feature. Kernel features are probed inside a throwaway network
// namespace (a veth created, a netem qdisc tried on its lo, an nftables request, an NFQUEUE bind,
// a TUN device, a packet socket, a sock_diag dump); user namespaces in a forked child as
// user nobody. Nothing on the host changes, except that the kernel may load modules on demand.
// Never throws: a failed probe is reported as unavailable with its reason.
PreflightReport RunPreflight();

// RunPreflight() once per process, thread-safe.
const PreflightReport& CachedPreflight();

// The running kernel's release (uname -r), "" if uname fails. Cheap: probes nothing.
std::string KernelRelease();
// Compares kernel versions: "6.18.44-foo" >= "5.10".
bool KernelAtLeast(const std::string& release, const std::string& minimum);

// Whether this process is root and has CAP_NET_ADMIN and CAP_SYS_ADMIN in effect now, read from
// /proc/self/status without probing anything (can_create_netns stays false).
Privilege CurrentPrivilege();

// Why user namespaces may be refused here and how to allow them ("; AppArmor restricts it
// (kernel.apparmor_restrict_unprivileged_userns=1): set it to 0 or ..."), for the errno that
// unshare(CLONE_NEWUSER) gave; empty when nothing specific is known. Starts with "; ".
std::string UserNamespaceAdvice(int err);

}  // namespace nstest

#endif  // NSTEST_PREFLIGHT_H_
