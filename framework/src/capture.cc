#include "nstest/capture.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "nstest/error.h"
#include "nstest/wait.h"

namespace nstest {
namespace {

constexpr int kSnapLen = 2048;
constexpr size_t kMaxPackets = 1'000'000;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

struct RawPacket {
  std::chrono::nanoseconds time;
  std::vector<uint8_t> data;
  uint32_t wire_len;
};

}  // namespace

std::string FlagString(uint8_t flags) {
  std::string s;
  if (flags & 0x02) s += 'S';
  if (flags & 0x01) s += 'F';
  if (flags & 0x04) s += 'R';
  if (flags & 0x08) s += 'P';
  if (flags & 0x10) s += '.';
  return s.empty() ? "none" : s;
}

std::string Packet::ToString() const {
  double secs = static_cast<double>(time.count()) / 1e9;
  if (!tcp) return fmt::format("{:.6f} {} > {} (not TCP)", secs, src.ToString(), dst.ToString());
  return fmt::format("{:.6f} {} > {} [{}] seq {} ack {} len {}", secs, FormatEndpoint(src, sport),
                     FormatEndpoint(dst, dport), FlagString(flags), seq, ack, payload);
}

std::optional<Packet> DecodeEthernet(const uint8_t* d, size_t len, std::chrono::nanoseconds t) {
  if (len < 14) return std::nullopt;
  uint16_t ethertype = Be16(d + 12);
  size_t off = 14;
  Packet p;
  p.time = t;
  uint8_t proto;
  size_t ip_payload_len;
  if (ethertype == 0x0800) {
    if (len < off + 20) return std::nullopt;
    size_t ihl = static_cast<size_t>(d[off] & 0x0f) * 4;
    uint16_t total = Be16(d + off + 2);
    if (ihl < 20 || len < off + ihl || total < ihl) return std::nullopt;
    proto = d[off + 9];
    p.src = IpAddress::FromBytes(AF_INET, d + off + 12);
    p.dst = IpAddress::FromBytes(AF_INET, d + off + 16);
    ip_payload_len = total - ihl;
    off += ihl;
  } else if (ethertype == 0x86dd) {
    if (len < off + 40) return std::nullopt;
    proto = d[off + 6];
    ip_payload_len = Be16(d + off + 4);
    p.src = IpAddress::FromBytes(AF_INET6, d + off + 8);
    p.dst = IpAddress::FromBytes(AF_INET6, d + off + 24);
    off += 40;
  } else {
    return std::nullopt;
  }
  if (proto != IPPROTO_TCP || len < off + 20) return p;
  size_t doff = static_cast<size_t>(d[off + 12] >> 4) * 4;
  if (doff < 20 || ip_payload_len < doff) return p;
  p.tcp = true;
  p.sport = Be16(d + off);
  p.dport = Be16(d + off + 2);
  p.seq = Be32(d + off + 4);
  p.ack = Be32(d + off + 8);
  p.flags = d[off + 13];
  p.payload = static_cast<uint32_t>(ip_payload_len - doff);
  return p;
}

PacketFilterSpec PacketFilterSpec::SynAcksFrom(uint16_t sport) {
  PacketFilterSpec s;
  s.sport = sport;
  s.flags_mask = 0x02 | 0x10 | 0x04 | 0x01;
  s.flags_value = 0x02 | 0x10;
  return s;
}

PacketFilterSpec PacketFilterSpec::SynsTo(uint16_t dport) {
  PacketFilterSpec s;
  s.dport = dport;
  s.flags_mask = 0x02 | 0x10;
  s.flags_value = 0x02;
  return s;
}

PacketFilterSpec PacketFilterSpec::Rsts() {
  PacketFilterSpec s;
  s.flags_mask = 0x04;
  s.flags_value = 0x04;
  return s;
}

bool PacketFilterSpec::Matches(const Packet& p) const {
  if (!p.tcp) return false;
  if (src && !(p.src == *src)) return false;
  if (dst && !(p.dst == *dst)) return false;
  if (sport && p.sport != *sport) return false;
  if (dport && p.dport != *dport) return false;
  return (p.flags & flags_mask) == flags_value;
}

std::string PacketFilterSpec::ToString() const {
  std::string s = "tcp";
  if (src) s += " from " + src->ToString();
  if (dst) s += " to " + dst->ToString();
  if (sport) s += fmt::format(" sport {}", *sport);
  if (dport) s += fmt::format(" dport {}", *dport);
  if (flags_mask != 0) s += fmt::format(" flags [{}]", FlagString(flags_value));
  return s;
}

struct Capture::State {
  std::string description;
  pcap_t* pcap = nullptr;
  Fd stop;
  std::thread thread;
  mutable std::mutex mu;
  std::vector<RawPacket> raw;
  std::vector<Packet> packets;
  bool stopped = false;

