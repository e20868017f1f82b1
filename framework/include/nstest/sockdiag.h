// TCP sockets and listener queues of a namespace, through netlink sock_diag (what `ss` uses).
#ifndef NSTEST_SOCKDIAG_H_
#define NSTEST_SOCKDIAG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nstest/address.h"
#include "nstest/netns.h"

namespace nstest {

// The kernel's TCP states (include/net/tcp_states.h). Request sockets (a SYN answered, the final
// ACK not yet seen) are reported by sock_diag as kSynRecv.
enum class TcpState {
  kEstablished = 1,
  kSynSent,
  kSynRecv,
  kFinWait1,
  kFinWait2,
  kTimeWait,
  kClose,
  kCloseWait,
  kLastAck,
  kListen,
  kClosing,
};
// The name `ss` prints: "ESTAB", "SYN-SENT", "SYN-RECV", "LISTEN", ...
const char* TcpStateName(TcpState state);

struct TcpSocketInfo {
  TcpState state = TcpState::kClose;
  IpAddress local{};
  uint16_t local_port = 0;
  IpAddress remote{};
  uint16_t remote_port = 0;
  // For a listener: Recv-Q is the accept queue length, Send-Q the effective backlog.
  // For other sockets: bytes not yet read / not yet acknowledged.
  uint32_t recv_q = 0;
  uint32_t send_q = 0;
  uint8_t retransmits = 0;  // for a request socket: SYN-ACKs retransmitted so far
  uint32_t inode = 0;
};

// What `ss -ltn` shows for one listener, plus its request sockets (the SYN queue).
struct ListenerQueues {
  IpAddress address{};
  uint16_t port = 0;
  uint32_t accept_queue = 0;      // Recv-Q: completed connections waiting for accept()
  uint32_t max_accept_queue = 0;  // Send-Q: min(backlog, net.core.somaxconn)
  uint32_t syn_recv = 0;          // request sockets in SYN-RECV for this listener (not in Recv-Q)
  uint32_t inode = 0;             // the socket's inode (fstat() of its descriptor says the same)
  // A SO_REUSEPORT group: sockets listening on the same address and port. `index` is this one's
  // place in it (SockDiag: by inode number, as a rule creation order; the kernel hands inode
  // numbers out in per-CPU batches). The kernel does not say which member a request socket
  // belongs to, so a group's SYN-RECV count is all on its member 0, and the others show 0.
  uint32_t group = 1;
  uint32_t index = 0;

  // "LISTEN 198.18.0.1:8080 Recv-Q 3 Send-Q 2 SYN-RECV 0", with ", SO_REUSEPORT 2 of 4" after
  // it for a member of a group.
  std::string ToString() const;
};

// Which listener a question is about, where several listen on one port (IPv4 and IPv6, a
// specific address and the wildcard, a SO_REUSEPORT group). Unset fields select nothing out.
struct ListenerSelector {
  std::optional<IpAddress> address{};
  std::optional<Family> family{};
  std::optional<uint32_t> index{};  // within a SO_REUSEPORT group
};

// The one listener of `all` that `which` selects. Throws Error naming `what`, if none is
// selected ("no listening socket") or several are: then the message lists each candidate and
// ends with `how` to pick one (the front end's words for it).
ListenerQueues SelectListener(const std::vector<ListenerQueues>& all, const ListenerSelector& which,
                              const std::string& what,
                              const std::string& how =
                                  "select one by address or family, and "
                                  "by index within a SO_REUSEPORT group");
// The listeners of `all` that `which` selects (any number).
std::vector<ListenerQueues> FilterListeners(const std::vector<ListenerQueues>& all,
                                            const ListenerSelector& which);
// A set of listeners as one: Recv-Q, Send-Q and SYN-RECV summed, the first one's address and
// port, `group` the number of sockets.
ListenerQueues SumListeners(const std::vector<ListenerQueues>& all);

// A sock_diag socket opened inside one namespace; reuse it for repeated queries (waits).
// Not thread-safe: one query at a time.
class SockDiag {
 public:
  // Opens the socket inside `ns`. Throws NetlinkError.
  explicit SockDiag(const Netns& ns);
  ~SockDiag();
  SockDiag(SockDiag&&) noexcept;
  SockDiag& operator=(SockDiag&&) noexcept;

  // Every TCP socket (IPv4 and IPv6) whose state is in `states` (a mask of 1 << TcpState).
  // Asking for SYN-RECV makes the kernel walk its whole table of established sockets (about 1 ms
  // a family on a machine with a large one), so that part is left out while no TCP segment has
  // arrived in the namespace: none can be there then. Throws NetlinkError.
  std::vector<TcpSocketInfo> Dump(uint32_t states = ~0u);
  // The listeners on `port`, each with its SYN-RECV count (a request socket counts for the most
  // specific listener covering its address: the address itself before a wildcard) and its place
  // in its SO_REUSEPORT group. Throws NetlinkError.
  std::vector<ListenerQueues> Listeners(uint16_t port);
  // Listeners() for every port something listens on, from one dump.
  std::map<uint16_t, std::vector<ListenerQueues>> ListenersByPort();
  // The one listener on `port` (that `which` selects). Throws Error if there is none or more
  // than one:
  //   "read listener on port 8080 in netns 'server': no listening socket"
  ListenerQueues Listener(uint16_t port, const ListenerSelector& which = {});
  // Sockets per state, like `ss -s`.
  std::map<TcpState, int> CountByState();

  const std::string& netns_name() const { return netns_name_; }

 private:
  std::string netns_name_;
  NlSockPtr sock_;
  Fd snmp_;  // the namespace's /proc/net/snmp
};

// One-shot forms: open a SockDiag in `ns` and query it.
ListenerQueues GetListener(const Netns& ns, uint16_t port);
std::map<TcpState, int> CountTcpStates(const Netns& ns);

}  // namespace nstest

#endif  // NSTEST_SOCKDIAG_H_
