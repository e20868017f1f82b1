#include "nstest/sockdiag.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include <algorithm>
#include <cstring>

#include "nstest/error.h"
#include "src/netlink_util.h"
#include "src/proc_net.h"

namespace nstest {
namespace {

IpAddress FromDiag(uint8_t family, const __be32* words) {
  return IpAddress::FromBytes(family, words);
}

struct DumpContext {
  std::vector<TcpSocketInfo>* out;
};

int OnMessage(nl_msg* msg, void* arg) {
  auto* ctx = static_cast<DumpContext*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (hdr->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
      nlmsg_datalen(hdr) < static_cast<int>(sizeof(inet_diag_msg))) {
    return NL_SKIP;
  }
  const auto* d = static_cast<const inet_diag_msg*>(nlmsg_data(hdr));
  TcpSocketInfo info;
  info.state = static_cast<TcpState>(d->idiag_state);
  info.local = FromDiag(d->idiag_family, d->id.idiag_src);
  info.local_port = ntohs(d->id.idiag_sport);
  info.remote = FromDiag(d->idiag_family, d->id.idiag_dst);
  info.remote_port = ntohs(d->id.idiag_dport);
  info.recv_q = d->idiag_rqueue;
  info.send_q = d->idiag_wqueue;
  info.retransmits = d->idiag_retrans;
  info.inode = d->idiag_inode;
  ctx->out->push_back(info);
  return NL_OK;
}

bool Covers(const IpAddress& listener, const IpAddress& local) {
  // A wildcard listener (0.0.0.0 or ::) owns request sockets on every local address; an IPv6
  // wildcard also owns IPv4 ones unless IPV6_V6ONLY.
  const uint8_t* b = listener.bytes();
  bool any = true;
  for (size_t i = 0; i < listener.size(); ++i) any = any && b[i] == 0;
  if (any) return listener.is_v6() || !local.is_v6();
  return listener == local;
}

}  // namespace

const char* TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kEstablished:
      return "ESTAB";
    case TcpState::kSynSent:
      return "SYN-SENT";
    case TcpState::kSynRecv:
      return "SYN-RECV";
    case TcpState::kFinWait1:
      return "FIN-WAIT-1";
    case TcpState::kFinWait2:
      return "FIN-WAIT-2";
    case TcpState::kTimeWait:
      return "TIME-WAIT";
    case TcpState::kClose:
      return "UNCONN";
    case TcpState::kCloseWait:
      return "CLOSE-WAIT";
    case TcpState::kLastAck:
      return "LAST-ACK";
    case TcpState::kListen:
      return "LISTEN";
    case TcpState::kClosing:
      return "CLOSING";
  }
  return "UNKNOWN";
}

std::string ListenerQueues::ToString() const {
  std::string out =
      fmt::format("LISTEN {} Recv-Q {} Send-Q {} SYN-RECV {}", FormatEndpoint(address, port),
                  accept_queue, max_accept_queue, syn_recv);
  if (group > 1) out += fmt::format(", SO_REUSEPORT {} of {}", index, group);
  return out;
}

std::vector<ListenerQueues> FilterListeners(const std::vector<ListenerQueues>& all,
                                            const ListenerSelector& which) {
  std::vector<ListenerQueues> out;
  for (const ListenerQueues& l : all) {
    if (which.address && !(l.address == *which.address)) continue;
    if (which.family && (*which.family == Family::kIPv6) != l.address.is_v6()) continue;
    if (which.index && l.index != *which.index) continue;
    out.push_back(l);
  }
  return out;
}

ListenerQueues SelectListener(const std::vector<ListenerQueues>& all, const ListenerSelector& which,
                              const std::string& what, const std::string& how) {
  std::vector<ListenerQueues> chosen = FilterListeners(all, which);
  if (chosen.size() == 1) return chosen[0];
  auto list_of = [](const std::vector<ListenerQueues>& v) {
    std::string list;
    for (const ListenerQueues& l : v) list += (list.empty() ? "" : "; ") + l.ToString();
    return list;
  };
  std::string list = list_of(all);
  if (chosen.empty()) {
    if (all.empty()) throw Error(what + ": no listening socket");
    throw Error(fmt::format("{}: none of the {} listening sockets is the one asked for ({})", what,
                            all.size(), list));
  }
  throw Error(
      fmt::format("{}: {} listening sockets ({}); {}", what, chosen.size(), list_of(chosen), how));
}

ListenerQueues SumListeners(const std::vector<ListenerQueues>& all) {
  ListenerQueues sum;
  if (!all.empty()) {
    sum.address = all[0].address;
    sum.port = all[0].port;
  }
  for (const ListenerQueues& l : all) {
    sum.accept_queue += l.accept_queue;
    sum.max_accept_queue += l.max_accept_queue;
    sum.syn_recv += l.syn_recv;
  }
  sum.group = static_cast<uint32_t>(all.size());
  return sum;
}

