#include "nstest/case_runner.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>

#include "nstest/capture.h"
#include "nstest/counters.h"
#include "nstest/impair.h"
#include "nstest/link.h"
#include "nstest/peer.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/sockdiag.h"
#include "nstest/synsource.h"
#include "nstest/sysctl.h"
#include "nstest/wait.h"
#include "src/strings.h"

namespace nstest {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kCaptureSettle{2000};
constexpr uint32_t kFirstSynPort = 40000;
constexpr size_t kRunOutputInLog = 64 * 1024;
constexpr size_t kMaxDefaultCaptureBuffer = size_t{256} << 20;
constexpr size_t kLateOutputLines = 20;

// One case's namespaces, peers and observations. Members are destroyed in reverse order:
// holds, captures and peers before the filters and namespaces they live in.
class Execution {
 public:
  Execution(const Case& c, const RunOptions& o) : c_(c), o_(o) {}

  void Build();
  void RunStep(const Step& s);
  // Throws Error if a listener's acceptor stopped early (out of descriptors or memory).
  void CheckListeners();
  void Diagnose(std::string* log);
  void KeepNamespaces(std::string* log);
  // Writes the captures and the output of `run` steps into the artifacts folder.
  void WriteCaptures(std::string* log);
  // The last lines processes left running by `run` steps wrote after their step.
  void LateOutput(std::string* log);
  const std::vector<std::string>& failures() const { return failures_; }
  std::vector<std::pair<std::string, std::string>> Properties() const;
  void Log(const std::string& line) { log_ += line + "\n"; }
  const std::string& log() const { return log_; }

 private:
  Netns& Ns(const std::string& name) { return *ns_.at(name); }
  int64_t Num(const Step& s, const std::string& key, int64_t fallback);
  int64_t Eval(const Value& v);
  TcpMatch Match(const Step& s);
  PacketFilterSpec Spec(const Step& s);
  PacketFilter& Filter(const std::string& ns);
  void Fail(const Step& s, const std::string& what) {
    failures_.push_back(fmt::format("{}: {}", s.where.ToString(), what));
  }
  void Check(const Step& s, const std::string& what, int64_t expected, int64_t actual) {
    if (expected != actual) Fail(s, fmt::format("{}: expected {}, got {}", what, expected, actual));
  }
  void Listen(const Step& s);
  void Connect(const Step& s);
  void Syns(const Step& s);
  void Run(const Step& s);
  void Wait(const Step& s);
  void StartCapture(const Step& s);
  size_t LargestBurst();
  size_t Count(const Step& s, const std::string& key);
  // The capture `name` with every packet it took decoded; throws Error if it dropped any.
  Capture& SyncedCapture(const std::string& name);
  std::string ArtifactPath(const std::string& what) const;
  void Expect(const Step& s);
  void ExpectPackets(const Step& s);

