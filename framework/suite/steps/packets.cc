// The step kinds about packets: syns, drop, hold, release, capture.
#include <fmt/format.h>

#include <algorithm>

#include "nstest/synsource.h"
#include "suite/step_fields.h"

namespace nstest::registry {
namespace {

constexpr uint32_t kFirstSynPort = 40000;
constexpr size_t kMaxDefaultCaptureBuffer = size_t{256} << 20;

template <typename S>
std::vector<Field<S>> FilterFields(std::string S::*netns, Hook S::*hook, PacketMatch S::*match) {
  return Concat({NetnsField(netns, "netns", "client", "where the rule is"),
                 Choice(hook, "hook", Hooks(), Hook::kOutput,
                        "packets leaving (output) or entering (input) the namespace")},
                MatchFields(match, true));
}

void DoSyns(Execution& x, const Step&, const SynsStep& a) {
  Execution::SynSources& next = x.syn_sources();
  SynOptions so;
  so.destination = x.AddressIn(a.to, a.address, a.family);
  Family family = so.destination.is_v6() ? Family::kIPv6 : Family::kIPv4;
  bool& prepared = family == Family::kIPv6 ? next.spoofing6 : next.spoofing;
  if (!prepared) {
    PrepareSpoofedSource(x.Ns(a.to), x.Ns(a.from), x.AddressIn(a.from, "", family));
    prepared = true;
  }
  so.port = x.EvalAs<uint16_t>(a.port);
  so.count = x.EvalAs<int>(a.count);
  so.source_addresses = a.sources ? x.EvalAs<int>(*a.sources) : so.count;
  auto count = static_cast<uint32_t>(so.count);
  if (next.port == 0) next.port = kFirstSynPort;
  if (next.port + count - 1 > 65535) {
    // Ports used up: start again from port 40000 with addresses no earlier SYN came from.
    next.address += next.addresses_used;
    next.addresses_used = 0;
    next.port = kFirstSynPort;
  }
  auto sources = std::min(count, static_cast<uint32_t>(so.source_addresses));
  so.first_source = SpoofedSource(next.address, family);
  (void)SpoofedSource(next.address + sources - 1);  // throws when the range runs out
  so.source_port = static_cast<uint16_t>(next.port);
  next.port += count;
  next.addresses_used = std::max(next.addresses_used, sources);
  int sent = SendSyns(x.Ns(a.from), so);
  x.Log(fmt::format("sent {} unanswered SYNs to port {} from {} port {}-{}", sent, so.port,
                    sources == 1 ? so.first_source.ToString()
                                 : fmt::format("{} (+{} more addresses)",
                                               so.first_source.ToString(), sources - 1),
                    so.source_port, so.source_port + sent - 1));
}

void DoDrop(Execution& x, const Step&, const DropStep& a) {
  TcpMatch m = x.Match(a.hook, a.packets);
  x.sc().Filter(a.netns).Drop(m);
  x.Log(fmt::format("drop '{}' in netns '{}'", m.Expression(), a.netns));
}

void DoHold(Execution& x, const Step&, const HoldStep& a) {
  TcpMatch m = x.Match(a.hook, a.packets);
  x.sc().Hold(a.name, a.netns, m);
  x.Log(fmt::format("hold '{}' in netns '{}' as '{}'", m.Expression(), a.netns, a.name));
}

void DoRelease(Execution& x, const Step&, const ReleaseStep& a) {
  PacketHold& h = x.sc().held(a.hold);
  if (!a.keep_holding) h.StopHolding();
  size_t n = h.Release(a.count ? x.EvalAs<size_t>(*a.count) : SIZE_MAX);
  x.Log(fmt::format("released {} packets of '{}'", n, a.hold));
}

void DoCapture(Execution& x, const Step&, const CaptureStep& a) {
  std::string ifname = a.interface.empty() ? x.sc().InterfaceOf(a.netns) : a.interface;
  CaptureOptions co;
  co.filter = a.filter;
  co.snaplen = x.EvalAs<int>(a.snaplen);
  co.buffer_bytes = a.buffer_kb ? x.EvalAs<size_t>(*a.buffer_kb) * 1024
                                : std::min(kMaxDefaultCaptureBuffer,
                                           Capture::BufferBytesFor(x.LargestBurst(), co.snaplen));
  x.sc().StartCapture(a.name, a.netns, ifname, co);
  x.Log(fmt::format("capture '{}' on '{}' in netns '{}' ({} KiB buffer, snaplen {})", a.name,
                    ifname, a.netns, co.buffer_bytes / 1024, co.snaplen));
}

}  // namespace

std::vector<Kind> PacketKinds() {
  return {
      Declare<StepAction, SynsStep>(
          "syns",
          "SYNs nobody answers, from 198.19.0.0/16 (over IPv6: 2001:2:0:fffe::/64): every SYN of "
          "a case from a source address and port no earlier SYN of the case used (ports from "
          "40000 up across steps; SYN i of a step from the step's first address + i % sources; "
          "a step that would pass port 65535 starts again at 40000 from addresses after all "
          "used before)",
          Concat(
              Concat({NetnsField(&SynsStep::from, "from", "client", "where they are sent from"),
                      NetnsField(&SynsStep::to, "to", "server", "whose address they go to")},
                     AddressFields(&SynsStep::address, &SynsStep::family, "`to`'s address", false)),
              {Required(&SynsStep::port, "port", kPort, "the destination port"),
               Required(&SynsStep::count, "count", Range{1, 25536},
                        "how many SYNs (one source port each, from 40000 to 65535)"),
               Optional(&SynsStep::sources, "sources", Range{1, 65535}, "count",
                        "how many source addresses")}),
          DoSyns),
      Declare<StepAction, DropStep>(
          "drop", "an nftables rule dropping matching packets",
          FilterFields(&DropStep::netns, &DropStep::hook, &DropStep::packets), DoDrop),
      Declare<StepAction, HoldStep>(
          "hold", "holds matching packets (NFQUEUE) until `release`",
          Concat(FilterFields(&HoldStep::netns, &HoldStep::hook, &HoldStep::packets),
                 {{{"name", "string", "required", "the name release and wait use"},
                   [](TableReader& r, const Ctx& c, HoldStep& h) {
                     std::optional<std::string> name = r.String("name");
                     if (!name) {
                       r.Fail(r.table(),
                              "missing 'name' (release and wait refer to the hold by it)");
                     }
                     h.name = *name;
                     c.holds->insert(*name);
                   },
                   {}}}),
          DoHold),
      Declare<StepAction, ReleaseStep>(
          "release", "lets held packets go",
          {Earlier(&ReleaseStep::hold, "hold", &Ctx::holds, "hold named", "the hold's name"),
           Optional(&ReleaseStep::count, "count", kCount, "all", "how many packets"),
           Flag(&ReleaseStep::keep_holding, "keep_holding", "go on holding new packets")},
          DoRelease),
      Declare<StepAction, CaptureStep>(
          "capture",
          "captures packets (libpcap); every packet after the step is captured or counted as "
          "dropped",
          {NetnsField(&CaptureStep::netns, "netns", "server", "where"),
           TextField(&CaptureStep::interface, "interface", "",
                     "the interface: empty for the namespace's first veth"),
           TextField(&CaptureStep::filter, "filter", "", "BPF, as tcpdump takes it"),
           Optional(&CaptureStep::buffer_kb, "buffer_kb", Range{64, 1 << 20},
                    "the case's largest burst",
                    "the kernel's ring buffer (KiB); by default it holds the largest burst a "
                    "step of the case can make"),
           Defaulted(&CaptureStep::snaplen, "snaplen", Range{64, 65535}, 256,
                     "bytes kept of each packet"),
           TextField(&CaptureStep::name, "name", "capture", "the name later steps use")},
          DoCapture,
          [](TableReader&, const Ctx& c, CaptureStep& s) { c.captures->insert(s.name); })};
}

}  // namespace nstest::registry
