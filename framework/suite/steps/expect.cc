// The `expect` step and its subjects: each subject declared once with its fields, and beside it
// the check it makes (worded by nstest/checks.h, as the GoogleTest matchers are).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "nstest/checks.h"
#include "nstest/sockdiag.h"
#include "nstest/sysctl.h"
#include "nstest/wait.h"
#include "suite/step_fields.h"

namespace nstest::registry {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kCaptureSettle{2000};

void CheckConnections(Execution& x, const Step& s, const ExpectConnections& e) {
  for (const auto& [outcome, want] : e.counts) {
    int got = 0;
    for (const Connections& c : x.sc().Labelled(e.label)) got += c.Count(outcome);
    std::optional<int64_t> lo, hi;
    if (want.min) lo = x.Eval(*want.min);
    if (want.max) hi = x.Eval(*want.max);
    std::string what = fmt::format("{} connections ({})", ConnectOutcomeKey(outcome), e.label);
    x.Report(s,
             lo && hi && *lo == *hi ? CheckCount(what, *lo, got) : CheckBounds(what, lo, hi, got));
  }
  std::optional<int64_t> lo, hi;
  if (e.duration_min) lo = x.Eval(*e.duration_min);
  if (e.duration_max) hi = x.Eval(*e.duration_max);
  int index = 0;
  std::optional<double> fastest, slowest;
  bool durations_ok = true;
  for (const Connections& c : x.sc().Labelled(e.label)) {
    for (const ConnectionResult& r : c.results()) {
      std::string which =
          fmt::format("connection {} ({}, {})", index++, e.label, ConnectResultName(r.outcome));
      if (e.received && r.received != *e.received) {
        x.Fail(s, fmt::format("what {} received: expected {}, got {}", which,
                              TomlQuoted(*e.received), TomlQuoted(r.received)));
      }
      if (!lo && !hi) continue;
      double ms = r.milliseconds();
      fastest = std::min(ms, fastest.value_or(ms));
      slowest = std::max(ms, slowest.value_or(ms));
      if ((lo && ms < static_cast<double>(*lo)) || (hi && ms > static_cast<double>(*hi))) {
        durations_ok = false;
        x.Fail(s, fmt::format("duration of {}: expected {} ms, got {:.1f} ms", which,
                              CheckBounds("", lo, hi, 0).expected, ms));
      }
    }
  }
  if (fastest) {
    // What was measured goes in the report, also when it holds.
    std::string got = *fastest == *slowest ? fmt::format("{:.1f} ms", *fastest)
                                           : fmt::format("{:.1f} to {:.1f} ms", *fastest, *slowest);
    std::string range = CheckBounds("", lo, hi, 0).expected + " ms";
    x.Observe(fmt::format("duration_ms of connections ({})", e.label),
              durations_ok ? WithinRange(got, range) : got);
  }
}

void CheckSysctlValue(Execution& x, const Step& s, const ExpectSysctl& e) {
  std::string got = GetSysctl(x.Ns(e.netns), e.key);
  x.Report(s, CheckResult{NormalizeSpaces(got) == NormalizeSpaces(e.value),
                          fmt::format("sysctl {} in netns '{}'", e.key, e.netns),
                          "'" + e.value + "'", "'" + got + "'"});
}

void CheckListener(Execution& x, const Step& s, const ExpectListener& e) {
  ListenerQueues q =
      x.sc().ListenerOn(e.netns, x.EvalAs<uint16_t>(e.port), x.Selector(e.which), kPickListener);
  x.Log(q.ToString());
  std::string about =
      fmt::format("listener {} in netns '{}'", FormatEndpoint(q.address, q.port), e.netns);
  if (q.group > 1) about += fmt::format(" (SO_REUSEPORT {})", q.index);
  if (e.recv_q) x.Report(s, CheckAcceptQueue(q, x.Eval(*e.recv_q)), about);
  if (e.send_q) x.Report(s, CheckBacklog(q, x.Eval(*e.send_q)), about);
  if (e.syn_recv && q.group > 1 && q.index > 0) {
    throw Error(fmt::format(
        "expect.listener: {}: the kernel does not say which member of a SO_REUSEPORT group holds "
        "a request socket; check the group's syn_recv with expect.listeners",
        q.ToString()));
  }
  if (e.syn_recv) x.Report(s, CheckSynRecv(q, x.Eval(*e.syn_recv)), about);
}

void CheckListeners(Execution& x, const Step& s, const ExpectListeners& e) {
  auto port = x.EvalAs<uint16_t>(e.port);
  std::vector<ListenerQueues> all =
      FilterListeners(x.sc().ListenersOn(e.netns, port), x.Selector(e.which));
  for (const ListenerQueues& l : all) x.Log(l.ToString());
  ListenerQueues sum = SumListeners(all);
  std::string what = fmt::format("listeners on port {} in netns '{}'", port, e.netns);
  if (e.count) x.Report(s, CheckCount(what, x.Eval(*e.count), static_cast<int64_t>(all.size())));
  // Sums over nothing would pass `recv_q = 0` on a dead port: only `count = 0` may find none.
  if (all.empty() && !(e.count && x.Eval(*e.count) == 0)) {
    x.Fail(s, fmt::format("{}: none listens (that the step selects)", what));
    return;
  }
  if (e.recv_q) {
    x.Report(s, CheckCount("Recv-Q (accept queues), summed", x.Eval(*e.recv_q), sum.accept_queue),
             what);
  }
  if (e.send_q) {
    x.Report(s, CheckCount("Send-Q (backlogs), summed", x.Eval(*e.send_q), sum.max_accept_queue),
             what);
  }
  if (e.syn_recv) {
    x.Report(s, CheckCount("SYN-RECV, summed", x.Eval(*e.syn_recv), sum.syn_recv), what);
  }
}

void CheckCounters(Execution& x, const Step& s, const ExpectCounters& e) {
  CounterDelta d = x.sc().CounterChanges(e.netns);
  for (const auto& [name, bounds] : e.bounds) {
    std::optional<int64_t> lo, hi;
    if (bounds.min) lo = x.Eval(*bounds.min);
    if (bounds.max) hi = x.Eval(*bounds.max);
    x.Report(s, CheckCounter(d, name, lo, hi));
  }
}

void CheckProcess(Execution& x, const Step& s, const ExpectProcess& e) {
  bool running = x.sc().Running(e.name);
  if (e.running) {
    x.Report(s, CheckResult{running == *e.running, fmt::format("process '{}'", e.name),
                            *e.running ? "running" : "ended",
                            running ? "running" : x.sc().Ended(e.name).Describe()});
  }
  if (e.exit) {
    int64_t want = x.Eval(*e.exit);
    std::string got = running ? "still running" : x.sc().Ended(e.name).Describe();
    bool ok = !running && x.sc().Ended(e.name).exit_code == want;
    x.Report(s, CheckResult{ok, fmt::format("exit status of process '{}'", e.name),
                            std::to_string(want), got});
  }
}

void CheckProcessFields(TableReader& r, const Ctx&, ExpectProcess& e) {
  if (!e.running && !e.exit) r.Fail(r.table(), "expect.process needs 'running' or 'exit'");
  if (e.running && *e.running && e.exit) {
    r.FailKey("exit", "a process cannot both run and have exited");
  }
}

void CheckPackets(Execution& x, const Step& s, const ExpectPackets& e) {
  Capture& cap = x.sc().capture(e.capture);
  PacketFilterSpec spec = x.Spec(e.packets);
  // Packets reach the capture a little after the kernel sent them (the capture thread reads the
  // packet socket): give it until the expected count arrives, then compare exactly.
  size_t settle = e.count ? x.EvalAs<size_t>(*e.count) : e.intervals_ms.size() + 1;
  try {
    cap.WaitFor(spec, settle, kCaptureSettle);
  } catch (const TimeoutError&) {
    // Compared below, with the numbers.
  }
  // Every packet the capture socket took is decoded now, and none was dropped (or this throws).
  x.SyncedCapture(e.capture);
  if (e.count) {
    x.Report(s,
             CheckCount(fmt::format("packets '{}'", spec.ToString()), x.Eval(*e.count),
                        static_cast<int64_t>(cap.Count(spec))),
             fmt::format("capture '{}'", e.capture));
  }
  if (e.intervals_ms.empty()) return;
  std::vector<double> gaps = cap.IntervalsMs(spec);
  int64_t tolerance = x.Eval(e.tolerance_ms);
  if (gaps.size() != e.intervals_ms.size()) {
    x.Fail(s, fmt::format("intervals of '{}': expected {}, got {}", spec.ToString(),
                          e.intervals_ms.size(), gaps.size()));
    return;
  }
  std::string got, wanted;
  bool ok = true;
  for (size_t i = 0; i < gaps.size(); ++i) {
    int64_t want = x.Eval(e.intervals_ms[i]);
    got += fmt::format("{}{:.1f}", i == 0 ? "" : ", ", gaps[i]);
    wanted += fmt::format("{}{}", i == 0 ? "" : ", ", want);
    if (std::abs(gaps[i] - static_cast<double>(want)) > static_cast<double>(tolerance)) {
      ok = false;
      x.Fail(s, fmt::format("interval {} of '{}': expected {} ms +- {}, got {:.1f} ms", i + 1,
                            spec.ToString(), want, tolerance, gaps[i]));
    }
  }
  // What was measured goes in the report, also when it holds.
  got += " ms";
  x.Observe(fmt::format("capture '{}': intervals_ms of '{}'", e.capture, spec.ToString()),
            ok ? WithinRange(got, fmt::format("{} ms +- {}", wanted, tolerance)) : got);
}

// `key = N` (exactly N) or `key = { min, max }` (either may be left out, not both; min <= max
// where both are constants); nullopt if the key is absent.
std::optional<CounterBounds> ReadBounds(TableReader& r, const Ctx& c, const char* key,
                                        Range range) {
  const toml::node* n = r.table().get(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_table()) {
    std::optional<Value> v = r.Number(key, c.params, range);
    return CounterBounds{v, v};
  }
  const toml::table& t = *r.Table(key);
  TableReader b(t, c.file, key);
  CounterBounds bounds{b.Number("min", c.params, range), b.Number("max", c.params, range)};
  b.Done();
  if (!bounds.min && !bounds.max) b.Fail(t, "needs 'min' or 'max'");
  if (bounds.min && bounds.max && bounds.min->expr.is_constant() &&
      bounds.max->expr.is_constant() &&
      bounds.min->expr.Evaluate({}) > bounds.max->expr.Evaluate({})) {
    b.FailKey("max", "'max' is below 'min'");
  }
  return bounds;
}

// `received = "text"` and `duration_ms = N | { min, max }`.
std::vector<Field<ExpectConnections>> ConnectionDetailFields() {
  return {
      {{"received", "string", "unchecked", "what each connection read, exactly"},
       [](TableReader& r, const Ctx&, ExpectConnections& e) { e.received = r.String("received"); },
       {}},
      {{"duration_ms", "integer or {min, max}", "unchecked",
        "each connection's time from connect() to its outcome: at most N, or within bounds"},
       [](TableReader& r, const Ctx& c, ExpectConnections& e) {
         const toml::node* n = r.table().get("duration_ms");
         if (n == nullptr) return;
         if (const toml::table* t = n->is_table() ? r.Table("duration_ms") : nullptr) {
           TableReader b(*t, c.file, "duration_ms");
           e.duration_min = b.Number("min", c.params, kMillis);
           e.duration_max = b.Number("max", c.params, kMillis);
           b.Done();
           if (!e.duration_min && !e.duration_max) b.Fail(*t, "needs 'min' or 'max'");
         } else {
           e.duration_max = r.Number("duration_ms", c.params, kMillis);
         }
       },
       [](const ExpectConnections& e, std::vector<const Value*>* out) {
         if (e.duration_min) out->push_back(&*e.duration_min);
         if (e.duration_max) out->push_back(&*e.duration_max);
       }}};
}

std::vector<Field<ExpectConnections>> OutcomeFields() {
  std::vector<Field<ExpectConnections>> fields = {LabelField(&ExpectConnections::label)};
  for (const auto& [outcome, key] : OutcomeKeys().entries()) {
    ConnectResult o = outcome;
    const char* k = key;
    fields.push_back({{k, RangeText(kNonNegativeCount) + " or {min, max}", "unchecked",
                       fmt::format("how many connections ended {}: exactly, or within bounds",
                                   ConnectResultName(o))},
                      [o, k](TableReader& r, const Ctx& c, ExpectConnections& e) {
                        if (std::optional<CounterBounds> b = ReadBounds(r, c, k, kNonNegativeCount))
                          e.counts[o] = *b;
                      },
                      [o](const ExpectConnections& e, std::vector<const Value*>* out) {
                        if (auto it = e.counts.find(o); it != e.counts.end()) {
                          if (it->second.min) out->push_back(&*it->second.min);
                          if (it->second.max) out->push_back(&*it->second.max);
                        }
                      }});
  }
  return fields;
}

Field<ExpectCounters> CounterBoundsField() {
  return {
      {"<Counter>", "integer or {min, max}", "-",
       "a counter's change since the case began, by nstat's name: exact, or within bounds"},
      [](TableReader& sub, const Ctx& c, ExpectCounters& e) {
        const std::vector<std::string>& known = KnownCounterNames();
        for (auto&& [key, node] : sub.table()) {
          std::string name(key.str());
          if (name == "netns") continue;
          if (!c.scope.newer_kernel && std::find(known.begin(), known.end(), name) == known.end()) {
            std::string near = ClosestName(name, known);
            throw SuiteError(
                PosOf(key, c.file),
                fmt::format("unknown counter '{}'{}", name,
                            near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
          }
          sub.Node(name.c_str());
          if (const toml::table* t = node.as_table()) {
            TableReader b(*t, c.file, fmt::format("counter '{}'", name));
            e.bounds[name] = {b.Number("min", c.params, kAny), b.Number("max", c.params, kAny)};
            b.Done();
          } else {
            std::optional<Value> v = sub.Number(name.c_str(), c.params, kAny);
            e.bounds[name] = {v, v};
          }
        }
      },
      [](const ExpectCounters& e, std::vector<const Value*>* out) {
        for (const auto& [name, b] : e.bounds) {
          if (b.min) out->push_back(&*b.min);
          if (b.max) out->push_back(&*b.max);
        }
      }};
}

Field<ExpectPackets> IntervalsField() {
  return {{"intervals_ms", "array of integers", "unchecked",
           "the gaps between consecutive matching packets (needs tolerance_ms)"},
          [](TableReader& sub, const Ctx& c, ExpectPackets& e) {
            const toml::array* a = sub.Array("intervals_ms");
            if (a == nullptr) return;
            for (const toml::node& n : *a) {
              if (n.is_integer()) {
                Value v = Value::Constant(n.as_integer()->get());
                v.where = PosOf(n, c.file);
                v.field = "intervals_ms";
                e.intervals_ms.push_back(v);
              } else if (n.is_string()) {
                Value v = ParseValue(n, n.as_string()->get(), c.params, c.file);
                v.field = "intervals_ms";
                e.intervals_ms.push_back(v);
              } else {
                sub.Fail(n, fmt::format("'intervals_ms' must hold integers, not {}", TypeName(n)));
              }
            }
            std::optional<Value> t = sub.Number("tolerance_ms", c.params, kMillis);
            if (!t) sub.Fail(sub.table(), "missing 'tolerance_ms'");
            e.tolerance_ms = *t;
          },
          [](const ExpectPackets& e, std::vector<const Value*>* out) {
            for (const Value& v : e.intervals_ms) out->push_back(&v);
            if (!e.intervals_ms.empty()) out->push_back(&e.tolerance_ms);
          }};
}

}  // namespace

const NameTable<ConnectResult>& OutcomeKeys() {
  static const NameTable<ConnectResult> keys = {
      {ConnectResult::kEstablished, "established"}, {ConnectResult::kRefused, "refused"},
      {ConnectResult::kTimedOut, "timed_out"},      {ConnectResult::kReset, "reset"},
      {ConnectResult::kPending, "pending"},         {ConnectResult::kError, "error"},
  };
  return keys;
}

const std::vector<Entry<ExpectSubject>>& ExpectSubjects() {
  static const std::vector<Entry<ExpectSubject>> subjects = {
      Declare<ExpectSubject, ExpectConnections>(
          "connections", "how the connections of a label ended (only the outcomes named)",
          Concat(OutcomeFields(), ConnectionDetailFields()), CheckConnections),
      Declare<ExpectSubject, ExpectListener>(
          "listener", "a listener's queues as `ss -lnt` shows them (only the fields named)",
          Concat(Concat({NetnsField(&ExpectListener::netns, "netns", "server",
                                    "the listener's namespace"),
                         Required(&ExpectListener::port, "port", kPort, "the listener's port")},
                        ListenerChoiceFields(&ExpectListener::which)),
                 {Optional(&ExpectListener::recv_q, "recv_q", kAny, "unchecked",
                           "Recv-Q: connections in the accept queue"),
                  Optional(&ExpectListener::send_q, "send_q", kAny, "unchecked",
                           "Send-Q: the effective backlog"),
                  Optional(&ExpectListener::syn_recv, "syn_recv", kAny, "unchecked",
                           "request sockets in SYN-RECV")}),
          CheckListener),
      Declare<ExpectSubject, ExpectListeners>(
          "listeners",
          "every listener on a port (those `address`/`family` select) taken together: how many "
          "sockets, and their queues summed (a SO_REUSEPORT group, IPv4 and IPv6)",
          Concat(Concat({NetnsField(&ExpectListeners::netns, "netns", "server",
                                    "the listeners' namespace"),
                         Required(&ExpectListeners::port, "port", kPort, "the port")},
                        ListenerChoiceFields(&ExpectListeners::which)),
                 {Optional(&ExpectListeners::count, "count", kNonNegativeCount, "unchecked",
                           "how many sockets listen"),
                  Optional(&ExpectListeners::recv_q, "recv_q", kAny, "unchecked",
                           "their accept queues (Recv-Q), summed"),
                  Optional(&ExpectListeners::send_q, "send_q", kAny, "unchecked",
                           "their backlogs (Send-Q), summed"),
                  Optional(&ExpectListeners::syn_recv, "syn_recv", kAny, "unchecked",
                           "their request sockets in SYN-RECV")}),
          CheckListeners),
      Declare<ExpectSubject, ExpectCounters>(
          "counters", "counter changes since the case began",
          {NetnsField(&ExpectCounters::netns, "netns", "server", "whose counters"),
           CounterBoundsField()},
          CheckCounters),
      Declare<ExpectSubject, ExpectProcess>(
          "process", "a started process: still running, or ended with an exit status",
          {Earlier(&ExpectProcess::name, "name", &Ctx::processes, "process started as",
                   "the start step's name"),
           {{"running", "boolean", "unchecked", "whether it still runs"},
            [](TableReader& r, const Ctx&, ExpectProcess& e) { e.running = r.Bool("running"); },
            {}},
           Optional(&ExpectProcess::exit, "exit", Range{0, 255}, "unchecked",
                    "the exit status it ended with (it must have ended)")},
          CheckProcess, CheckProcessFields),
      Declare<ExpectSubject, ExpectPackets>(
          "packets", "what a capture saw (an ERROR if it dropped packets)",
          Concat({Earlier(&ExpectPackets::capture, "capture", &Ctx::captures, "capture named",
                          "the capture's name")},
                 Concat(MatchFields(&ExpectPackets::packets, false),
                        {Optional(&ExpectPackets::count, "count", kNonNegativeCount, "unchecked",
                                  "matching packets, exactly"),
                         IntervalsField(),
                         {{"tolerance_ms", RangeText(kMillis), "required with intervals_ms",
                           "how far each interval may be off"},
                          [](TableReader&, const Ctx&, ExpectPackets&) {},
                          {}}})),
          CheckPackets),
      Declare<ExpectSubject, ExpectSysctl>(
          "sysctl", "a sysctl's value in a namespace now (e.g. after a server under test set it)",
          {NetnsField(&ExpectSysctl::netns, "netns", "server", "where"),
           {{"key", "string", "required", "a net.* key"},
            [](TableReader& r, const Ctx&, ExpectSysctl& e) {
              std::optional<std::string> key = r.String("key");
              if (!key) r.Fail(r.table(), "missing 'key'");
              try {
                (void)SysctlPath(*key);
              } catch (const Error& ex) {
                r.FailKey("key", ex.what());
              }
              e.key = *key;
            },
            {}},
           {{"value", "integer or string", "required", "the value expected"},
            [](TableReader& r, const Ctx&, ExpectSysctl& e) {
              const toml::node* v = r.Node("value");
              if (v == nullptr) r.Fail(r.table(), "missing 'value'");
              e.value = IntegerOrString(r, *v);
            },
            {}}},
          CheckSysctlValue),
  };
  return subjects;
}

Kind ExpectKind() {
  return {AlternativeIndex<StepAction, ExpectStep>(),
          "expect",
          "checks one subject now, written `expect.<subject> = { ... }`; every failed check is "
          "reported with what was expected and what was seen",
          {{"<subject>", Alternatives(EntryNames(ExpectSubjects())), "required", "what to check"}},
          [](TableReader& r, const Ctx& c) -> StepAction {
            return ExpectStep{ReadSubject(r, c, ExpectSubjects(), "expect")};
          },
          [](const StepAction& a, std::vector<const Value*>* out) {
            SubjectValues(ExpectSubjects(), std::get<ExpectStep>(a).subject, out);
          },
          [](Execution& x, const Step& s, const StepAction& a) {
            const ExpectSubject& subject = std::get<ExpectStep>(a).subject;
            EntryOf(ExpectSubjects(), subject).run(x, s, subject);
          }};
}

}  // namespace nstest::registry
