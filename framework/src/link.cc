#include "nstest/link.h"

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netlink/cache.h>
#include <netlink/socket.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "nstest/error.h"
#include "nstest/wait.h"
#include "src/netlink_util.h"
#include "src/wait_util.h"

namespace nstest {
namespace {

OperState FromKernel(uint8_t state) {
  switch (state) {
    case IF_OPER_NOTPRESENT:
      return OperState::kNotPresent;
    case IF_OPER_DOWN:
      return OperState::kDown;
    case IF_OPER_LOWERLAYERDOWN:
      return OperState::kLowerLayerDown;
    case IF_OPER_TESTING:
      return OperState::kTesting;
    case IF_OPER_DORMANT:
      return OperState::kDormant;
    case IF_OPER_UP:
      return OperState::kUp;
    default:
      return OperState::kUnknown;
  }
}

LinkInfo ToInfo(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  const char* name = rtnl_link_get_name(link);
  info.name = name != nullptr ? name : "";
  info.mtu = rtnl_link_get_mtu(link);
  info.admin_up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  info.oper_state = FromKernel(rtnl_link_get_operstate(link));
  return info;
}

LinkPtr AllocLink() {
  LinkPtr link(rtnl_link_alloc());
  if (!link) throw Error("allocate link: out of memory");
  return link;
}

LinkPtr FetchLink(const Netns& ns, const std::string& ifname, const char* verb) {
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(ns.route_socket(), 0, ifname.c_str(), &link);
  if (err < 0) {
    throw NetlinkError(fmt::format("{} link '{}' in netns '{}'", verb, ifname, ns.name()), err);
  }
  return LinkPtr(link);
}

void ChangeLink(const Netns& ns, const std::string& ifname, rtnl_link* change, const char* verb) {
  LinkPtr orig = FetchLink(ns, ifname, verb);
  int err = rtnl_link_change(ns.route_socket(), orig.get(), change, 0);
  if (err < 0) {
    throw NetlinkError(fmt::format("{} link '{}' in netns '{}'", verb, ifname, ns.name()), err);
  }
}

std::set<int> UsedIndexes(const Netns& ns) {
  std::set<int> used;
  for (const LinkInfo& l : ListLinks(ns)) used.insert(l.index);
  return used;
}

// Notifications only wake the waiter; the state is read afresh with a request.
int IgnoreMessage(nl_msg*, void*) { return NL_OK; }

int LowestFree(const std::set<int>& used, int avoid) {
  for (int i = 2;; ++i) {
    if (i != avoid && used.count(i) == 0) return i;
  }
}

// The solicited-node multicast group of an IPv6 address (RFC 4291 2.7.1), as igmp6 prints it.
std::string SolicitedNodeGroupHex(const IpAddress& address) {
  const uint8_t* b = address.bytes();
  return fmt::format("ff0200000000000000000001ff{:02x}{:02x}{:02x}", b[13], b[14], b[15]);
}

bool JoinedGroup(const Netns& ns, const std::string& ifname, const std::string& group_hex) {
  NetnsGuard guard(ns);
  std::ifstream in("/proc/thread-self/net/igmp6");
  std::string index, dev, group, rest;
  while (in >> index >> dev >> group && std::getline(in, rest)) {
    if (dev == ifname && group == group_hex) return true;
  }
  return false;
}

// Whether the kernel still lists `address` on `ifindex` as tentative (or does not list it yet).
bool Tentative(const Netns& ns, int ifindex, const IpAddress& address) {
  nl_cache* cache = nullptr;
  int err = rtnl_addr_alloc_cache(ns.route_socket(), &cache);
  if (err < 0) throw NetlinkError(fmt::format("list addresses in netns '{}'", ns.name()), err);
  bool tentative = true;
  for (nl_object* o = nl_cache_get_first(cache); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    nl_addr* local = rtnl_addr_get_local(a);
    if (rtnl_addr_get_ifindex(a) != ifindex || local == nullptr ||
        nl_addr_get_len(local) != address.size() ||
        std::memcmp(nl_addr_get_binary_addr(local), address.bytes(), address.size()) != 0) {
      continue;
    }
    tentative = (rtnl_addr_get_flags(a) & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) != 0;
  }
  nl_cache_free(cache);
  return tentative;
}

// A route to `destination` in the main table: via `gateway`, or a blackhole without one.
void AddStaticRoute(const Netns& ns, const IpPrefix& destination, const IpAddress* gateway,
                    const std::string& what) {
  rtmsg header{};
  header.rtm_family = static_cast<uint8_t>(destination.address.family());
  header.rtm_dst_len = static_cast<uint8_t>(destination.prefix_len);
  header.rtm_table = RT_TABLE_MAIN;
  header.rtm_protocol = RTPROT_STATIC;
  header.rtm_scope = RT_SCOPE_UNIVERSE;
  header.rtm_type = gateway != nullptr ? RTN_UNICAST : RTN_BLACKHOLE;
  RtnlRequest add(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, header);
  add.Put(RTA_DST, destination.address.bytes(), destination.address.size());
  if (gateway != nullptr) add.Put(RTA_GATEWAY, gateway->bytes(), gateway->size());
  if (int err = add.Execute(ns.route_socket()); err < 0) throw NetlinkError(what, err);
}

}  // namespace

const char* OperStateName(OperState state) {
  switch (state) {
    case OperState::kNotPresent:
      return "NOTPRESENT";
    case OperState::kDown:
      return "DOWN";
    case OperState::kLowerLayerDown:
      return "LOWERLAYERDOWN";
    case OperState::kTesting:
      return "TESTING";
    case OperState::kDormant:
      return "DORMANT";
    case OperState::kUp:
      return "UP";
    case OperState::kUnknown:
      break;
  }
  return "UNKNOWN";
}

void ValidateIfname(const std::string& name) {
  auto bad = [&](const char* why) {
    throw Error(fmt::format("check interface name '{}': {}", name, why));
  };
  if (name.empty()) bad("empty");
  if (name.size() >= IFNAMSIZ) bad("longer than 15 bytes");
  if (name == "." || name == "..") bad("reserved name");
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
      bad("contains '/', ':', a space or a control character");
  }
}

