// TCP peers inside namespaces: a listener with an accept policy, and a connector that opens N
// connections and reports each one's outcome.
#ifndef NSTEST_PEER_H_
#define NSTEST_PEER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nstest/address.h"
#include "nstest/fd.h"
#include "nstest/netns.h"
#include "nstest/tcp.h"

namespace nstest {

using SteadyTime = std::chrono::steady_clock::time_point;

// When a listener calls accept().
enum class AcceptPolicy {
  kNever,     // never: completed connections stay in the accept queue
  kAll,       // a background thread accepts every connection as it completes
  kFirstN,    // the background thread accepts the first `accept_limit` connections, then stops
  kOnDemand,  // only when the test calls Listener::Accept()
};
// "never", "all", "first-n", "on-demand".
const NameTable<AcceptPolicy>& AcceptPolicies();
const char* AcceptPolicyName(AcceptPolicy policy);

struct ListenerOptions {
  IpAddress address{};  // default 0.0.0.0
  uint16_t port = 0;    // 0: an ephemeral port, see Listener::port()
  int backlog = 128;    // passed to listen() as given: -1 and values above somaxconn are clamped
  AcceptPolicy accept = AcceptPolicy::kNever;
  int accept_limit = 0;    // with kFirstN
  bool reuseport = false;  // SO_REUSEPORT: a member of a group sharing the address and port
  bool ipv6_only = false;  // IPV6_V6ONLY (an IPv6 address only)
};

struct AcceptedConnection {
  IpAddress peer{};
  uint16_t peer_port = 0;
  SteadyTime at{};
};

// A listening socket in a namespace with its accept policy. Accepted connections stay open until
// the listener is destroyed. Thread-safe.
class Listener {
 public:
  // Binds, listens and, for kAll/kFirstN, starts the accepting thread. Throws SystemError
  // ("listen on 198.18.0.1:8080 in netns 'server': Address already in use") or Error for bad
  // options (kFirstN without a positive accept_limit).
  Listener(const Netns& ns, const ListenerOptions& options);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const;
  int backlog() const;
  AcceptPolicy policy() const;
  const std::string& netns_name() const;
  int fd() const;
  // The socket's inode, as sock_diag reports it (ListenerQueues::inode).
  uint32_t inode() const;

  // Accepts up to `n` connections, waiting up to `timeout` in all; returns how many it accepted.
  // Throws Error if the policy is not kOnDemand.
  int Accept(int n, std::chrono::milliseconds timeout);
  // What was accepted so far, in order.
  std::vector<AcceptedConnection> accepted() const;
  size_t accepted_count() const;
  // Why the background acceptor stopped early ("accepting stopped after 1019 connections: Too many
  // open files"), or empty.
  std::string error() const;
  // Reads what accepted connection `index` has sent so far, without blocking.
  std::string ReadFrom(size_t index);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

enum class ConnectMode {
  kSequential,  // one at a time: the next starts when the previous has an outcome
  kBurst,       // all connect() calls first, then every outcome is awaited together
};
// "sequential", "burst".
const NameTable<ConnectMode>& ConnectModes();

struct ConnectOptions {
  IpAddress address{};
  uint16_t port = 0;
  int count = 1;
  ConnectMode mode = ConnectMode::kSequential;
  // How long each connection may take to reach an outcome; then it is reported kPending (the
  // kernel was still trying). Shorten the kernel's own retries with net.ipv4.tcp_syn_retries.
  std::chrono::milliseconds deadline{5000};
  uint16_t source_port = 0;  // if set, connection i binds source_port + i (for packet filters)
  std::string send{};        // written after the connection is established
  // After establishing (and sending), read for this long: a RST arriving then makes the outcome
  // kReset, data is kept in `received`. 0: do not read.
  std::chrono::milliseconds read_for{0};
  bool stop_at_first_failure = false;  // sequential only: stop after the first non-established
};

struct ConnectionResult {
  int index = 0;
  ConnectResult outcome = ConnectResult::kPending;
  int error = 0;  // errno behind the outcome, 0 if none
  uint16_t local_port = 0;
  SteadyTime started{};
  SteadyTime finished{};  // when the outcome was known
  std::string received{};

  double milliseconds() const;
};

// The connections a connector opened; established sockets stay open while this lives.
class Connections {
 public:
  Connections() = default;
  Connections(Connections&&) noexcept = default;
  Connections& operator=(Connections&&) noexcept = default;

  const std::vector<ConnectionResult>& results() const { return results_; }
  int Count(ConnectResult outcome) const;
  // "5 connections: 4 established, 1 pending"
  std::string Summary() const;
  // Reads from every established connection until `duration` has passed: received bytes are
  // appended to `received`, and a connection the peer reset becomes kReset (ECONNRESET).
  void Read(std::chrono::milliseconds duration);
  // Writes `data` on every established connection still open and returns on how many it was
  // written whole. A connection the peer reset becomes kReset (ECONNRESET, or EPIPE once the
  // reset was seen), with its errno; a write that would block writes what fits and counts as not
  // whole. Never raises SIGPIPE.
  int Send(const std::string& data);
  // Records what happened since to connections still open, without blocking: a connect that was
  // pending at its deadline (the kernel goes on trying until close) gets its final outcome, with
  // `finished` when it was seen, and an established connection the peer reset becomes kReset.
  // Returns how many outcomes changed. Call it repeatedly to wait (WaitUntil).
  int Update();
  // How many connections are still pending with their socket open (their outcome may change).
  int Unsettled() const;
  // Closes every connection still open and returns how many it closed. With `abort` each is
  // closed with SO_LINGER 0, so the kernel sends a RST instead of a FIN.
  int Close(bool abort);
  // The socket of connection `index` (invalid after an error or Close()). Throws
  // std::out_of_range.
  const Fd& socket(size_t index) const { return sockets_.at(index); }

 private:
  friend Connections Connect(const Netns& ns, const ConnectOptions& options);
  std::vector<ConnectionResult> results_;
  std::vector<Fd> sockets_;
};

// Opens options.count connections from `ns`. Throws Error for bad options (count < 1, count above
// 100000, a source port range that overflows) and for a count above the descriptors this process
// may still open; a connection that fails is a result, not a throw.
Connections Connect(const Netns& ns, const ConnectOptions& options);

}  // namespace nstest

#endif  // NSTEST_PEER_H_