  const Case& c_;
  const RunOptions& o_;
  std::string log_;
  std::vector<std::string> failures_;
  std::map<std::string, std::unique_ptr<Netns>> ns_;
  std::vector<std::string> order_;
  std::map<std::string, IpAddress> address_;
  std::map<std::string, std::string> ifname_;
  std::map<std::string, Counters> start_;
  std::map<std::string, std::unique_ptr<PacketFilter>> filters_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<std::string, std::vector<Connections>> connections_;
  std::map<std::string, std::unique_ptr<Capture>> captures_;
  std::map<std::string, std::unique_ptr<PacketHold>> holds_;
  uint16_t next_queue_ = 1;
  bool spoofed_ = false;
  // Where the next `syns` step's sources start, so that no SYN of a case reuses the source
  // address and port of an earlier one (the server would answer it as a retransmission).
  uint32_t syn_port_ = kFirstSynPort;
  uint32_t syn_address_ = 1;
  uint32_t syn_addresses_used_ = 0;
  // Output of `run` steps: what their commands, and processes they left running, wrote.
  struct RunOutput {
    SourcePos where;
    std::string command;
    Fd file;
    size_t at_exit = 0;  // bytes written until the command exited
  };
  std::vector<RunOutput> run_outputs_;
};

void Execution::Build() {
  const Suite& suite = *c_.suite;
  for (const NamespaceSpec& n : suite.namespaces) {
    ns_[n.name] = std::make_unique<Netns>(Netns::Create(n.name));
    order_.push_back(n.name);
  }
  std::map<std::string, int> interfaces;
  for (const LinkSpec& l : suite.links) {
    std::string a_if = fmt::format("eth{}", interfaces[l.a]++);
    std::string b_if = fmt::format("eth{}", interfaces[l.b]++);
    VethOptions vo;
    vo.mtu = l.mtu;
    AddVethPair(Ns(l.a), a_if, Ns(l.b), b_if, vo);
    DefaultAddresses d = DefaultPairAddresses(l.index);
    AddAddress(Ns(l.a), a_if, d.a_v4);
    AddAddress(Ns(l.b), b_if, d.b_v4);
    address_.emplace(l.a, d.a_v4.address);
    address_.emplace(l.b, d.b_v4.address);
    ifname_.emplace(l.a, a_if);
    ifname_.emplace(l.b, b_if);
    if (l.ipv6) {
      AddAddress(Ns(l.a), a_if, d.a_v6);
      AddAddress(Ns(l.b), b_if, d.b_v6);
    }
    WaitLinkOperUp(Ns(l.a), a_if, milliseconds(5000));
    WaitLinkOperUp(Ns(l.b), b_if, milliseconds(5000));
    if (l.ipv6) {
      WaitAddressUsable(Ns(l.a), a_if, d.a_v6, milliseconds(5000));
      WaitAddressUsable(Ns(l.b), b_if, d.b_v6, milliseconds(5000));
    }
  }
  // A write the kernel refuses names where the value came from: the suite's line, or the flag.
  for (const auto* list : {&suite.sysctls, &c_.test->sysctls}) {
    for (const SysctlSetting& s : *list) {
      try {
        SetSysctl(Ns(s.netns), s.key, s.value);
      } catch (const Error& e) {
        throw Error(fmt::format("{}: {}", s.where.ToString(), e.what()));
      }
    }
  }
  for (const auto& [key, value] : o_.sysctls) {
    for (const std::string& n : order_) {
      try {
        SetSysctl(Ns(n), key, value);
      } catch (const Error& e) {
        throw Error(fmt::format("the override {}={} (--sysctl or --sysctl-file): {}", key, value,
                                e.what()));
      }
    }
  }
  for (const std::string& n : order_) start_.emplace(n, Counters::Read(Ns(n)));
}

int64_t Execution::Eval(const Value& v) {
  Expression::Context ctx;
  ctx.names = &c_.params;
  ctx.sysctl = [this](const Expression::SysctlRef& r) -> std::optional<int64_t> {
    std::string ns = !r.netns.empty() ? r.netns : ns_.count("server") ? "server" : order_[0];
    if (ns_.count(ns) == 0)
      throw Error(fmt::format("sysctl(\"{}\", ...): no namespace '{}'", ns, ns));
    // Without a default, a missing key is an error that suggests a near name.
    std::optional<std::string> found =
        r.has_default ? FindSysctl(Ns(ns), r.key) : GetSysctl(Ns(ns), r.key);
    if (!found) return std::nullopt;
    const std::string& text = *found;
    char* end = nullptr;
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0') {
      throw Error(fmt::format("sysctl '{}' in netns '{}' is '{}', not a number", r.key, ns, text));
    }
    return n;
  };
  return v.expr.Evaluate(ctx);
}

int64_t Execution::Num(const Step& s, const std::string& key, int64_t fallback) {
  auto it = s.numbers.find(key);
  return it == s.numbers.end() ? fallback : Eval(it->second);
}

TcpMatch Execution::Match(const Step& s) {
  TcpMatch m;
  m.hook = s.strings.count("hook") != 0 && s.strings.at("hook") == "input" ? Hook::kInput
                                                                           : Hook::kOutput;
  PacketFilterSpec spec = Spec(s);
  m.flags_mask = spec.flags_mask;
  m.flags_value = spec.flags_value;
  m.dport = static_cast<uint16_t>(Num(s, "dport", 0));
  m.sport_min = static_cast<uint16_t>(Num(s, "sport_min", Num(s, "sport", 0)));
  m.sport_max = static_cast<uint16_t>(Num(s, "sport_max", Num(s, "sport", m.sport_min)));
  return m;
}