VethPair AddVethPair(const Netns& a, const std::string& a_name, const Netns& b,
                     const std::string& b_name, const VethOptions& options) {
  ValidateIfname(a_name);
  ValidateIfname(b_name);
  std::string what = fmt::format("create veth '{}' in netns '{}' with peer '{}' in netns '{}'",
                                 a_name, a.name(), b_name, b.name());
  VethPair pair{a_name, 0, b_name, 0};
  std::set<int> used_a = options.used_a ? *options.used_a : UsedIndexes(a);
  pair.a_index = LowestFree(used_a, 0);
  std::set<int> used_b = &a == &b ? used_a : options.used_b ? *options.used_b : UsedIndexes(b);
  if (&a == &b) used_b.insert(pair.a_index);
  pair.b_index = LowestFree(used_b, pair.a_index);

  ifinfomsg a_header{};
  a_header.ifi_index = pair.a_index;
  // Only end A can come up in the creating request: the kernel opens the peer before the two
  // ends know each other, and veth_open() refuses that with ENOTCONN.
  if (options.up) a_header.ifi_flags = a_header.ifi_change = IFF_UP;
  RtnlRequest create(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, a_header);
  create.PutString(IFLA_IFNAME, a_name);
  if (options.mtu != 0) create.PutU32(IFLA_MTU, options.mtu);
  size_t info = create.BeginNest(IFLA_LINKINFO);
  create.PutString(IFLA_INFO_KIND, "veth");
  size_t data = create.BeginNest(IFLA_INFO_DATA);
  size_t peer = create.BeginNest(VETH_INFO_PEER);
  ifinfomsg b_header{};
  b_header.ifi_index = pair.b_index;
  create.Append(&b_header, sizeof b_header);
  create.PutString(IFLA_IFNAME, b_name);
  create.PutU32(IFLA_NET_NS_FD, static_cast<uint32_t>(b.fd()));
  if (options.mtu != 0) create.PutU32(IFLA_MTU, options.mtu);
  create.EndNest(peer);
  create.EndNest(data);
  create.EndNest(info);
  if (int err = create.Execute(a.route_socket()); err < 0) throw NetlinkError(what, err);
  if (options.up) {
    b_header.ifi_flags = b_header.ifi_change = IFF_UP;
    RtnlRequest up(RTM_NEWLINK, 0, b_header);
    if (int err = up.Execute(b.route_socket()); err < 0) {
      throw NetlinkError(fmt::format("bring up link '{}' in netns '{}'", b_name, b.name()), err);
    }
  }
  return pair;
}

