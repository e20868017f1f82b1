// What each step kind does to a case (the kinds and their fields: steps.h, suite_steps.cc).
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cmath>
#include <functional>
#include <optional>
#include <variant>

#include "nstest/checks.h"
#include "nstest/process.h"
#include "nstest/sockdiag.h"
#include "nstest/synsource.h"
#include "nstest/sysctl.h"
#include "nstest/wait.h"
#include "src/strings.h"
#include "suite/execution.h"

namespace nstest {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kCaptureSettle{2000};
constexpr uint32_t kFirstSynPort = 40000;
constexpr size_t kRunOutputInLog = 64 * 1024;
constexpr size_t kMaxDefaultCaptureBuffer = size_t{256} << 20;

}  // namespace

void Execution::Execute(const Step& s) {
  std::visit([&](const auto& action) { Do(s, action); }, s.action);
}

TcpMatch Execution::Match(Hook hook, const PacketMatch& p) {
  TcpMatch m;
  m.hook = hook;
  TcpFlagBits bits = FlagBitsOf(p.match);
  m.flags_mask = bits.mask;
  m.flags_value = bits.value;
  m.dport = p.dport ? EvalAs<uint16_t>(*p.dport) : 0;
  uint16_t sport = p.sport ? EvalAs<uint16_t>(*p.sport) : 0;
  m.sport_min = p.sport_min ? EvalAs<uint16_t>(*p.sport_min) : sport;
  m.sport_max = p.sport_max ? EvalAs<uint16_t>(*p.sport_max) : p.sport ? sport : m.sport_min;
  return m;
}

PacketFilterSpec Execution::Spec(const PacketMatch& p) {
  PacketFilterSpec spec = PacketFilterSpec::Of(p.match);
  if (p.dport && Eval(*p.dport) != 0) spec.dport = EvalAs<uint16_t>(*p.dport);
  if (p.sport && Eval(*p.sport) != 0) spec.sport = EvalAs<uint16_t>(*p.sport);
  return spec;
}

void Execution::Do(const Step&, const ListenStep& a) {
  ListenerOptions lo;
  lo.address = a.address.empty()    ? sc_->AddressOf(a.netns)
               : a.address == "any" ? IpAddress()
                                    : IpAddress::Parse(a.address);
  lo.port = EvalAs<uint16_t>(a.port);
  lo.backlog = EvalAs<int>(a.backlog);
  lo.accept = a.accept;
  lo.accept_limit = a.accept_limit ? EvalAs<int>(*a.accept_limit) : 0;
  sc_->Listen(a.netns, lo);
  Log(fmt::format("listen(backlog={}) on {} in netns '{}', accept {}", lo.backlog,
                  FormatEndpoint(lo.address, lo.port), a.netns, AcceptPolicyName(a.accept)));
}

void Execution::Do(const Step&, const ConnectStep& a) {
  ConnectOptions o;
  o.address = a.address.empty() ? sc_->AddressOf(a.to) : IpAddress::Parse(a.address);
  o.port = EvalAs<uint16_t>(a.port);
  o.count = EvalAs<int>(a.count);
  o.mode = a.mode;
  o.deadline = Millis(a.deadline_ms);
  o.source_port = a.source_port ? EvalAs<uint16_t>(*a.source_port) : 0;
  o.read_for = Millis(a.read_ms);
  o.send = a.send;
  o.stop_at_first_failure = a.stop_at_first_failure;
  Connections c = nstest::Connect(Ns(a.from), o);
  Log(fmt::format("connect {}x to {} from netns '{}' ({}): {}", o.count,
                  FormatEndpoint(o.address, o.port), a.from, ConnectModes().Name(a.mode),
                  c.Summary()));
  sc_->AddConnections(a.label, std::move(c));
}

void Execution::Do(const Step&, const ReadStep& a) {
  for (Connections& c : sc_->Labelled(a.label)) {
    c.Read(Millis(a.timeout_ms));
    Log(fmt::format("read from '{}': {}", a.label, c.Summary()));
  }
}

void Execution::Do(const Step&, const CloseStep& a) {
  int closed = 0;
  for (Connections& c : sc_->Labelled(a.label)) closed += c.Close(a.abort);
  Log(fmt::format("closed {} connections of '{}'{}", closed, a.label,
                  a.abort ? " with a RST (SO_LINGER 0)" : ""));
}

