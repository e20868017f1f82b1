#include "nstest/synsource.h"

#include <fmt/format.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <cstring>

#include "nstest/error.h"
#include "nstest/link.h"
#include "nstest/sysctl.h"

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

IpAddress Plus(const IpAddress& a, uint32_t n) {
  uint32_t v;
  std::memcpy(&v, a.bytes(), 4);
  v = htonl(ntohl(v) + n);
  return IpAddress::FromBytes(AF_INET, &v);
}

// A SYN with an MSS option: 20 bytes of IP header, 24 of TCP.
struct SynPacket {
  iphdr ip;
  tcphdr tcp;
  uint8_t options[4];
};
static_assert(sizeof(SynPacket) == 44);

SynPacket BuildSyn(const IpAddress& src, uint16_t sport, const IpAddress& dst, uint16_t dport,
                   uint16_t mss, uint32_t seq) {
  SynPacket p{};
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

}  // namespace

IpPrefix DefaultSpoofedRange() { return IpPrefix::Parse("198.19.0.0/16"); }

IpAddress SpoofedSource(uint32_t n) {
  if (n < 1 || n > 65534) {
    throw Error(fmt::format("spoofed source {}: 198.19.0.0/16 has addresses 1 to 65534", n));
  }
  return Plus(DefaultSpoofedRange().address, n);
}

void PrepareSpoofedSource(Netns& server, Netns& client, const IpAddress& client_address,
                          const IpPrefix& spoofed) {
  AddRoute(server, spoofed, client_address);
  SetSysctl(client, "net.ipv4.ip_forward", "0");
  SetSysctl(client, "net.ipv4.conf.all.forwarding", "0");
}

int SendSyns(const Netns& ns, const SynOptions& o) {
  std::string what = fmt::format("send {} SYNs to {}:{} from netns '{}'", o.count,
                                 o.destination.ToString(), o.port, ns.name());
  IpAddress first = o.first_source;
  if (first == IpAddress()) first = Plus(DefaultSpoofedRange().address, 1);
  if (o.destination.is_v6() || first.is_v6()) throw Error(what + ": only IPv4 is supported");
  if (o.count < 1 || o.count > 65535) throw Error(what + ": count must be 1-65535");
  if (o.source_addresses < 1) throw Error(what + ": source_addresses must be at least 1");
  if (o.source_port + o.count - 1 > 65535) throw Error(what + ": source ports run past 65535");
  Fd fd = ns.Socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  uint32_t seq = 0;
  if (::getrandom(&seq, sizeof seq, 0) != sizeof seq) seq = 0x6e737400;
  sockaddr_storage to{};
  socklen_t to_len = o.destination.ToSockaddr(0, &to);
  int sent = 0;
  for (int i = 0; i < o.count; ++i) {
    IpAddress src = Plus(first, static_cast<uint32_t>(i % o.source_addresses));
    SynPacket p = BuildSyn(src, static_cast<uint16_t>(o.source_port + i), o.destination, o.port,
                           o.mss, seq + static_cast<uint32_t>(i) * 7919u);
    if (::sendto(fd.get(), &p, sizeof p, 0, reinterpret_cast<sockaddr*>(&to), to_len) < 0) {
      ThrowErrno(fmt::format("{}: SYN {}", what, i + 1));
    }
    ++sent;
  }
  return sent;
}

}  // namespace nstest