  static void OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
    auto* s = reinterpret_cast<State*>(user);
    // With nanosecond precision, tv_usec carries nanoseconds (pcap_set_tstamp_precision).
    auto t = std::chrono::seconds(h->ts.tv_sec) + std::chrono::nanoseconds(h->ts.tv_usec);
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->raw.size() >= kMaxPackets) return;
    s->raw.push_back(RawPacket{t, std::vector<uint8_t>(bytes, bytes + h->caplen), h->len});
    if (auto p = DecodeEthernet(bytes, h->caplen, t)) s->packets.push_back(*p);
  }

  void Loop() {
    int fd = pcap_get_selectable_fd(pcap);
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
      // Take what is queued before looking at the stop request, so nothing captured is lost.
      while (pcap_dispatch(pcap, -1, &State::OnPacket, reinterpret_cast<u_char*>(this)) > 0) {
      }
      if (fds[1].revents != 0) return;
    }
  }
};

Capture::Capture(const Netns& ns, const std::string& ifname, const std::string& filter)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.description = fmt::format("capture on '{}' in netns '{}'{}", ifname, ns.name(),
                              filter.empty() ? "" : " (" + filter + ")");
  char err[PCAP_ERRBUF_SIZE] = {};
  {
    // The packet socket is created by pcap_activate(); it must be created inside `ns`.
    NetnsGuard guard(ns);
    s.pcap = pcap_create(ifname.c_str(), err);
    if (s.pcap == nullptr) throw Error(fmt::format("start {}: {}", s.description, err));
    pcap_set_snaplen(s.pcap, kSnapLen);
    pcap_set_immediate_mode(s.pcap, 1);
    pcap_set_tstamp_precision(s.pcap, PCAP_TSTAMP_PRECISION_NANO);
    int rc = pcap_activate(s.pcap);
    if (rc < 0) {
      std::string why = pcap_geterr(s.pcap);
      pcap_close(s.pcap);
      s.pcap = nullptr;
      throw Error(fmt::format("start {}: {}", s.description, why));
    }
  }
  bpf_program prog{};
  if (pcap_compile(s.pcap, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(s.pcap, &prog) != 0) {
    std::string why = pcap_geterr(s.pcap);
    pcap_freecode(&prog);
    pcap_close(s.pcap);
    s.pcap = nullptr;
    throw Error(fmt::format("start {}: bad filter: {}", s.description, why));
  }
  pcap_freecode(&prog);
  pcap_setnonblock(s.pcap, 1, err);
  s.stop.reset(::eventfd(0, EFD_CLOEXEC));
  s.thread = std::thread([&s] { s.Loop(); });
}

Capture::~Capture() {
  Stop();
  if (state_->pcap != nullptr) pcap_close(state_->pcap);
}

void Capture::Stop() {
  State& s = *state_;
  if (!s.thread.joinable()) return;
  uint64_t one = 1;
  while (::write(s.stop.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  s.thread.join();
}

std::vector<Packet> Capture::Packets() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->packets;
}

std::vector<Packet> Capture::Packets(const PacketFilterSpec& spec) const {
  std::vector<Packet> out;
  std::lock_guard<std::mutex> lock(state_->mu);
  for (const Packet& p : state_->packets) {
    if (spec.Matches(p)) out.push_back(p);
  }
  return out;
}

size_t Capture::Count(const PacketFilterSpec& spec) const { return Packets(spec).size(); }

std::vector<double> Capture::IntervalsMs(const PacketFilterSpec& spec) const {
  std::vector<Packet> ps = Packets(spec);
  std::vector<double> out;
  for (size_t i = 1; i < ps.size(); ++i) {
    out.push_back(std::chrono::duration<double, std::milli>(ps[i].time - ps[i - 1].time).count());
  }
  return out;
}

void Capture::WaitFor(const PacketFilterSpec& spec, size_t n,
                      std::chrono::milliseconds timeout) const {
  WaitUntil(
      fmt::format("{} packets '{}' in {}", n, spec.ToString(), state_->description), timeout,
      [&] { return Count(spec) >= n; },
      [&] { return fmt::format("{} matching; captured:\n{}", Count(spec), Dump(20)); });
}

void Capture::WritePcap(const std::string& path) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  pcap_t* dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, kSnapLen, PCAP_TSTAMP_PRECISION_NANO);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  if (out == nullptr) {
    std::string why = pcap_geterr(dead);
    pcap_close(dead);
    throw Error(fmt::format("write pcap '{}': {}", path, why));
  }
  for (const RawPacket& r : state_->raw) {
    pcap_pkthdr h{};
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(r.time);
    h.ts.tv_sec = secs.count();
    h.ts.tv_usec = (r.time - secs).count();
    h.caplen = static_cast<bpf_u_int32>(r.data.size());
    h.len = r.wire_len;
    pcap_dump(reinterpret_cast<u_char*>(out), &h, r.data.data());
  }
  pcap_dump_close(out);
  pcap_close(dead);
}

std::string Capture::Dump(size_t max_lines) const {
  std::vector<Packet> ps = Packets();
  std::string out;
  for (size_t i = 0; i < ps.size() && i < max_lines; ++i) out += "  " + ps[i].ToString() + "\n";
  if (ps.size() > max_lines) out += fmt::format("  ... {} more\n", ps.size() - max_lines);
  return out;
}

const std::string& Capture::description() const { return state_->description; }

}  // namespace nstest
