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
#include "nstest/tcp.h"

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
  // Packets whose flags fit `pattern`, any ports.
  static PacketFilterSpec Of(TcpFlagPattern pattern);
  bool Matches(const Packet& p) const;
  std::string ToString() const;
};

struct CaptureOptions {
  std::string filter{};  // BPF, as tcpdump takes it ("tcp port 8080"); empty: every packet
  // Bytes kept of each packet: every header of a TCP/IPv6 packet with options (114 bytes) and
  // some payload. The kernel's ring holds fixed-size frames, so a smaller snapshot holds more
  // packets in the same buffer.
  int snaplen = 256;
  // The kernel's ring buffer for the capture socket. When it is full the kernel drops packets
  // (they still go on the wire) and counts them; Dropped() reports it. BufferBytesFor() gives the
  // size that holds a burst even when the capture thread does not run meanwhile.
  size_t buffer_bytes = size_t{2} << 20;
};

// What the capture socket saw: packets that passed the filter (those read plus those dropped), and
// those of them the kernel dropped because the ring was full (libpcap's ps_drop, less what it had
// counted before the filter was attached, when any packet on the interface could fill the ring).
struct CaptureStats {
  uint64_t received = 0;
  uint64_t dropped = 0;
};

// Captures on `ifname` in `ns` from construction until Stop() or destruction, in a background
// thread. Thread-safe.
class Capture {
 public:
  // Opens the interface inside `ns` and applies the BPF `filter` ("tcp port 8080"; empty: all).
  // Every packet the interface carries once the constructor has returned is captured, or counted
  // as dropped. Throws Error with libpcap's message (no such device, bad filter, no
  // CAP_NET_RAW).
  Capture(const Netns& ns, const std::string& ifname, const std::string& filter = "");
  Capture(const Netns& ns, const std::string& ifname, const CaptureOptions& options);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Stops capturing; packets already captured stay available.
  void Stop();
  // Returns once every packet the capture socket took before the call has been decoded (the
  // capture thread reads the kernel's ring in the background), with the statistics as of then.
  // Throws TimeoutError if the capture thread does not get to it within `timeout`.
  CaptureStats Sync(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // After Sync(): "" if the kernel dropped nothing, else why the counts are not reliable:
  //   "capture on 'eth0' in netns 'server' dropped 37 of 2200 packets (its buffer of 2048 KiB
  //   was full); its counts are not reliable"
  std::string DropProblem() const;
  // A buffer that holds `packets` packets of `snaplen` bytes without the capture thread reading
  // (at least the 2 MiB libpcap takes by default).
  static size_t BufferBytesFor(size_t packets, int snaplen);
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
