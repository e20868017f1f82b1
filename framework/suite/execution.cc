// Building a suite case's scenario, evaluating its expressions, and its properties.
#include "suite/execution.h"

#include <algorithm>
#include <map>
#include <set>

#include "nstest/sysctl.h"
#include "suite/step_fields.h"

namespace nstest {

namespace {

bool Ipv6(const std::string& address, Family family) {
  return family == Family::kIPv6 || address.find(':') != std::string::npos;
}

// Whether a step may send IPv6 traffic: a listener, connection or SYN of that family, or a command
// (which may do anything).
bool MayUseIpv6(const Step& s) {
  if (const auto* l = std::get_if<ListenStep>(&s.action)) return Ipv6(l->address, l->family);
  if (const auto* c = std::get_if<ConnectStep>(&s.action)) return Ipv6(c->address, c->family);
  if (const auto* y = std::get_if<SynsStep>(&s.action)) return Ipv6(y->address, y->family);
  return std::holds_alternative<RunStep>(s.action) || std::holds_alternative<StartStep>(s.action);
}

}  // namespace

void Execution::Build() {
  const Suite& suite = *c_.suite;
  ScenarioSpec spec;
  spec.await_ipv6 = std::any_of(c_.test->steps.begin(), c_.test->steps.end(), MayUseIpv6);
  for (const NamespaceSpec& n : suite.namespaces) spec.namespaces.push_back(n.name);
  for (const LinkSpec& l : suite.links) {
    spec.links.push_back(
        ScenarioLink{.a = l.a, .b = l.b, .index = l.index, .mtu = l.mtu, .ipv6 = l.ipv6});
  }
  sc_ = std::make_unique<Scenario>(spec);
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
    for (const std::string& n : sc_->names()) {
      try {
        SetSysctl(Ns(n), key, value);
      } catch (const Error& e) {
        throw Error(fmt::format("the override {}={} (--sysctl or --sysctl-file): {}", key, value,
                                e.what()));
      }
    }
  }
  sc_->ResetCounters();
  if (o_.timeline) StartTimeline();
}

void Execution::StartTimeline() {
  // The counters the case checks or waits for, per namespace, beside every listener.
  std::map<std::string, std::set<std::string>> counters;
  for (const Step& s : c_.test->steps) {
    if (const auto* w = std::get_if<WaitStep>(&s.action)) {
      if (const auto* c = std::get_if<WaitCounter>(&w->subject)) counters[c->netns].insert(c->name);
    }
    if (const auto* e = std::get_if<ExpectStep>(&s.action)) {
      if (const auto* c = std::get_if<ExpectCounters>(&e->subject)) {
        for (const auto& [name, b] : c->bounds) counters[c->netns].insert(name);
      }
    }
  }
  std::vector<Timeline::Subject> subjects;
  for (const std::string& n : sc_->names()) {
    subjects.push_back({&sc_->ns(n), {counters[n].begin(), counters[n].end()}});
  }
  timeline_ = std::make_unique<Timeline>(std::move(subjects), kTimelineEvery);
}

void Execution::RecordStep(const Step& s, const char* status, double ms) {
  steps_.push_back(fmt::format("{} {} {} {:.1f}", s.where.ToString(), s.Kind(), status, ms));
}

IpAddress Execution::AddressIn(const std::string& netns, const std::string& address,
                               Family family) {
  if (address.empty()) {
    return family == Family::kIPv6 ? sc_->Address6Of(netns) : sc_->AddressOf(netns);
  }
  if (address == "any") return WildcardAddress(family);
  return IpAddress::Parse(address);
}

ListenerSelector Execution::Selector(const ListenerChoice& which) {
  ListenerSelector s;
  s.family = which.family;
  if (which.address == "any") {
    s.address = WildcardAddress(which.family.value_or(Family::kIPv4));
  } else if (!which.address.empty()) {
    s.address = IpAddress::Parse(which.address);
  }
  if (which.index) s.index = EvalAs<uint32_t>(*which.index);
  return s;
}

int64_t Execution::Eval(const Value& v) {
  Expression::Context ctx;
  ctx.names = &c_.params;
  ctx.sysctl = [this](const Expression::SysctlRef& r) -> std::optional<int64_t> {
    std::string ns = !r.netns.empty() ? r.netns : sc_->has("server") ? "server" : sc_->names()[0];
    if (!sc_->has(ns)) throw Error(fmt::format("sysctl(\"{}\", ...): no namespace '{}'", ns, ns));
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

void Execution::Execute(const Step& s) {
  registry::EntryOf(registry::Kinds(), s.action).run(*this, s, s.action);
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

Capture& Execution::SyncedCapture(const std::string& name) {
  Capture& cap = sc_->capture(name);
  cap.Sync();
  if (std::string problem = cap.DropProblem(); !problem.empty()) {
    throw Error(
        fmt::format("capture '{}': {}: raise `buffer_kb` or narrow `filter`", name, problem));
  }
  return cap;
}

void Execution::Observe(const std::string& name, const std::string& value) {
  int seen = 0;
  for (const auto& [k, v] : observations_) {
    if (k == name || k.rfind(name + " #", 0) == 0) ++seen;
  }
  observations_.emplace_back(seen == 0 ? name : fmt::format("{} #{}", name, seen + 1), value);
}

std::vector<std::pair<std::string, std::string>> Execution::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : c_.params) out.emplace_back("param." + k, std::to_string(v));
  if (sc_) {
    for (auto& p : sc_->Properties()) out.push_back(std::move(p));
  }
  for (const auto& [k, v] : observations_) out.emplace_back("observed." + k, v);
  for (size_t i = 0; i < steps_.size(); ++i)
    out.emplace_back(fmt::format("step.{}", i + 1), steps_[i]);
  if (timeline_) {
    if (std::string t = timeline_->Encode(kTimelineSamples); !t.empty()) {
      out.emplace_back("timeline", t);
    }
  }
  if (sc_) {
    for (const std::string& name : sc_->CaptureNames()) CapturePackets(name, &out);
  }
  return out;
}

void Execution::CapturePackets(const std::string& name,
                               std::vector<std::pair<std::string, std::string>>* out) const {
  std::vector<Packet> packets = sc_->capture(name).Packets();
  std::string lines;
  size_t shown = std::min(packets.size(), kLadderPackets);
  for (size_t i = 0; i < shown; ++i) {
    const Packet& p = packets[i];
    std::string from = sc_->NamespaceOf(p.src);
    std::string to = sc_->NamespaceOf(p.dst);
    lines += fmt::format(
        "{} {} {} {} {}:{}>{}:{} {};",
        std::chrono::duration_cast<std::chrono::microseconds>(p.time - packets[0].time).count(),
        from.empty() ? "-" : from, to.empty() ? "-" : to, FlagString(p.flags), p.src.ToString(),
        p.sport, p.dst.ToString(), p.dport, p.payload);
  }
  out->emplace_back(fmt::format("capture.{}.count", name), std::to_string(packets.size()));
  out->emplace_back(fmt::format("capture.{}", name), lines);
}

}  // namespace nstest
