#include "nstest/capture.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "nstest/error.h"
#include "nstest/wait.h"
#include "src/loaded_libs.h"

namespace nstest {
namespace {

constexpr size_t kMaxPackets = 1'000'000;
constexpr size_t kDefaultBufferBytes = size_t{2} << 20;

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
  PacketFilterSpec s = Of(TcpFlagPattern::kSynAck);
  s.sport = sport;
  return s;
}

PacketFilterSpec PacketFilterSpec::SynsTo(uint16_t dport) {
  PacketFilterSpec s = Of(TcpFlagPattern::kSyn);
  s.dport = dport;
  return s;
}

PacketFilterSpec PacketFilterSpec::Rsts() { return Of(TcpFlagPattern::kRst); }

PacketFilterSpec PacketFilterSpec::Of(TcpFlagPattern pattern) {
  PacketFilterSpec s;
  TcpFlagBits bits = FlagBitsOf(pattern);
  s.flags_mask = bits.mask;
  s.flags_value = bits.value;
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
  CaptureOptions options;
  const PcapLib& lib = Pcap();  // throws when libpcap cannot be loaded
  pcap_t* pcap = nullptr;
  Fd stop;
  Fd wake;  // Sync() asks the capture thread for a pass through the ring
  std::thread thread;
  mutable std::mutex mu;
  mutable std::condition_variable synced;
  std::vector<RawPacket> raw;
  std::vector<Packet> packets;
  // Sync tickets: requested by Sync(), done once a pass that began after the request ended.
  mutable uint64_t sync_requested = 0;
  uint64_t sync_done = 0;
  bool finished = false;  // the capture thread has ended
  CaptureStats stats;
  // Packets libpcap handed over, past the filter (ps_recv would also count those the socket took
  // in between pcap_activate() and pcap_setfilter(), which libpcap then filters out itself).
  uint64_t delivered = 0;
  // ps_drop once the filter was attached: the kernel counts as dropped every packet that found the
  // ring full, and before the filter that is any packet on the interface.
  uint64_t drops_before_filter = 0;

  static void OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
    auto* s = reinterpret_cast<State*>(user);
    // With nanosecond precision, tv_usec carries nanoseconds (pcap_set_tstamp_precision).
    auto t = std::chrono::seconds(h->ts.tv_sec) + std::chrono::nanoseconds(h->ts.tv_usec);
    std::lock_guard<std::mutex> lock(s->mu);
    ++s->delivered;
    if (s->raw.size() >= kMaxPackets) return;
    s->raw.push_back(RawPacket{t, std::vector<uint8_t>(bytes, bytes + h->caplen), h->len});
    if (auto p = DecodeEthernet(bytes, h->caplen, t)) s->packets.push_back(*p);
  }

