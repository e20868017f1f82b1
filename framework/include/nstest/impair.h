// Packet impairments that work on kernels without netem: drop, or hold and release, TCP packets
// matching flags and ports, with nftables rules and an NFQUEUE listener inside one namespace.
#ifndef NSTEST_IMPAIR_H_
#define NSTEST_IMPAIR_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nstest/netns.h"
#include "nstest/tcp.h"

namespace nstest {

enum class Hook { kInput, kOutput };
// "output", "input".
const NameTable<Hook>& Hooks();
const char* HookName(Hook hook);

// Which TCP packets a rule applies to. Everything is numeric, so a match can never inject text
// into the nftables ruleset.
struct TcpMatch {
  Hook hook = Hook::kOutput;
  uint8_t flags_mask = 0;  // (flags & flags_mask) == flags_value; 0 matches any flags
  uint8_t flags_value = 0;
  uint16_t dport = 0;      // 0: any
  uint16_t sport_min = 0;  // with sport_max: a source port range; 0: any
  uint16_t sport_max = 0;

  // The ACK that completes a client's handshake (and any later pure ACK) sent to `dport`:
  // output hook, SYN, ACK, FIN, RST, PSH masked, ACK alone set.
  static TcpMatch HandshakeAck(uint16_t dport);
  // The server's SYN-ACKs from `sport`, as they leave the server.
  static TcpMatch SynAck(uint16_t sport);

  // The nftables expression: "tcp dport 8080 tcp flags & (fin | syn | rst | psh | ack) == ack".
  std::string Expression() const;
};

// An nftables table "inet nstest" in one namespace, with an input and an output chain. The table
// and its rules exist only inside that namespace and are deleted on destruction.
// Not thread-safe.
class PacketFilter {
 public:
  // Creates the table. Throws Error with nftables' own message if nf_tables is missing.
  explicit PacketFilter(const Netns& ns);
  ~PacketFilter();
  PacketFilter(const PacketFilter&) = delete;
  PacketFilter& operator=(const PacketFilter&) = delete;

  // Adds a rule dropping matching packets; returns its id for RemoveRule().
  int Drop(const TcpMatch& match);
  // Adds a rule sending matching packets to NFQUEUE `queue` (dropped if nothing listens). Kernels
  // without nftables' own `queue` expression get a jump to a chain holding the xtables NFQUEUE
  // target (through nft_compat), which `nft list` cannot print.
  int Queue(const TcpMatch& match, uint16_t queue);
  // Removes one rule; the remaining rules are re-installed in one transaction.
  void RemoveRule(int id);
  // The table as `nft list table inet nstest` prints it.
  std::string Ruleset() const;
  const Netns& netns() const { return ns_; }

 private:
  struct Rule {
    int id;
    Hook hook;
    std::string text;
  };
  void Run(const std::string& commands, const std::string& what) const;
  bool NativeQueue() const;
  void Install(const std::string& what);

  const Netns& ns_;
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::vector<Rule> rules_;
  int next_id_ = 1;
};

// Holds the packets a filter rule matches (through NFQUEUE) until the test releases them.
// Packets still held on destruction are released. Must be destroyed before its PacketFilter
// (declare it after the filter). Thread-safe.
class PacketHold {
 public:
  // Binds NFQUEUE `queue` in the filter's namespace, then adds the queueing rule.
  // Throws Error if the queue cannot be bound (no nfnetlink_queue, or the number is taken).
  PacketHold(PacketFilter& filter, const TcpMatch& match, uint16_t queue = 1);
  ~PacketHold();
  PacketHold(const PacketHold&) = delete;
  PacketHold& operator=(const PacketHold&) = delete;

  size_t held() const;  // packets held now
  size_t seen() const;  // packets the rule has queued so far
  // Lets the oldest `n` held packets continue (NF_ACCEPT); returns how many it released.
  size_t Release(size_t n = SIZE_MAX);
  // Drops the oldest `n` held packets (NF_DROP); returns how many it dropped.
  size_t DropHeld(size_t n = SIZE_MAX);
  // Removes the queueing rule: later packets pass untouched. Held packets stay held.
  void StopHolding();
  // Waits until at least `n` packets are held. Throws TimeoutError saying how many were.
  void WaitHeld(size_t n, std::chrono::milliseconds timeout) const;

 private:
  // Removes the rule, releases what is held, stops the thread, unbinds the queue.
  void Shutdown() noexcept;

  struct State;
  std::unique_ptr<State> state_;
};

// Delay and loss through the netem qdisc, for kernels that have it (CONFIG_NET_SCH_NETEM). Check
// CachedPreflight().Has(Feature::kNetem) and skip where it is missing.
struct NetemOptions {
  std::chrono::microseconds delay{0};
  double loss_percent = 0;  // 0-100
  unsigned limit = 1000;    // packets the qdisc may hold
};

// Replaces the root qdisc of `ifname` in `ns` with netem. Throws Error for out-of-range options,
// NetlinkError if the kernel refuses (ENOENT "Object not found" where netem is missing).
void SetNetem(const Netns& ns, const std::string& ifname, const NetemOptions& options);
// Removes the root qdisc set by SetNetem(); the device falls back to its default.
void ClearNetem(const Netns& ns, const std::string& ifname);

}  // namespace nstest

#endif  // NSTEST_IMPAIR_H_
