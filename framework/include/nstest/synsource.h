// SYNs whose handshakes never complete: a deterministic way to fill a listener's SYN queue.
#ifndef NSTEST_SYNSOURCE_H_
#define NSTEST_SYNSOURCE_H_

#include <cstdint>
#include <optional>

#include "nstest/address.h"
#include "nstest/netns.h"

namespace nstest {

// Sources the SYN source sends from by default: 198.19.0.0/16, the upper half of the benchmark
// range (RFC 2544), and 2001:2:0:fffe::/64 of the IPv6 one (RFC 5180), which no test namespace
// owns (links take 2001:2:0:<index>::/64).
IpPrefix DefaultSpoofedRange();
IpPrefix DefaultSpoofedRange6();
// The n-th address of the default range (n = 1: 198.19.0.1, 2001:2:0:fffe::1). Throws Error
// outside 1 to 65534.
IpAddress SpoofedSource(uint32_t n, Family family = Family::kIPv4);

// Prepares a server and a client namespace so that SYNs from `spoofed` (addresses the client
// does not own) reach the server and its SYN-ACKs die silently in the client:
//  - in `server`: a route to `spoofed` via `client_address`, so SYN-ACKs go to the client;
//  - in `client`: net.ipv4.ip_forward=0 and conf.all.forwarding=0 (for an IPv6
//    `client_address`: net.ipv6.conf.all.forwarding=0 and a blackhole route to `spoofed`, since
//    IPv6 answers a packet it has no route for with an ICMPv6 error, which ends the request). A new
//    namespace may inherit forwarding from the host; forwarding on would bounce the SYN-ACKs back
//    instead of dropping them, and a kernel that owned the address would answer with a RST and free
//    the request.
// Throws what AddRoute() and SetSysctl() throw.
// `spoofed` defaults to the default range of `client_address`'s family.
void PrepareSpoofedSource(Netns& server, Netns& client, const IpAddress& client_address,
                          const std::optional<IpPrefix>& spoofed = std::nullopt);

struct SynOptions {
  IpAddress destination{};  // IPv4 or IPv6
  uint16_t port = 0;
  int count = 1;
  IpAddress first_source{};      // default: the first address of the default range
  int source_addresses = 1;      // SYN i comes from first_source + (i % source_addresses)
  uint16_t source_port = 40000;  // SYN i comes from port source_port + i
  uint16_t mss = 1460;           // advertised in the SYN's MSS option
};

// Sends options.count SYNs from `ns` through a raw socket (IPPROTO_RAW: each carries its own
// IPv4 or IPv6 header) and returns how many the
// kernel took. Nothing answers their SYN-ACKs, so each leaves a request socket in SYN-RECV until
// net.ipv4.tcp_synack_retries runs out. Throws Error for bad options (count outside 1-65535,
// ports past 65535, source and destination of different families), SystemError if the raw socket
// cannot be opened (needs CAP_NET_RAW).
int SendSyns(const Netns& ns, const SynOptions& options);

}  // namespace nstest

#endif  // NSTEST_SYNSOURCE_H_
