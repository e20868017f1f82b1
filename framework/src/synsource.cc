#include "nstest/synsource.h"

#include <fmt/format.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <cstring>

#include "nstest/error.h"
#include "nstest/link.h"
#include "nstest/sysctl.h"
#include "src/socket_util.h"

namespace nstest {
namespace {

uint32_t Sum16(const void* data, size_t len, uint32_t sum) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len % 2 != 0) sum += static_cast<uint32_t>(p[len - 1] << 8);
  return sum;
}

uint16_t Fold(uint32_t sum) {
  while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

// `a` + n, in the last 32 bits of the address (IPv4 or IPv6).
IpAddress Plus(const IpAddress& a, uint32_t n) {
  uint8_t bytes[16];
  std::memcpy(bytes, a.bytes(), a.size());
  uint32_t v;
  std::memcpy(&v, bytes + a.size() - 4, 4);
  v = htonl(ntohl(v) + n);
  std::memcpy(bytes + a.size() - 4, &v, 4);
  return IpAddress::FromBytes(a.family(), bytes);
}

// A SYN with an MSS option: 20 bytes of IP header, 24 of TCP.
struct SynPacket4 {
  iphdr ip;
  tcphdr tcp;
  uint8_t options[4];
};
static_assert(sizeof(SynPacket4) == 44);

SynPacket4 BuildSyn(const IpAddress& src, uint16_t sport, const IpAddress& dst, uint16_t dport,
                    uint16_t mss, uint32_t seq) {
  SynPacket4 p{};
  p.ip.version = 4;
  p.ip.ihl = 5;
  p.ip.ttl = 64;
  p.ip.protocol = IPPROTO_TCP;
  p.ip.tot_len = htons(sizeof p);
  p.ip.frag_off = htons(IP_DF);
  std::memcpy(&p.ip.saddr, src.bytes(), 4);
  std::memcpy(&p.ip.daddr, dst.bytes(), 4);
  // The kernel fills in the IP id and header checksum for IP_HDRINCL (raw(7)).
  p.tcp.source = htons(sport);
  p.tcp.dest = htons(dport);
  p.tcp.seq = htonl(seq);
  p.tcp.doff = 6;
  p.tcp.syn = 1;
  p.tcp.window = htons(64240);
  p.options[0] = TCPOPT_MAXSEG;
  p.options[1] = TCPOLEN_MAXSEG;
  p.options[2] = static_cast<uint8_t>(mss >> 8);
  p.options[3] = static_cast<uint8_t>(mss & 0xff);
  // TCP checksum over the pseudo-header (RFC 793) and the segment.
  uint32_t sum = Sum16(&p.ip.saddr, 8, 0);
  sum += IPPROTO_TCP + sizeof p.tcp + sizeof p.options;
  sum = Sum16(&p.tcp, sizeof p.tcp + sizeof p.options, sum);
  p.tcp.check = htons(Fold(sum));
  return p;
}

// The same SYN over IPv6: 40 bytes of IPv6 header, 24 of TCP.
struct SynPacket6 {
  ip6_hdr ip;
  tcphdr tcp;
  uint8_t options[4];
};
static_assert(sizeof(SynPacket6) == 64);

SynPacket6 BuildSyn6(const IpAddress& src, uint16_t sport, const IpAddress& dst, uint16_t dport,
                     uint16_t mss, uint32_t seq) {
  // The TCP part is the IPv4 one's; only the header and the pseudo-header differ.
  SynPacket4 v4 = BuildSyn(IpAddress(), sport, IpAddress(), dport, mss, seq);
  SynPacket6 p{};
  p.ip.ip6_flow = htonl(6u << 28);
  p.ip.ip6_plen = htons(sizeof p.tcp + sizeof p.options);
  p.ip.ip6_nxt = IPPROTO_TCP;
  p.ip.ip6_hlim = 64;
  std::memcpy(&p.ip.ip6_src, src.bytes(), 16);
  std::memcpy(&p.ip.ip6_dst, dst.bytes(), 16);
  p.tcp = v4.tcp;
  std::memcpy(p.options, v4.options, sizeof p.options);
  p.tcp.check = 0;
  // Pseudo-header (RFC 8200 8.1): addresses, upper-layer length, next header.
  uint32_t sum = Sum16(&p.ip.ip6_src, 32, 0);
  sum += sizeof p.tcp + sizeof p.options;
  sum += IPPROTO_TCP;
  sum = Sum16(&p.tcp, sizeof p.tcp + sizeof p.options, sum);
  p.tcp.check = htons(Fold(sum));
  return p;
}

// An ICMPv6 echo reply from `src`, which the destination ignores (it asked for nothing).
struct EchoReply6 {
  ip6_hdr ip;
  uint8_t icmp[8];  // type, code, checksum, identifier, sequence
};
static_assert(sizeof(EchoReply6) == 48);

EchoReply6 BuildEchoReply(const IpAddress& src, const IpAddress& dst) {
  EchoReply6 p{};
  p.ip.ip6_flow = htonl(6u << 28);
  p.ip.ip6_plen = htons(sizeof p.icmp);
  p.ip.ip6_nxt = IPPROTO_ICMPV6;
  p.ip.ip6_hlim = 255;
  std::memcpy(&p.ip.ip6_src, src.bytes(), 16);
  std::memcpy(&p.ip.ip6_dst, dst.bytes(), 16);
  p.icmp[0] = 129;  // echo reply
  uint32_t sum = Sum16(&p.ip.ip6_src, 32, 0);
  sum += sizeof p.icmp;
  sum += IPPROTO_ICMPV6;
  sum = Sum16(p.icmp, sizeof p.icmp, sum);
  uint16_t check = htons(Fold(sum));
  std::memcpy(&p.icmp[2], &check, 2);
  return p;
}

// The address `ns` sends from to reach `dst` (the route's source; nothing is sent).
IpAddress SourceFor(const Netns& ns, const IpAddress& dst, const std::string& what) {
  Fd udp = ns.Socket(dst.family(), SOCK_DGRAM, IPPROTO_UDP);
  sockaddr_storage ss{};
  socklen_t len = dst.ToSockaddr(9, &ss);
  if (::connect(udp.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) ThrowErrno(what);
  len = sizeof ss;
  if (::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) ThrowErrno(what);
  uint16_t port = 0;
  return FromSockaddr(ss, &port);
}

}  // namespace

IpPrefix DefaultSpoofedRange() { return IpPrefix::Parse("198.19.0.0/16"); }
IpPrefix DefaultSpoofedRange6() { return IpPrefix::Parse("2001:2:0:fffe::/64"); }

IpAddress SpoofedSource(uint32_t n, Family family) {
  if (n < 1 || n > 65534) {
    throw Error(fmt::format("spoofed source {}: {} has addresses 1 to 65534", n,
                            family == Family::kIPv6 ? DefaultSpoofedRange6().ToString()
                                                    : DefaultSpoofedRange().ToString()));
  }
  return Plus(
      family == Family::kIPv6 ? DefaultSpoofedRange6().address : DefaultSpoofedRange().address, n);
}

void PrepareSpoofedSource(Netns& server, Netns& client, const IpAddress& client_address,
                          const std::optional<IpPrefix>& range) {
  IpPrefix spoofed =
      range.value_or(client_address.is_v6() ? DefaultSpoofedRange6() : DefaultSpoofedRange());
  AddRoute(server, spoofed, client_address);
  if (client_address.is_v6()) {
    // Without a route an IPv6 host answers with ICMPv6 "no route", and that error would make the
    // server drop the request: a blackhole route discards the SYN-ACKs silently.
    SetSysctl(client, "net.ipv6.conf.all.forwarding", "0");
    AddBlackholeRoute(client, spoofed);
    return;
  }
  SetSysctl(client, "net.ipv4.ip_forward", "0");
  SetSysctl(client, "net.ipv4.conf.all.forwarding", "0");
}

int SendSyns(const Netns& ns, const SynOptions& o) {
  std::string what = fmt::format("send {} SYNs to {}:{} from netns '{}'", o.count,
                                 o.destination.ToString(), o.port, ns.name());
  bool v6 = o.destination.is_v6();
  IpAddress first = o.first_source;
  if (first == IpAddress()) first = SpoofedSource(1, v6 ? Family::kIPv6 : Family::kIPv4);
  if (first.is_v6() != v6) throw Error(what + ": the source and destination families differ");
  if (o.count < 1 || o.count > 65535) throw Error(what + ": count must be 1-65535");
  if (o.source_addresses < 1) throw Error(what + ": source_addresses must be at least 1");
  if (o.source_port + o.count - 1 > 65535) throw Error(what + ": source ports run past 65535");
  // IPPROTO_RAW: the packet carries its own IP header (IP_HDRINCL, and its IPv6 equivalent).
  Fd fd = ns.Socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
  uint32_t seq = 0;
  if (::getrandom(&seq, sizeof seq, 0) != sizeof seq) seq = 0x6e737400;
  sockaddr_storage to{};
  socklen_t to_len = o.destination.ToSockaddr(0, &to);
  if (v6) {
    // Neighbour discovery solicits from the packet's own source when the sender owns it, else
    // from the link-local address, which may still be tentative (DAD) for a second or two: a
    // first packet from an address the namespace owns gets the destination resolved at once.
    // The destination ignores an echo reply nobody asked for.
    EchoReply6 probe = BuildEchoReply(SourceFor(ns, o.destination, what), o.destination);
    if (::sendto(fd.get(), &probe, sizeof probe, 0, reinterpret_cast<sockaddr*>(&to), to_len) < 0) {
      ThrowErrno(what + ": neighbour discovery");
    }
  }
  int sent = 0;
  for (int i = 0; i < o.count; ++i) {
    IpAddress src = Plus(first, static_cast<uint32_t>(i % o.source_addresses));
    auto sport = static_cast<uint16_t>(o.source_port + i);
    uint32_t isn = seq + static_cast<uint32_t>(i) * 7919u;
    SynPacket4 p4{};
    SynPacket6 p6{};
    const void* p = &p4;
    size_t len = sizeof p4;
    if (v6) {
      p6 = BuildSyn6(src, sport, o.destination, o.port, o.mss, isn);
      p = &p6;
      len = sizeof p6;
    } else {
      p4 = BuildSyn(src, sport, o.destination, o.port, o.mss, isn);
    }
    if (::sendto(fd.get(), p, len, 0, reinterpret_cast<sockaddr*>(&to), to_len) < 0) {
      ThrowErrno(fmt::format("{}: SYN {}", what, i + 1));
    }
    ++sent;
  }
  return sent;
}

}  // namespace nstest
