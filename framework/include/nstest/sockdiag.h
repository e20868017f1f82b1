// TCP sockets and listener queues of a namespace, through netlink sock_diag (what `ss` uses).
#ifndef NSTEST_SOCKDIAG_H_
#define NSTEST_SOCKDIAG_H_

#include <cstdint>
#include <map>
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

  // "LISTEN 198.18.0.1:8080 Recv-Q 3 Send-Q 2 SYN-RECV 0"
  std::string ToString() const;
};

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
  // Throws NetlinkError.
  std::vector<TcpSocketInfo> Dump(uint32_t states = ~0u);
  // The listeners on `port`, each with its SYN-RECV count. Throws NetlinkError.
  std::vector<ListenerQueues> Listeners(uint16_t port);
  // The one listener on `port`. Throws Error if there is none or more than one:
  //   "read listener on port 8080 in netns 'server': no listening socket"
  ListenerQueues Listener(uint16_t port);
  // Sockets per state, like `ss -s`.
  std::map<TcpState, int> CountByState();

  const std::string& netns_name() const { return netns_name_; }

 private:
  std::string netns_name_;
  NlSockPtr sock_;
};

// One-shot forms: open a SockDiag in `ns` and query it.
ListenerQueues GetListener(const Netns& ns, uint16_t port);
std::map<TcpState, int> CountTcpStates(const Netns& ns);

}  // namespace nstest

#endif  // NSTEST_SOCKDIAG_H_