PacketFilterSpec Execution::Spec(const Step& s) {
  PacketFilterSpec spec;
  const std::string& m = s.strings.at("match");
  constexpr uint8_t kFin = tcp_flags::kFin, kSyn = tcp_flags::kSyn, kRst = tcp_flags::kRst,
                    kPsh = tcp_flags::kPsh, kAck = tcp_flags::kAck;
  if (m == "handshake-ack") {
    spec.flags_mask = kFin | kSyn | kRst | kPsh | kAck;
    spec.flags_value = kAck;
  } else if (m == "syn-ack") {
    spec.flags_mask = kSyn | kAck | kRst | kFin;
    spec.flags_value = kSyn | kAck;
  } else if (m == "syn") {
    spec.flags_mask = kSyn | kAck;
    spec.flags_value = kSyn;
  } else if (m == "rst") {
    spec.flags_mask = kRst;
    spec.flags_value = kRst;
  } else if (m == "ack") {
    spec.flags_mask = kAck;
    spec.flags_value = kAck;
  }
  if (int64_t p = Num(s, "dport", 0); p != 0) spec.dport = static_cast<uint16_t>(p);
  if (int64_t p = Num(s, "sport", 0); p != 0) spec.sport = static_cast<uint16_t>(p);
  return spec;
}

PacketFilter& Execution::Filter(const std::string& ns) {
  auto& f = filters_[ns];
  if (!f) f = std::make_unique<PacketFilter>(Ns(ns));
  return *f;
}

void Execution::Listen(const Step& s) {
  ListenerOptions lo;
  lo.address = s.address.empty()    ? address_.at(s.netns)
               : s.address == "any" ? IpAddress()
                                    : IpAddress::Parse(s.address);
  lo.port = static_cast<uint16_t>(Num(s, "port", 0));
  lo.backlog = static_cast<int>(Num(s, "backlog", 0));
  const std::string& a = s.strings.at("accept");
  lo.accept = a == "all"         ? AcceptPolicy::kAll
              : a == "first-n"   ? AcceptPolicy::kFirstN
              : a == "on-demand" ? AcceptPolicy::kOnDemand
                                 : AcceptPolicy::kNever;
  lo.accept_limit = static_cast<int>(Num(s, "accept_limit", 0));
  listeners_.push_back(std::make_unique<Listener>(Ns(s.netns), lo));
  Log(fmt::format("listen(backlog={}) on {} in netns '{}', accept {}", lo.backlog,
                  FormatEndpoint(lo.address, lo.port), s.netns, a));
}

void Execution::CheckListeners() {
  for (const auto& l : listeners_) {
    if (std::string why = l->error(); !why.empty()) {
      throw Error(
          fmt::format("listener on port {} in netns '{}': {}", l->port(), l->netns_name(), why));
    }
  }
}

void Execution::Connect(const Step& s) {
  ConnectOptions o;
  o.address = s.address.empty() ? address_.at(s.peer) : IpAddress::Parse(s.address);
  o.port = static_cast<uint16_t>(Num(s, "port", 0));
  o.count = static_cast<int>(Num(s, "count", 1));
  o.mode = s.strings.at("mode") == "burst" ? ConnectMode::kBurst : ConnectMode::kSequential;
  o.deadline = milliseconds(Num(s, "deadline_ms", 5000));
  o.source_port = static_cast<uint16_t>(Num(s, "source_port", 0));
  o.read_for = milliseconds(Num(s, "read_ms", 0));
  o.send = s.strings.at("send");
  o.stop_at_first_failure = s.flags.at("stop_at_first_failure");
  Connections c = nstest::Connect(Ns(s.netns), o);
  Log(fmt::format("connect {}x to {} from netns '{}' ({}): {}", o.count,
                  FormatEndpoint(o.address, o.port), s.netns, s.strings.at("mode"), c.Summary()));
  connections_[s.strings.at("label")].push_back(std::move(c));
}