void Execution::Do(const Step&, const AcceptStep& a) {
  auto port = EvalAs<uint16_t>(a.port);
  for (const auto& l : sc_->listeners()) {
    if (l->port() == port && l->netns_name() == a.netns) {
      int n = l->Accept(EvalAs<int>(a.count), Millis(a.timeout_ms));
      Log(fmt::format("accepted {} on port {}", n, port));
      return;
    }
  }
  throw Error(fmt::format("accept: no listener on port {} in netns '{}'", port, a.netns));
}

void Execution::Do(const Step&, const SynsStep& a) {
  if (!spoofed_) {
    PrepareSpoofedSource(Ns(a.to), Ns(a.from), sc_->AddressOf(a.from));
    spoofed_ = true;
  }
  SynOptions so;
  so.destination = sc_->AddressOf(a.to);
  so.port = EvalAs<uint16_t>(a.port);
  so.count = EvalAs<int>(a.count);
  so.source_addresses = a.sources ? EvalAs<int>(*a.sources) : so.count;
  auto count = static_cast<uint32_t>(so.count);
  if (syn_port_ == 0) syn_port_ = kFirstSynPort;
  if (syn_port_ + count - 1 > 65535) {
    // Ports used up: start again from port 40000 with addresses no earlier SYN came from.
    syn_address_ += syn_addresses_used_;
    syn_addresses_used_ = 0;
    syn_port_ = kFirstSynPort;
  }
  auto sources = std::min(count, static_cast<uint32_t>(so.source_addresses));
  so.first_source = SpoofedSource(syn_address_);
  (void)SpoofedSource(syn_address_ + sources - 1);  // throws when the range runs out
  so.source_port = static_cast<uint16_t>(syn_port_);
  syn_port_ += count;
  syn_addresses_used_ = std::max(syn_addresses_used_, sources);
  int sent = SendSyns(Ns(a.from), so);
  Log(fmt::format("sent {} unanswered SYNs to port {} from {} port {}-{}", sent, so.port,
                  sources == 1 ? so.first_source.ToString()
                               : fmt::format("{} (+{} more addresses)", so.first_source.ToString(),
                                             sources - 1),
                  so.source_port, so.source_port + sent - 1));
}

void Execution::Do(const Step&, const DropStep& a) {
  TcpMatch m = Match(a.hook, a.packets);
  sc_->Filter(a.netns).Drop(m);
  Log(fmt::format("drop '{}' in netns '{}'", m.Expression(), a.netns));
}

void Execution::Do(const Step&, const HoldStep& a) {
  TcpMatch m = Match(a.hook, a.packets);
  sc_->Hold(a.name, a.netns, m);
  Log(fmt::format("hold '{}' in netns '{}' as '{}'", m.Expression(), a.netns, a.name));
}

void Execution::Do(const Step&, const ReleaseStep& a) {
  PacketHold& h = sc_->held(a.hold);
  if (!a.keep_holding) h.StopHolding();
  size_t n = h.Release(a.count ? EvalAs<size_t>(*a.count) : SIZE_MAX);
  Log(fmt::format("released {} packets of '{}'", n, a.hold));
}

void Execution::Do(const Step&, const CaptureStep& a) {
  std::string ifname = a.interface.empty() ? sc_->InterfaceOf(a.netns) : a.interface;
  CaptureOptions co;
  co.filter = a.filter;
  co.snaplen = EvalAs<int>(a.snaplen);
  co.buffer_bytes = a.buffer_kb ? EvalAs<size_t>(*a.buffer_kb) * 1024
                                : std::min(kMaxDefaultCaptureBuffer,
                                           Capture::BufferBytesFor(LargestBurst(), co.snaplen));
  sc_->StartCapture(a.name, a.netns, ifname, co);
  Log(fmt::format("capture '{}' on '{}' in netns '{}' ({} KiB buffer, snaplen {})", a.name, ifname,
                  a.netns, co.buffer_bytes / 1024, co.snaplen));
}

void Execution::Do(const Step&, const SysctlStep& a) {
  std::string value = a.expr ? std::to_string(Eval(*a.expr)) : *a.value;
  Log(fmt::format("set {} = {} in netns '{}'", a.key, SetSysctl(Ns(a.netns), a.key, value),
                  a.netns));
}

