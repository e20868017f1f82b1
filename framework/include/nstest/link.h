// Network links inside namespaces: veth pairs, addresses, MTU, state. All through rtnetlink.
#ifndef NSTEST_LINK_H_
#define NSTEST_LINK_H_

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nstest/address.h"
#include "nstest/netns.h"

namespace nstest {

// RFC 2863 operational state, as the kernel reports it in IFLA_OPERSTATE.
enum class OperState { kUnknown, kNotPresent, kDown, kLowerLayerDown, kTesting, kDormant, kUp };
const char* OperStateName(OperState state);

struct LinkInfo {
  int index = 0;
  std::string name{};
  unsigned mtu = 0;
  bool admin_up = false;  // IFF_UP
  OperState oper_state = OperState::kUnknown;
};

struct VethOptions {
  unsigned mtu = 0;  // 0: the kernel's default (1500)
  bool up = true;    // bring both ends up
  // The interface indexes in use in each namespace, where the caller knows them (it made the
  // namespace and every link in it); else they are listed from the kernel.
  std::optional<std::set<int>> used_a{};
  std::optional<std::set<int>> used_b{};
};

// The two ends of a veth pair.
struct VethPair {
  std::string a_name{};
  int a_index = 0;
  std::string b_name{};
  int b_index = 0;
};

// Creates a veth pair with end `a_name` in `a` and end `b_name` in `b` (a and b may be the same
// namespace) in one RTM_NEWLINK request, and returns the ends' interface indexes.
// The two ends get different ifindexes: the kernel's link watcher treats a device whose ifindex
// equals its peer's as non-urgent and may delay its carrier by up to a second.
// Throws Error on a bad name, NetlinkError if the kernel refuses (e.g. a name already in use).
VethPair AddVethPair(const Netns& a, const std::string& a_name, const Netns& b,
                     const std::string& b_name, const VethOptions& options = {});

// Assigns `prefix` to interface `ifname`. IPv6 addresses skip duplicate address detection
// (IFA_F_NODAD) so they are usable at once. Throws NetlinkError.
void AddAddress(const Netns& ns, const std::string& ifname, const IpPrefix& prefix);
// The same for an interface whose index the caller knows (as AddVethPair returns it).
void AddAddress(const Netns& ns, const std::string& ifname, int ifindex, const IpPrefix& prefix);

// Waits until `prefix`, assigned to `ifname`, can be used by a peer. IPv4 addresses can at once.
// An IPv6 address needs the kernel's addrconf worker to have run for it, even with IFA_F_NODAD:
// until it joins the address's solicited-node multicast group, neighbour solicitations for it are
// dropped and a peer's first connection stalls for a 1 s retransmission. So this waits for that
// membership (/proc/thread-self/net/igmp6) and for the address to leave the tentative state.
// Throws TimeoutError saying which of the two was still missing.
void WaitAddressUsable(const Netns& ns, const std::string& ifname, const IpPrefix& prefix,
                       std::chrono::milliseconds timeout);

// Adds a route to `destination` via `gateway` (the interface is found by the kernel) in `ns`'s
// main table. Throws NetlinkError (e.g. an unreachable gateway).
void AddRoute(const Netns& ns, const IpPrefix& destination, const IpAddress& gateway);
// Adds a blackhole route to `destination` in `ns`: packets to it are discarded silently (no ICMP
// unreachable, unlike an address without any route). Throws NetlinkError.
void AddBlackholeRoute(const Netns& ns, const IpPrefix& destination);

// Sets IFF_UP on or off. Throws NetlinkError.
void SetLinkUp(const Netns& ns, const std::string& ifname, bool up);
// Sets the MTU. Throws NetlinkError (e.g. out of the device's range).
void SetLinkMtu(const Netns& ns, const std::string& ifname, unsigned mtu);
// Deletes a link (for a veth, both ends). Throws NetlinkError.
void DeleteLink(const Netns& ns, const std::string& ifname);

// Reads one link's state. Throws NetlinkError (NLE_NODEV for an unknown name).
LinkInfo GetLink(const Netns& ns, const std::string& ifname);
// Lists the namespace's links. Throws NetlinkError.
std::vector<LinkInfo> ListLinks(const Netns& ns);

// Waits until `ifname` is operationally up (IF_OPER_UP), driven by RTNLGRP_LINK notifications.
// Throws TimeoutError naming the last state seen, NetlinkError on netlink failure.
void WaitLinkOperUp(const Netns& ns, const std::string& ifname, std::chrono::milliseconds timeout);

// Checks an interface name as the kernel would (1-15 bytes, no '/', ':' or whitespace, not "."
// or ".."). Throws Error naming the problem.
void ValidateIfname(const std::string& name);

}  // namespace nstest

#endif  // NSTEST_LINK_H_
