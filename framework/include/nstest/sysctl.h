// Per-namespace sysctls (net.*): validated, written inside the namespace, read back.
#ifndef NSTEST_SYSCTL_H_
#define NSTEST_SYSCTL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nstest/netns.h"

namespace nstest {

// Checks a sysctl key and returns its path below /proc/sys ("net/core/somaxconn").
// Accepts the dotted form (net.core.somaxconn) and the slash form (net/ipv4/conf/eth0.1/rp_filter,
// for components that contain dots). Only keys below "net" are accepted; empty components, "." and
// "..", and characters other than [A-Za-z0-9_.:@-] are refused. Throws Error:
//   "check sysctl key 'kernel.panic': only net.* keys can be set per namespace"
std::string SysctlPath(std::string_view key);

// The dotted spelling of a key, as reports show it ("net.core.somaxconn").
std::string SysctlDisplayKey(std::string_view key);

// One assignment of a sysctl.d file ("key = value"), where it stands, or what is wrong with it.
struct SysctlDLine {
  std::string key{};  // as written, spaces trimmed; not checked
  std::string value{};
  uint32_t line = 0;      // 1-based
  uint32_t column = 0;    // of the key, after a '-' prefix
  std::string problem{};  // "'text': expected KEY=VALUE", else ""
};

// Splits text in sysctl.d syntax into its assignments: blank lines and '#' and ';' comments are
// skipped, the '-' prefix ("ignore errors") is dropped, spaces around key and value go.
std::vector<SysctlDLine> SplitSysctlD(std::string_view text);

// Writes `value` to `key` inside `ns`, reads it back and records it in ns.effective_sysctls().
// Refuses, with Error, keys that are absent inside the namespace (they are global: writing them
// would change the host; e.g. net.core.netdev_max_backlog), keys that are read-only there, and
// values the kernel did not take as written.
//   "set sysctl 'net.core.netdev_max_backlog' in netns 'server': not a per-namespace key
//    (absent inside the namespace, present on the host); refusing to change the host"
// Returns the value read back (whitespace normalised to single spaces).
std::string SetSysctl(Netns& ns, std::string_view key, std::string_view value);

// Reads `key` inside `ns`. Throws Error (with a suggestion for a near name) if it does not exist.
std::string GetSysctl(const Netns& ns, std::string_view key);

// Reads `key` inside `ns`, or nullopt where this kernel has no such key there (keys come and go
// between kernels: tcp_syn_linear_timeouts is new in 6.5). Throws Error for other failures.
std::optional<std::string> FindSysctl(const Netns& ns, std::string_view key);

// Reads `key` in the calling thread's current namespace (normally the host's), without writing.
std::string GetCurrentSysctl(std::string_view key);

// One key's value in a namespace beside the host's, to make visible that a new namespace does not
// start from the host's values (somaxconn starts at the kernel default; some IPv4 settings such as
// ip_forward are copied from the host).
struct SysctlComparison {
  std::string key{};
  std::string netns_value{};
  std::string host_value{};  // empty if unreadable
};
// Compares `keys` between `ns` and the calling thread's namespace. Throws Error for a bad key.
std::vector<SysctlComparison> CompareWithHost(const Netns& ns,
                                              const std::vector<std::string>& keys);

// The keys the listen-path suites care about; CompareWithHost() on them is what `nstest doctor`
// shows.
const std::vector<std::string>& ListenPathSysctls();

}  // namespace nstest

#endif  // NSTEST_SYSCTL_H_