SockDiag::SockDiag(const Netns& ns) : netns_name_(ns.name()) {
  sock_ = RunInNetns(ns, [&] {
    return ConnectNetlink(NETLINK_SOCK_DIAG, fmt::format("sock_diag in netns '{}'", ns.name()));
  });
  if (int snmp = ns.proc_net_fd(ProcNetFile::kSnmp); snmp >= 0) {
    snmp_ = Fd(::fcntl(snmp, F_DUPFD_CLOEXEC, 0));
  }
}

SockDiag::~SockDiag() = default;
SockDiag::SockDiag(SockDiag&&) noexcept = default;
SockDiag& SockDiag::operator=(SockDiag&&) noexcept = default;

std::vector<TcpSocketInfo> SockDiag::Dump(uint32_t states) {
  std::vector<TcpSocketInfo> out;
  constexpr uint32_t kSynRecvBit = 1u << static_cast<int>(TcpState::kSynRecv);
  if ((states & kSynRecvBit) != 0 && !TcpSegmentArrived(snmp_.get())) states &= ~kSynRecvBit;
  if (states == 0) return out;
  DumpContext ctx{&out};
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    inet_diag_req_v2 req{};
    req.sdiag_family = family;
    req.sdiag_protocol = IPPROTO_TCP;
    req.idiag_states = states;
    int err = nl_send_simple(sock_.get(), SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, &req, sizeof req);
    if (err >= 0) {
      nl_socket_modify_cb(sock_.get(), NL_CB_VALID, NL_CB_CUSTOM, OnMessage, &ctx);
      err = nl_recvmsgs_default(sock_.get());
    }
    if (err < 0) {
      throw NetlinkError(fmt::format("dump TCP sockets in netns '{}'", netns_name_), err);
    }
  }
  return out;
}

namespace {

constexpr uint32_t kListenAndSynRecv =
    (1u << static_cast<int>(TcpState::kListen)) | (1u << static_cast<int>(TcpState::kSynRecv));

// The listeners on `port` among `sockets` (a dump of LISTEN and SYN-RECV), as Listeners() gives
// them.
std::vector<ListenerQueues> ListenersAmong(const std::vector<TcpSocketInfo>& sockets,
                                           uint16_t port) {
  std::vector<ListenerQueues> listeners;
  for (const TcpSocketInfo& s : sockets) {
    if (s.state != TcpState::kListen || s.local_port != port) continue;
    ListenerQueues l{s.local, s.local_port, s.recv_q, s.send_q, 0};
    l.inode = s.inode;
    listeners.push_back(l);
  }
  // Groups: by address, members by inode.
  std::stable_sort(listeners.begin(), listeners.end(),
                   [](const ListenerQueues& a, const ListenerQueues& b) {
                     if (a.address.is_v6() != b.address.is_v6()) return !a.address.is_v6();
                     int c = std::memcmp(a.address.bytes(), b.address.bytes(), a.address.size());
                     return c != 0 ? c < 0 : a.inode < b.inode;
                   });
  for (size_t i = 0; i < listeners.size(); ++i) {
    size_t first = i;
    while (first > 0 && listeners[first - 1].address == listeners[i].address) --first;
    listeners[i].index = static_cast<uint32_t>(i - first);
  }
  for (ListenerQueues& l : listeners) {
    l.group = static_cast<uint32_t>(
        std::count_if(listeners.begin(), listeners.end(),
                      [&l](const ListenerQueues& m) { return m.address == l.address; }));
  }
  for (const TcpSocketInfo& s : sockets) {
    if (s.state != TcpState::kSynRecv || s.local_port != port) continue;
    // The listener bound to the request's own address owns it before any wildcard.
    ListenerQueues* owner = nullptr;
    for (ListenerQueues& l : listeners) {
      if (l.address == s.local) {
        owner = &l;
        break;
      }
      if (owner == nullptr && Covers(l.address, s.local)) owner = &l;
    }
    if (owner != nullptr) ++owner->syn_recv;
  }
  return listeners;
}

}  // namespace

std::vector<ListenerQueues> SockDiag::Listeners(uint16_t port) {
  return ListenersAmong(Dump(kListenAndSynRecv), port);
}

std::map<uint16_t, std::vector<ListenerQueues>> SockDiag::ListenersByPort() {
  std::vector<TcpSocketInfo> sockets = Dump(kListenAndSynRecv);
  std::map<uint16_t, std::vector<ListenerQueues>> by_port;
  for (const TcpSocketInfo& s : sockets) {
    if (s.state == TcpState::kListen) by_port[s.local_port];
  }
  for (auto& [port, listeners] : by_port) listeners = ListenersAmong(sockets, port);
  return by_port;
}

ListenerQueues SockDiag::Listener(uint16_t port, const ListenerSelector& which) {
  return SelectListener(Listeners(port), which,
                        fmt::format("read listener on port {} in netns '{}'", port, netns_name_));
}

std::map<TcpState, int> SockDiag::CountByState() {
  std::map<TcpState, int> counts;
  for (const TcpSocketInfo& s : Dump()) ++counts[s.state];
  return counts;
}

ListenerQueues GetListener(const Netns& ns, uint16_t port) { return SockDiag(ns).Listener(port); }

std::map<TcpState, int> CountTcpStates(const Netns& ns) { return SockDiag(ns).CountByState(); }

}  // namespace nstest