void Execution::Syns(const Step& s) {
  if (!spoofed_) {
    PrepareSpoofedSource(Ns(s.peer), Ns(s.netns), address_.at(s.netns));
    spoofed_ = true;
  }
  SynOptions so;
  so.destination = address_.at(s.peer);
  so.port = static_cast<uint16_t>(Num(s, "port", 0));
  so.count = static_cast<int>(Num(s, "count", 1));
  so.source_addresses = static_cast<int>(Num(s, "sources", so.count));
  auto count = static_cast<uint32_t>(so.count);
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
  int sent = SendSyns(Ns(s.netns), so);
  Log(fmt::format("sent {} unanswered SYNs to port {} from {} port {}-{}", sent, so.port,
                  sources == 1 ? so.first_source.ToString()
                               : fmt::format("{} (+{} more addresses)", so.first_source.ToString(),
                                             sources - 1),
                  so.source_port, so.source_port + sent - 1));
}

// Up to `max` bytes of what `fd` holds from offset `from` on, the last ones if there are more.
std::string ReadTail(int fd, size_t from, size_t max) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) <= from) return "";
  auto size = static_cast<size_t>(st.st_size);
  size_t start = size - from > max ? size - max : from;
  std::string out(size - start, '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(start));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

void Execution::Run(const Step& s) {
  // The command's output goes to a file that lives as long as the case, not to pipes: a server
  // it leaves running would get SIGPIPE on its next write once the step closed them.
  Fd file(::memfd_create("nstest-run-output", MFD_CLOEXEC));
  if (!file) ThrowErrno("run: create the output file (memfd_create)");
  ProcessOptions po;
  po.argv = s.argv;
  po.timeout = milliseconds(Num(s, "timeout_ms", 10000));
  po.output_fd = file.get();
  ProcessResult r = RunProcess(&Ns(s.netns), po);
  std::string output = ReadTail(file.get(), 0, kRunOutputInLog);
  Log(fmt::format("run '{}' in netns '{}': {}\n{}", Join(s.argv, ' '), s.netns, r.Describe(),
                  output));
  struct stat st {};
  size_t at_exit = ::fstat(file.get(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  run_outputs_.push_back(RunOutput{s.where, Join(s.argv, ' '), std::move(file), at_exit});
  int64_t want = Num(s, "exit", 0);
  if (r.timed_out || r.exit_code != want) {
    Fail(s, fmt::format("'{}': expected exit status {}, got: {}", Join(s.argv, ' '), want,
                        r.Describe()));
  }
}

size_t Execution::LargestBurst() {
  // Packets one step can make at once, with room: a SYN and a SYN-ACK per `syns` SYN; a SYN,
  // SYN-ACK, ACK and some data and teardown per connection.
  size_t packets = 0;
  for (const Step& st : c_.test->steps) {
    try {
      if (st.kind == Step::Kind::kSyns) packets = std::max(packets, 3 * Count(st, "count"));
      if (st.kind == Step::Kind::kConnect) packets = std::max(packets, 5 * Count(st, "count"));
    } catch (const std::exception&) {
      // An expression that cannot be evaluated yet (a sysctl set later): not a burst we can size.
    }
  }
  return packets + 64;
}

size_t Execution::Count(const Step& s, const std::string& key) {
  return static_cast<size_t>(std::max<int64_t>(0, Num(s, key, 1)));
}

void Execution::StartCapture(const Step& s) {
  std::string ifname =
      s.strings.at("interface").empty() ? ifname_.at(s.netns) : s.strings.at("interface");
  CaptureOptions co;
  co.filter = s.strings.at("filter");
  co.snaplen = static_cast<int>(Num(s, "snaplen", co.snaplen));
  co.buffer_bytes =
      s.numbers.count("buffer_kb") != 0
          ? static_cast<size_t>(Num(s, "buffer_kb", 0)) * 1024
          : std::min(kMaxDefaultCaptureBuffer, Capture::BufferBytesFor(LargestBurst(), co.snaplen));
  const std::string& name = s.strings.at("name");
  captures_[name] = std::make_unique<Capture>(Ns(s.netns), ifname, co);
  Log(fmt::format("capture '{}' on '{}' in netns '{}' ({} KiB buffer, snaplen {})", name, ifname,
                  s.netns, co.buffer_bytes / 1024, co.snaplen));
}

Capture& Execution::SyncedCapture(const std::string& name) {
  Capture& cap = *captures_.at(name);
  cap.Sync();
  if (std::string problem = cap.DropProblem(); !problem.empty()) {
    throw Error(
        fmt::format("capture '{}': {}: raise `buffer_kb` or narrow `filter`", name, problem));
  }
  return cap;
}

void Execution::Wait(const Step& s) {
  milliseconds timeout(Num(s, "timeout_ms", 5000));
  std::function<bool()> done;
  std::function<std::string()> seen;
  std::optional<SockDiag> diag;
  if (s.subject == "accept_queue" || s.subject == "syn_recv") {
    diag.emplace(Ns(s.netns));
    auto port = static_cast<uint16_t>(Num(s, "port", 0));
    auto want = static_cast<uint32_t>(Num(s, "value", 0));
    bool aq = s.subject == "accept_queue";
    // Until the listener exists (a server started by a `run` step may listen later), the wait
    // goes on and says so.
    auto last = std::make_shared<std::string>();
    done = [&, port, want, aq, last] {
      ListenerQueues q;
      try {
        q = diag->Listener(port);
      } catch (const Error&) {
        *last = fmt::format("no listener on port {} yet", port);
        return false;
      }
      *last = q.ToString();
      return (aq ? q.accept_queue : q.syn_recv) == want;
    };
    seen = [last] { return *last; };
  } else if (s.subject == "counter") {
    const std::string& name = s.strings.at("name");
    int64_t delta = Num(s, "delta", 0);
    done = [&, delta] {
      return Counters::Read(Ns(s.netns)).Since(start_.at(s.netns)).Get(name) >= delta;
    };
    seen = [&] { return Counters::Read(Ns(s.netns)).Since(start_.at(s.netns)).ToString(); };
  } else if (s.subject == "held") {
    PacketHold& h = *holds_.at(s.strings.at("hold"));
    auto n = static_cast<size_t>(Num(s, "count", 1));
    done = [&h, n] { return h.held() >= n; };
    seen = [&h] { return fmt::format("{} held", h.held()); };
  } else {
    Capture& cap = *captures_.at(s.strings.at("capture"));
    PacketFilterSpec spec = Spec(s);
    auto n = static_cast<size_t>(Num(s, "count", 1));
    done = [&cap, spec, n] { return cap.Count(spec) >= n; };
    seen = [&cap, spec] { return fmt::format("{} matching", cap.Count(spec)); };
  }
  try {
    WaitUntil(s.subject, timeout, done, seen);
  } catch (const TimeoutError& e) {
    // A capture that dropped packets is the reason, not the timeout.
    if (s.subject == "packets") SyncedCapture(s.strings.at("capture"));
    Fail(s, e.what());
  }
  if (s.subject == "packets") SyncedCapture(s.strings.at("capture"));
}

void Execution::Expect(const Step& s) {
  if (s.subject == "connections") {
    int counts[6] = {};
    const char* names[] = {"established", "refused", "timed_out", "reset", "pending", "error"};
    ConnectResult outcomes[] = {ConnectResult::kEstablished, ConnectResult::kRefused,
                                ConnectResult::kTimedOut,    ConnectResult::kReset,
                                ConnectResult::kPending,     ConnectResult::kError};
    for (const Connections& c : connections_[s.strings.at("label")]) {
      for (int i = 0; i < 6; ++i) counts[i] += c.Count(outcomes[i]);
    }
    for (int i = 0; i < 6; ++i) {
      if (s.numbers.count(names[i]) != 0) {
        Check(s, fmt::format("{} connections ({})", names[i], s.strings.at("label")),
              Num(s, names[i], 0), counts[i]);
      }
    }
  } else if (s.subject == "listener") {
    ListenerQueues q = GetListener(Ns(s.netns), static_cast<uint16_t>(Num(s, "port", 0)));
    Log(q.ToString());
    if (s.numbers.count("recv_q") != 0)
      Check(s, "Recv-Q (accept queue)", Num(s, "recv_q", 0), q.accept_queue);
    if (s.numbers.count("send_q") != 0)
      Check(s, "Send-Q (backlog)", Num(s, "send_q", 0), q.max_accept_queue);
    if (s.numbers.count("syn_recv") != 0) Check(s, "SYN-RECV", Num(s, "syn_recv", 0), q.syn_recv);
  } else if (s.subject == "counters") {
    CounterDelta d = Counters::Read(Ns(s.netns)).Since(start_.at(s.netns));
    for (const auto& [name, range] : s.bounds) {
      int64_t got = d.Get(name);
      std::optional<int64_t> lo, hi;
      if (range.first) lo = Eval(*range.first);
      if (range.second) hi = Eval(*range.second);
      if (lo && hi && *lo == *hi) {
        Check(s, fmt::format("{} in netns '{}'", name, s.netns), *lo, got);
      } else if ((lo && got < *lo) || (hi && got > *hi)) {
        Fail(s,
             fmt::format("{} in netns '{}': expected {} to {}, got {}", name, s.netns,
                         lo ? std::to_string(*lo) : "-inf", hi ? std::to_string(*hi) : "inf", got));
      }
    }
  } else {
    ExpectPackets(s);
  }
}

void Execution::ExpectPackets(const Step& s) {
  Capture& cap = *captures_.at(s.strings.at("capture"));
  PacketFilterSpec spec = Spec(s);
  // Packets reach the capture a little after the kernel sent them (the capture thread reads the
  // packet socket): give it until the expected count arrives, then compare exactly.
  size_t settle =
      s.numbers.count("count") != 0 ? static_cast<size_t>(Num(s, "count", 0)) : s.list.size() + 1;
  try {
    cap.WaitFor(spec, settle, kCaptureSettle);
  } catch (const TimeoutError&) {
    // Compared below, with the numbers.
  }
  // Every packet the capture socket took is decoded now, and none was dropped (or this throws).
  SyncedCapture(s.strings.at("capture"));
  if (s.numbers.count("count") != 0) {
    Check(s, fmt::format("packets '{}'", spec.ToString()), Num(s, "count", 0),
          static_cast<int64_t>(cap.Count(spec)));
  }
  if (s.list.empty()) return;
  std::vector<double> gaps = cap.IntervalsMs(spec);
  int64_t tolerance = Num(s, "tolerance_ms", 0);
  if (gaps.size() != s.list.size()) {
    Fail(s, fmt::format("intervals of '{}': expected {}, got {}", spec.ToString(), s.list.size(),
                        gaps.size()));
    return;
  }
  for (size_t i = 0; i < gaps.size(); ++i) {
    int64_t want = Eval(s.list[i]);
    if (std::abs(gaps[i] - static_cast<double>(want)) > static_cast<double>(tolerance)) {
      Fail(s, fmt::format("interval {} of '{}': expected {} ms +- {}, got {:.1f} ms", i + 1,
                          spec.ToString(), want, tolerance, gaps[i]));
    }
  }
}

void Execution::RunStep(const Step& s) {
  switch (s.kind) {
    case Step::Kind::kListen:
      return Listen(s);
    case Step::Kind::kConnect:
      return Connect(s);
    case Step::Kind::kRead: {
      for (Connections& c : connections_.at(s.strings.at("label"))) {
        c.Read(milliseconds(Num(s, "timeout_ms", 0)));
        Log(fmt::format("read from '{}': {}", s.strings.at("label"), c.Summary()));
      }
      return;
    }
    case Step::Kind::kAccept: {
      auto port = static_cast<uint16_t>(Num(s, "port", 0));
      for (auto& l : listeners_) {
        if (l->port() == port && l->netns_name() == s.netns) {
          int n = l->Accept(static_cast<int>(Num(s, "count", 1)),
                            milliseconds(Num(s, "timeout_ms", 5000)));
          Log(fmt::format("accepted {} on port {}", n, port));
          return;
        }
      }
      throw Error(fmt::format("accept: no listener on port {} in netns '{}'", port, s.netns));
    }
    case Step::Kind::kSyns:
      return Syns(s);
    case Step::Kind::kDrop: {
      TcpMatch m = Match(s);
      Filter(s.netns).Drop(m);
      Log(fmt::format("drop '{}' in netns '{}'", m.Expression(), s.netns));
      return;
    }
    case Step::Kind::kHold: {
      TcpMatch m = Match(s);
      holds_[s.strings.at("name")] =
          std::make_unique<PacketHold>(Filter(s.netns), m, next_queue_++);
      Log(fmt::format("hold '{}' in netns '{}' as '{}'", m.Expression(), s.netns,
                      s.strings.at("name")));
      return;
    }
    case Step::Kind::kRelease: {
      PacketHold& h = *holds_.at(s.strings.at("hold"));
      if (!s.flags.at("keep_holding")) h.StopHolding();
      size_t n = h.Release(s.numbers.count("count") != 0 ? static_cast<size_t>(Num(s, "count", 0))
                                                         : SIZE_MAX);
      Log(fmt::format("released {} packets of '{}'", n, s.strings.at("hold")));
      return;
    }
    case Step::Kind::kCapture:
      return StartCapture(s);
    case Step::Kind::kSysctl: {
      std::string value =
          s.numbers.count("expr") != 0 ? std::to_string(Num(s, "expr", 0)) : s.strings.at("value");
      Log(fmt::format("set {} = {} in netns '{}'", s.strings.at("key"),
                      SetSysctl(Ns(s.netns), s.strings.at("key"), value), s.netns));
      return;
    }
    case Step::Kind::kRun:
      return Run(s);
    case Step::Kind::kWait:
      return Wait(s);
    case Step::Kind::kExpect:
      return Expect(s);
  }
}

void Execution::Diagnose(std::string* log) {
  for (const std::string& n : order_) {
    Netns& ns = Ns(n);
    *log += fmt::format("netns '{}':\n", n);
    for (const auto& [k, v] : ns.effective_sysctls())
      *log += fmt::format("  sysctl {} = {}\n", k, v);
    try {
      auto base = start_.find(n);
      *log += base == start_.end()
                  ? std::string("  counters: (no baseline: the case stopped before its steps)\n")
                  : "  counters: " + Counters::Read(ns).Since(base->second).ToString() + "\n";
      for (const TcpSocketInfo& t : SockDiag(ns).Dump(1u << static_cast<int>(TcpState::kListen))) {
        ListenerQueues q = GetListener(ns, t.local_port);
        *log += "  " + q.ToString() + "\n";
      }
    } catch (const std::exception& e) {
      *log += fmt::format("  ({})\n", e.what());
    }
  }
}

void Execution::KeepNamespaces(std::string* log) {
  std::string tag = MakeRunTag();
  for (const std::string& n : order_) {
    try {
      std::string path = Ns(n).BindMount(tag);
      Ns(n).KeepBindMount();
      *log += fmt::format("kept netns '{}': ip netns exec {} bash\n", n,
                          path.substr(path.rfind('/') + 1));
    } catch (const Error& e) {
      *log += fmt::format("could not keep netns '{}': {}\n", n, e.what());
    }
  }
}

std::string Execution::ArtifactPath(const std::string& what) const {
  std::string file = c_.FullName() + "." + what;
  for (char& ch : file) {
    if (ch == '/' || ch == '=' || ch == ',') ch = '_';
  }
  return o_.artifacts_dir + "/" + file;
}

void Execution::WriteCaptures(std::string* log) {
  if (o_.artifacts_dir.empty() || (captures_.empty() && run_outputs_.empty())) return;
  ::mkdir(o_.artifacts_dir.c_str(), 0755);
  for (const auto& [name, cap] : captures_) {
    std::string path = ArtifactPath(name + ".pcap");
    try {
      cap->WritePcap(path);
      *log += fmt::format("capture '{}' written to {}\n", name, path);
    } catch (const Error& e) {
      *log += fmt::format("capture '{}': {}\n", name, e.what());
    }
  }
  for (const RunOutput& r : run_outputs_) {
    std::string path = ArtifactPath(fmt::format("run-{}.log", r.where.line));
    std::string text = ReadTail(r.file.get(), 0, SIZE_MAX);
    std::ofstream out(path, std::ios::binary);
    out << text;
    *log += out ? fmt::format("output of run '{}' written to {}\n", r.command, path)
                : fmt::format("output of run '{}': cannot write {}\n", r.command, path);
  }
}

void Execution::LateOutput(std::string* log) {
  for (const RunOutput& r : run_outputs_) {
    std::string late = ReadTail(r.file.get(), r.at_exit, kRunOutputInLog);
    if (late.empty()) continue;
    std::vector<std::string> lines = Split(late, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    size_t first = lines.size() > kLateOutputLines ? lines.size() - kLateOutputLines : 0;
    *log += fmt::format(
        "output of run '{}' ({}) after it exited, from what it left running (last {} lines):\n",
        r.command, r.where.ToString(), lines.size() - first);
    for (size_t i = first; i < lines.size(); ++i) *log += "  " + lines[i] + "\n";
  }
}

std::vector<std::pair<std::string, std::string>> Execution::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : c_.params) out.emplace_back("param." + k, std::to_string(v));
  for (const std::string& n : order_) {
    for (const auto& [k, v] : ns_.at(n)->effective_sysctls())
      out.emplace_back(fmt::format("sysctl.{}.{}", n, k), v);
  }
  return out;
}

}  // namespace

std::string CaseSkipReason(const Case& c) {
  const TestSpec& t = *c.test;
  const PreflightReport& p = CachedPreflight();
  if (std::string why = p.NamespaceSkipReason(); !why.empty()) return why;
  for (const std::string& f : t.requires_features) {
    if (std::string why = p.MissingReason(*FeatureFromName(f)); !why.empty()) return "needs " + why;
  }
  if (!t.min_kernel.empty() && !KernelAtLeast(p.kernel_release, t.min_kernel)) {
    return fmt::format("needs kernel {} or later, this is {}", t.min_kernel, p.kernel_release);
  }
  return "";
}

bool KernelAtLeast(const std::string& release, const std::string& minimum) {
  auto parts = [](const std::string& s) {
    std::vector<long> v;
    size_t i = 0;
    while (i < s.size() && v.size() < 3 && std::isdigit(static_cast<unsigned char>(s[i]))) {
      v.push_back(std::strtol(s.c_str() + i, nullptr, 10));
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      if (i < s.size() && s[i] == '.') ++i;
    }
    v.resize(3, 0);
    return v;
  };
  return parts(release) >= parts(minimum);
}

CaseResult RunCase(const Case& c, const RunOptions& options) {
  CaseResult r;
  if (std::string why = options.skip_checked ? "" : CaseSkipReason(c); !why.empty()) {
    r.status = CaseStatus::kSkipped;
    r.message = why;
    return r;
  }
  Execution e(c, options);
  try {
    e.Build();
    for (const Step& s : c.test->steps) {
      try {
        e.RunStep(s);
        e.CheckListeners();
      } catch (const Error& ex) {
        throw Error(
            fmt::format("{}: step '{}': {}", s.where.ToString(), StepKindName(s.kind), ex.what()));
      } catch (const std::exception& ex) {
        // Not an error the library describes (e.g. std::out_of_range): a defect of nstest.
        throw Error(fmt::format("{}: step '{}': internal error ({}); please report it",
                                s.where.ToString(), StepKindName(s.kind), ex.what()));
      }
    }
  } catch (const std::exception& ex) {
    r.status = CaseStatus::kError;
    r.message = ex.what();
  }
  const std::vector<std::string>& failures = e.failures();
  if (r.status != CaseStatus::kError && !failures.empty()) {
    r.status = CaseStatus::kFailed;
    r.message = failures[0] +
                (failures.size() > 1 ? fmt::format(" (and {} more)", failures.size() - 1) : "");
  }
  for (const std::string& f : failures) r.detail += f + "\n";
  if (r.status == CaseStatus::kError) r.detail += r.message + "\n";
  std::string log = e.log();
  e.Diagnose(&log);  // every case's report carries its sysctls, counter changes and listeners
  if (r.status != CaseStatus::kPassed) {
    e.LateOutput(&log);
    e.WriteCaptures(&log);
    if (options.keep_namespaces) e.KeepNamespaces(&log);
  }
  r.log = log;
  r.properties = e.Properties();
  const std::string& xfail = c.test->xfail;
  if (!xfail.empty()) {
    if (r.status == CaseStatus::kFailed) {
      r.status = CaseStatus::kSkipped;
      r.message = fmt::format("expected failure ({}): {}", xfail, r.message);
    } else if (r.status == CaseStatus::kPassed) {
      r.status = CaseStatus::kFailed;
      r.message =
          fmt::format("passed, but is marked as an expected failure ({}); remove the mark", xfail);
    }
  }
  return r;
}

}  // namespace nstest