void Execution::Do(const Step& s, const RunStep& a) {
  // The command's output goes to a file that lives as long as the case, not to pipes: a server
  // it leaves running would get SIGPIPE on its next write once the step closed them.
  Fd file(::memfd_create("nstest-run-output", MFD_CLOEXEC));
  if (!file) ThrowErrno("run: create the output file (memfd_create)");
  ProcessOptions po;
  po.argv = a.argv;
  po.timeout = Millis(a.timeout_ms);
  po.output_fd = file.get();
  ProcessResult r = RunProcess(&Ns(a.netns), po);
  // What the command wrote until it exited; what processes it left running write later is the
  // late output (Execution::LateOutput).
  struct stat st {};
  size_t at_exit = ::fstat(file.get(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  size_t from = at_exit > kRunOutputInLog ? at_exit - kRunOutputInLog : 0;
  std::string output = ReadRange(file.get(), from, at_exit);
  if (from > 0) {
    output =
        fmt::format("[... the first {} bytes are not shown here; the artifacts have all]\n", from) +
        output;
  }
  std::string command = Join(a.argv, ' ');
  Log(fmt::format("run '{}' in netns '{}': {}\n{}", command, a.netns, r.Describe(), output));
  sc_->AddOutput(fmt::format("run-{}.log", s.where.line),
                 fmt::format("run '{}' ({})", command, s.where.ToString()), std::move(file),
                 at_exit);
  int64_t want = Eval(a.exit);
  if (r.timed_out || r.exit_code != want) {
    Fail(s, fmt::format("'{}': expected exit status {}, got: {}", command, want, r.Describe()));
  }
}

Execution::Awaited Execution::Condition(const WaitQueue& q) {
  auto diag = std::make_shared<SockDiag>(Ns(q.netns));
  auto port = EvalAs<uint16_t>(q.port);
  auto want = EvalAs<uint32_t>(q.value);
  bool aq = q.queue == ListenerQueue::kAcceptQueue;
  // Until the listener exists (a server started by a `run` step may listen later), the wait goes
  // on and says so.
  auto last = std::make_shared<std::string>();
  auto done = [diag, port, want, aq, last] {
    ListenerQueues lq;
    try {
      lq = diag->Listener(port);
    } catch (const Error&) {
      *last = fmt::format("no listener on port {} yet", port);
      return false;
    }
    *last = lq.ToString();
    return (aq ? lq.accept_queue : lq.syn_recv) == want;
  };
  return {aq ? "accept_queue" : "syn_recv", done, [last] { return *last; }, nullptr};
}

Execution::Awaited Execution::Condition(const WaitCounter& c) {
  int64_t delta = Eval(c.delta);
  Scenario* sc = sc_.get();
  const std::string& ns = c.netns;
  const std::string& name = c.name;
  return {"counter", [sc, &ns, &name, delta] { return sc->CounterChanges(ns).Get(name) >= delta; },
          [sc, &ns] { return sc->CounterChanges(ns).ToString(); }, nullptr};
}

Execution::Awaited Execution::Condition(const WaitHeld& h) {
  PacketHold& hold = sc_->held(h.hold);
  auto n = EvalAs<size_t>(h.count);
  return {"held", [&hold, n] { return hold.held() >= n; },
          [&hold] { return fmt::format("{} held", hold.held()); }, nullptr};
}

Execution::Awaited Execution::Condition(const WaitPackets& p) {
  Capture& cap = sc_->capture(p.capture);
  PacketFilterSpec spec = Spec(p.packets);
  auto n = EvalAs<size_t>(p.count);
  return {"packets", [&cap, spec, n] { return cap.Count(spec) >= n; },
          [&cap, spec] { return fmt::format("{} matching", cap.Count(spec)); }, &p.capture};
}

void Execution::Do(const Step& s, const WaitStep& a) {
  Awaited w = std::visit([&](const auto& subject) { return Condition(subject); }, a.subject);
  try {
    WaitUntil(w.subject, Millis(a.timeout_ms), w.done, w.seen);
  } catch (const TimeoutError& e) {
    // A capture that dropped packets is the reason, not the timeout.
    if (w.capture != nullptr) SyncedCapture(*w.capture);
    Fail(s, e.what());
  }
  if (w.capture != nullptr) SyncedCapture(*w.capture);
}

void Execution::Do(const Step& s, const ExpectStep& a) {
  std::visit([&](const auto& subject) { Check(s, subject); }, a.subject);
}

void Execution::Check(const Step& s, const ExpectConnections& e) {
  for (const auto& [outcome, want] : e.counts) {
    int got = 0;
    for (const Connections& c : sc_->Labelled(e.label)) got += c.Count(outcome);
    Report(s, CheckCount(fmt::format("{} connections ({})", ConnectOutcomeKey(outcome), e.label),
                         Eval(want), got));
  }
}

void Execution::Check(const Step& s, const ExpectListener& e) {
  ListenerQueues q = GetListener(Ns(e.netns), EvalAs<uint16_t>(e.port));
  Log(q.ToString());
  if (e.recv_q) Report(s, CheckAcceptQueue(q, Eval(*e.recv_q)));
  if (e.send_q) Report(s, CheckBacklog(q, Eval(*e.send_q)));
  if (e.syn_recv) Report(s, CheckSynRecv(q, Eval(*e.syn_recv)));
}

void Execution::Check(const Step& s, const ExpectCounters& e) {
  CounterDelta d = sc_->CounterChanges(e.netns);
  for (const auto& [name, bounds] : e.bounds) {
    std::optional<int64_t> lo, hi;
    if (bounds.min) lo = Eval(*bounds.min);
    if (bounds.max) hi = Eval(*bounds.max);
    Report(s, CheckCounter(d, name, lo, hi));
  }
}

void Execution::Check(const Step& s, const ExpectPackets& e) {
  Capture& cap = sc_->capture(e.capture);
  PacketFilterSpec spec = Spec(e.packets);
  // Packets reach the capture a little after the kernel sent them (the capture thread reads the
  // packet socket): give it until the expected count arrives, then compare exactly.
  size_t settle = e.count ? EvalAs<size_t>(*e.count) : e.intervals_ms.size() + 1;
  try {
    cap.WaitFor(spec, settle, kCaptureSettle);
  } catch (const TimeoutError&) {
    // Compared below, with the numbers.
  }
  // Every packet the capture socket took is decoded now, and none was dropped (or this throws).
  SyncedCapture(e.capture);
  if (e.count) {
    Report(s, CheckCount(fmt::format("packets '{}'", spec.ToString()), Eval(*e.count),
                         static_cast<int64_t>(cap.Count(spec))));
  }
  if (e.intervals_ms.empty()) return;
  std::vector<double> gaps = cap.IntervalsMs(spec);
  int64_t tolerance = Eval(e.tolerance_ms);
  if (gaps.size() != e.intervals_ms.size()) {
    Fail(s, fmt::format("intervals of '{}': expected {}, got {}", spec.ToString(),
                        e.intervals_ms.size(), gaps.size()));
    return;
  }
  for (size_t i = 0; i < gaps.size(); ++i) {
    int64_t want = Eval(e.intervals_ms[i]);
    if (std::abs(gaps[i] - static_cast<double>(want)) > static_cast<double>(tolerance)) {
      Fail(s, fmt::format("interval {} of '{}': expected {} ms +- {}, got {:.1f} ms", i + 1,
                          spec.ToString(), want, tolerance, gaps[i]));
    }
  }
}

size_t Execution::LargestBurst() {
  // Packets one step can make at once, with room: a SYN and a SYN-ACK per `syns` SYN; a SYN,
  // SYN-ACK, ACK and some data and teardown per connection.
  size_t packets = 0;
  for (const Step& st : c_.test->steps) {
    try {
      if (const auto* y = std::get_if<SynsStep>(&st.action)) {
        packets = std::max(packets, 3 * EvalAs<size_t>(y->count));
      } else if (const auto* c = std::get_if<ConnectStep>(&st.action)) {
        packets = std::max(packets, 5 * EvalAs<size_t>(c->count));
      }
    } catch (const std::exception&) {
      // An expression that cannot be evaluated yet (a sysctl set later): not a burst we can size.
    }
  }
  return packets + 64;
}

}  // namespace nstest