void AddAddress(const Netns& ns, const std::string& ifname, const IpPrefix& prefix) {
  AddAddress(ns, ifname, rtnl_link_get_ifindex(FetchLink(ns, ifname, "add address to").get()),
             prefix);
}

void AddAddress(const Netns& ns, const std::string& ifname, int ifindex, const IpPrefix& prefix) {
  std::string what = fmt::format("add address '{}' to link '{}' in netns '{}'", prefix.ToString(),
                                 ifname, ns.name());
  ifaddrmsg header{};
  header.ifa_family = static_cast<uint8_t>(prefix.address.family());
  header.ifa_prefixlen = static_cast<uint8_t>(prefix.prefix_len);
  header.ifa_index = static_cast<uint32_t>(ifindex);
  // Usable at once: no duplicate address detection (as the header says).
  if (prefix.address.is_v6()) header.ifa_flags = IFA_F_NODAD;
  RtnlRequest add(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, header);
  add.Put(IFA_LOCAL, prefix.address.bytes(), prefix.address.size());
  add.Put(IFA_ADDRESS, prefix.address.bytes(), prefix.address.size());
  if (int err = add.Execute(ns.route_socket()); err < 0) throw NetlinkError(what, err);
}

void WaitAddressUsable(const Netns& ns, const std::string& ifname, const IpPrefix& prefix,
                       std::chrono::milliseconds timeout) {
  if (!prefix.address.is_v6()) return;
  int ifindex = GetLink(ns, ifname).index;
  std::string group = SolicitedNodeGroupHex(prefix.address);
  bool joined = false;
  bool tentative = true;
  WaitUntil(
      fmt::format("address '{}' on link '{}' in netns '{}' to be usable", prefix.ToString(), ifname,
                  ns.name()),
      timeout,
      [&] {
        joined = joined || JoinedGroup(ns, ifname, group);
        tentative = Tentative(ns, ifindex, prefix.address);
        return joined && !tentative;
      },
      [&] {
        return fmt::format("solicited-node group {}, address {}", joined ? "joined" : "not joined",
                           tentative ? "tentative or absent" : "usable");
      });
}

void AddRoute(const Netns& ns, const IpPrefix& destination, const IpAddress& gateway) {
  AddStaticRoute(ns, destination, &gateway,
                 fmt::format("add route to '{}' via '{}' in netns '{}'", destination.ToString(),
                             gateway.ToString(), ns.name()));
}

void AddBlackholeRoute(const Netns& ns, const IpPrefix& destination) {
  AddStaticRoute(
      ns, destination, nullptr,
      fmt::format("add blackhole route to '{}' in netns '{}'", destination.ToString(), ns.name()));
}

void SetLinkUp(const Netns& ns, const std::string& ifname, bool up) {
  LinkPtr change = AllocLink();
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  ChangeLink(ns, ifname, change.get(), up ? "bring up" : "bring down");
}

void SetLinkMtu(const Netns& ns, const std::string& ifname, unsigned mtu) {
  LinkPtr change = AllocLink();
  rtnl_link_set_mtu(change.get(), mtu);
  ChangeLink(ns, ifname, change.get(), fmt::format("set mtu {} on", mtu).c_str());
}

void DeleteLink(const Netns& ns, const std::string& ifname) {
  LinkPtr link = FetchLink(ns, ifname, "delete");
  int err = rtnl_link_delete(ns.route_socket(), link.get());
  if (err < 0) {
    throw NetlinkError(fmt::format("delete link '{}' in netns '{}'", ifname, ns.name()), err);
  }
}

