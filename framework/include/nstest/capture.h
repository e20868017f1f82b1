// Packet capture on an interface inside a namespace (libpcap), with questions a kernel engineer
// asks of it: how many SYN-ACKs, at what intervals, how many RSTs.
#ifndef NSTEST_CAPTURE_H_
#define NSTEST_CAPTURE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nstest/address.h"
#include "nstest/netns.h"

namespace nstest {

// One captured packet, decoded as far as TCP.
struct Packet {
  std::chrono::nanoseconds time{0};  // capture timestamp (CLOCK_REALTIME, nanoseconds)
  IpAddress src{};
  IpAddress dst{};
  bool tcp = false;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t flags = 0;  // TCP flags (see tcp_flags in impair.h)
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint32_t payload = 0;  // TCP payload bytes

  // "12.345678 198.18.0.1:8080 > 198.18.0.2:40000 [S.] seq 1 ack 2 len 0"
  std::string ToString() const;
};

// The TCP flags as tcpdump prints them: "S", "S.", "R.", "F.", "P.", "." (ACK alone).
std::string FlagString(uint8_t flags);

// Which packets a question is about. Unset fields match anything.
struct PacketFilterSpec {
  std::optional<IpAddress> src{};
  std::optional<IpAddress> dst{};
  std::optional<uint16_t> sport{};
  std::optional<uint16_t> dport{};
  uint8_t flags_mask = 0;  // (flags & flags_mask) == flags_value
  uint8_t flags_value = 0;

  // TCP packets whose flags are exactly SYN+ACK among SYN/ACK/RST/FIN, from port `sport`.
  static PacketFilterSpec SynAcksFrom(uint16_t sport);
  static PacketFilterSpec SynsTo(uint16_t dport);
  // Any packet with RST set, to or from `port`... use sport/dport to narrow.
  static PacketFilterSpec Rsts();
  bool Matches(const Packet& p) const;
  std::string ToString() const;
};

// Captures on `ifname` in `ns` from construction until Stop() or destruction, in a background
// thread. Thread-safe.
class Capture {
 public:
  // Opens the interface inside `ns` and applies the BPF `filter` ("tcp port 8080"; empty: all).
  // Throws Error with libpcap's message (no such device, bad filter, no CAP_NET_RAW).
  Capture(const Netns& ns, const std::string& ifname, const std::string& filter = "");
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Stops capturing; packets already captured stay available.
  void Stop();
  std::vector<Packet> Packets() const;
  std::vector<Packet> Packets(const PacketFilterSpec& spec) const;
  size_t Count(const PacketFilterSpec& spec) const;
  // Milliseconds between consecutive matching packets.
  std::vector<double> IntervalsMs(const PacketFilterSpec& spec) const;
  // Waits until at least `n` packets match. Throws TimeoutError with how many did.
  void WaitFor(const PacketFilterSpec& spec, size_t n, std::chrono::milliseconds timeout) const;
  // Writes everything captured as a pcap file (nanosecond timestamps). Throws Error.
  void WritePcap(const std::string& path) const;
  // The capture as text, one packet per line (for failure messages).
  std::string Dump(size_t max_lines = 50) const;

  const std::string& description() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decodes one Ethernet frame; nullopt if it is not IPv4/IPv6. For tests and tools.
std::optional<Packet> DecodeEthernet(const uint8_t* data, size_t len, std::chrono::nanoseconds t);

}  // namespace nstest

#endif  // NSTEST_CAPTURE_H_