  // Every pcap call happens on this thread: libpcap handles are not thread-safe.
  void Loop() {
    int fd = lib.get_selectable_fd(pcap);
    bool stopping = false;
    while (!stopping) {
      pollfd fds[3] = {{fd, POLLIN, 0}, {stop.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
      stopping = fds[1].revents != 0;
      // Empty the wake counter first, then take the ticket: a Sync() that writes after the read
      // is either covered by this ticket or wakes the next pass, never lost in between.
      if (fds[2].revents != 0) {
        uint64_t n;
        ssize_t ignored = ::read(wake.get(), &n, sizeof n);
        (void)ignored;
      }
      uint64_t ticket = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        ticket = sync_requested;  // taken before the pass: the pass covers that request
      }
      // Take what is queued before looking at the stop request, so nothing captured is lost.
      while (lib.dispatch(pcap, -1, &State::OnPacket, reinterpret_cast<u_char*>(this)) > 0) {
      }
      pcap_stat st{};
      bool have_stats = lib.stats(pcap, &st) == 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (have_stats) {
          uint64_t dropped = st.ps_drop - std::min<uint64_t>(st.ps_drop, drops_before_filter);
          stats = CaptureStats{delivered + dropped, dropped};
        }
        sync_done = ticket;
      }
      synced.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
    synced.notify_all();
  }
};

size_t Capture::BufferBytesFor(size_t packets, int snaplen) {
  // The kernel's ring (TPACKET_V2, which libpcap uses in immediate mode) holds frames of the
  // snapshot length plus about 96 bytes of headers, aligned; measured on loopback, 2 MiB hold
  // about 490 frames at a snapshot length of 2048 and about 3100 at 256. Twice the frame size
  // covers both, with room.
  size_t frame = (static_cast<size_t>(std::max(snaplen, 64)) + 96 + 15) / 16 * 16 * 2;
  return std::max(kDefaultBufferBytes, packets * frame);
}

Capture::Capture(const Netns& ns, const std::string& ifname, const std::string& filter)
    : Capture(ns, ifname, CaptureOptions{.filter = filter}) {}

Capture::Capture(const Netns& ns, const std::string& ifname, const CaptureOptions& options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = options;
  const std::string& filter = options.filter;
  s.description = fmt::format("capture on '{}' in netns '{}'{}", ifname, ns.name(),
                              filter.empty() ? "" : " (" + filter + ")");
  char err[PCAP_ERRBUF_SIZE] = {};
  {
    // The packet socket is created by pcap_activate(); it must be created inside `ns`.
    NetnsGuard guard(ns);
    s.pcap = s.lib.create(ifname.c_str(), err);
    if (s.pcap == nullptr) throw Error(fmt::format("start {}: {}", s.description, err));
    s.lib.set_snaplen(s.pcap, options.snaplen);
    s.lib.set_buffer_size(s.pcap,
                          static_cast<int>(std::min<size_t>(options.buffer_bytes, INT_MAX)));
    s.lib.set_immediate_mode(s.pcap, 1);
    s.lib.set_tstamp_precision(s.pcap, PCAP_TSTAMP_PRECISION_NANO);
    int rc = s.lib.activate(s.pcap);
    if (rc < 0) {
      std::string why = s.lib.geterr(s.pcap);
      s.lib.close(s.pcap);
      s.pcap = nullptr;
      throw Error(fmt::format("start {}: {}", s.description, why));
    }
  }
  bpf_program prog{};
  if (s.lib.compile(s.pcap, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      s.lib.setfilter(s.pcap, &prog) != 0) {
    std::string why = s.lib.geterr(s.pcap);
    s.lib.freecode(&prog);
    s.lib.close(s.pcap);
    s.pcap = nullptr;
    throw Error(fmt::format("start {}: bad filter: {}", s.description, why));
  }
  s.lib.freecode(&prog);
  pcap_stat st{};
  if (s.lib.stats(s.pcap, &st) == 0) s.drops_before_filter = st.ps_drop;
  s.lib.setnonblock(s.pcap, 1, err);
  s.stop.reset(::eventfd(0, EFD_CLOEXEC));
  s.wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  s.thread = std::thread([&s] { s.Loop(); });
}

Capture::~Capture() {
  Stop();
  if (state_->pcap != nullptr) state_->lib.close(state_->pcap);
}

void Capture::Stop() {
  State& s = *state_;
  if (!s.thread.joinable()) return;
  uint64_t one = 1;
  while (::write(s.stop.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  s.thread.join();
}

CaptureStats Capture::Sync(std::chrono::milliseconds timeout) const {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.finished) return s.stats;
  uint64_t ticket = ++s.sync_requested;
  uint64_t one = 1;
  while (::write(s.wake.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  if (!s.synced.wait_for(lock, timeout, [&] { return s.finished || s.sync_done >= ticket; })) {
    throw TimeoutError(
        fmt::format("sync {}: the capture thread did not read its buffer within {} ms",
                    s.description, timeout.count()));
  }
  return s.stats;
}

std::string Capture::DropProblem() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const CaptureStats& st = state_->stats;
  if (st.dropped == 0) return "";
  return fmt::format(
      "{} dropped {} of {} packets (its buffer of {} KiB was full); its counts are not reliable",
      state_->description, st.dropped, st.received, state_->options.buffer_bytes / 1024);
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
  const PcapLib& lib = state_->lib;
  pcap_t* dead = lib.open_dead_with_tstamp_precision(DLT_EN10MB, state_->options.snaplen,
                                                     PCAP_TSTAMP_PRECISION_NANO);
  pcap_dumper_t* out = lib.dump_open(dead, path.c_str());
  if (out == nullptr) {
    std::string why = lib.geterr(dead);
    lib.close(dead);
    throw Error(fmt::format("write pcap '{}': {}", path, why));
  }
  for (const RawPacket& r : state_->raw) {
    pcap_pkthdr h{};
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(r.time);
    h.ts.tv_sec = secs.count();
    h.ts.tv_usec = (r.time - secs).count();
    h.caplen = static_cast<bpf_u_int32>(r.data.size());
    h.len = r.wire_len;
    lib.dump(reinterpret_cast<u_char*>(out), &h, r.data.data());
  }
  lib.dump_close(out);
  lib.close(dead);
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