// By a request built by hand and read for the few things LinkInfo holds: libnl's link object
// parses every attribute of the answer, more than the kernel spends on the request itself. The
// counters, which LinkInfo does not hold, are left out of the answer.
LinkInfo GetLink(const Netns& ns, const std::string& ifname) {
  ifinfomsg header{};
  RtnlRequest get(RTM_GETLINK, 0, header);
  get.PutString(IFLA_IFNAME, ifname);
  get.PutU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  LinkInfo info;
  bool answered = false;
  int err = get.Execute(ns.route_socket(), [&](const nlmsghdr& m) {
    if (m.nlmsg_type != RTM_NEWLINK || m.nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(&m));
    info.index = ifi->ifi_index;
    info.admin_up = (ifi->ifi_flags & IFF_UP) != 0;
    ForEachAttribute(m, sizeof(ifinfomsg), [&](uint16_t type, const void* data, size_t size) {
      if (type == IFLA_IFNAME) {
        info.name.assign(static_cast<const char*>(data),
                         strnlen(static_cast<const char*>(data), size));
      } else if (type == IFLA_MTU && size >= sizeof(uint32_t)) {
        std::memcpy(&info.mtu, data, sizeof(uint32_t));
      } else if (type == IFLA_OPERSTATE && size >= 1) {
        info.oper_state = FromKernel(*static_cast<const uint8_t*>(data));
      }
    });
    answered = true;
  });
  if (err == 0 && !answered) err = -NLE_MSG_TRUNC;  // acknowledged with no link in the answer
  if (err < 0) {
    throw NetlinkError(fmt::format("read link '{}' in netns '{}'", ifname, ns.name()), err);
  }
  return info;
}

std::vector<LinkInfo> ListLinks(const Netns& ns) {
  nl_cache* cache = nullptr;
  int err = rtnl_link_alloc_cache(ns.route_socket(), AF_UNSPEC, &cache);
  if (err < 0) throw NetlinkError(fmt::format("list links in netns '{}'", ns.name()), err);
  std::vector<LinkInfo> links;
  for (nl_object* o = nl_cache_get_first(cache); o != nullptr; o = nl_cache_get_next(o)) {
    links.push_back(ToInfo(reinterpret_cast<rtnl_link*>(o)));
  }
  nl_cache_free(cache);
  return links;
}

void WaitLinkOperUp(const Netns& ns, const std::string& ifname, std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  // Reading a link makes the kernel apply its pending carrier change first (linkwatch), so a
  // veth whose ends are both up usually reads as up at once, with no need to subscribe.
  if (GetLink(ns, ifname).oper_state == OperState::kUp) return;
  // Subscribe before the next read so that no transition between the two is missed.
  NlSockPtr events = RunInNetns(
      ns, [&] { return ConnectNetlink(NETLINK_ROUTE, fmt::format("netns '{}'", ns.name())); });
  nl_socket_disable_seq_check(events.get());
  nl_socket_add_membership(events.get(), RTNLGRP_LINK);
  nl_socket_set_nonblocking(events.get());
  nl_socket_modify_cb(events.get(), NL_CB_VALID, NL_CB_CUSTOM, IgnoreMessage, nullptr);
  for (;;) {
    LinkInfo info = GetLink(ns, ifname);
    if (info.oper_state == OperState::kUp) return;
    int wait_ms = deadline.RemainingMs();
    pollfd pfd{nl_socket_get_fd(events.get()), POLLIN, 0};
    if (wait_ms <= 0 || ::poll(&pfd, 1, wait_ms) == 0) {
      throw TimeoutError(
          fmt::format("wait for link '{}' in netns '{}' to be up: still {} (admin {}) after {} ms",
                      ifname, ns.name(), OperStateName(info.oper_state),
                      info.admin_up ? "up" : "down", timeout.count()));
    }
    while (nl_recvmsgs_default(events.get()) >= 0) {
    }
  }
}

}  // namespace nstest
