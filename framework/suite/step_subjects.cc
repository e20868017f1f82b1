// The subjects of `wait` and `expect` steps, each declared once with its fields.
#include <fmt/format.h>

#include <algorithm>

#include "nstest/sysctl.h"
#include "suite/step_fields.h"

namespace nstest::registry {

// --- wait subjects ---

const std::vector<Entry<WaitSubject>>& WaitSubjects() {
  auto queue = [](const char* name, ListenerQueue q, const char* summary) {
    return Declare<WaitSubject, WaitQueue>(
        name, summary,
        {NetnsField(&WaitQueue::netns, "netns", "server", "the listener's namespace"),
         Required(&WaitQueue::port, "port", kPort, "the listener's port"),
         Required(&WaitQueue::value, "value", kNonNegativeCount, "the number to wait for")},
        [q](TableReader&, const Ctx&, WaitQueue& w) { w.queue = q; });
  };
  static const std::vector<Entry<WaitSubject>> subjects = {
      queue("accept_queue", ListenerQueue::kAcceptQueue,
            "until the listener's accept queue (Recv-Q) holds `value` connections; while nothing "
            "listens on the port yet, it waits for that too"),
      queue("syn_recv", ListenerQueue::kSynRecv,
            "until the listener has `value` request sockets in SYN-RECV; waits for the listener "
            "too"),
      Declare<WaitSubject, WaitCounter>(
          "counter", "until a counter has grown by at least `delta` since the case began",
          {NetnsField(&WaitCounter::netns, "netns", "server", "whose counter"),
           {{"name", "counter name", "required", "nstat's name, e.g. TcpExtListenOverflows"},
            [](TableReader& r, const Ctx& c, WaitCounter& w) {
              std::optional<std::string> name = r.String("name");
              if (!name) r.Fail(r.table(), "missing 'name'");
              const std::vector<std::string>& known = KnownCounterNames();
              if (!c.scope.newer_kernel &&
                  std::find(known.begin(), known.end(), *name) == known.end()) {
                std::string near = ClosestName(*name, known);
                r.FailKey(
                    "name",
                    fmt::format("unknown counter '{}'{}", *name,
                                near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
              }
              w.name = *name;
            },
            {}},
           Required(&WaitCounter::delta, "delta", kAny, "the growth to wait for")}),
      Declare<WaitSubject, WaitHeld>(
          "held", "until a hold has held `count` packets",
          {Earlier(&WaitHeld::hold, "hold", &Ctx::holds, "hold named", "the hold's name"),
           Required(&WaitHeld::count, "count", kCount, "packets held")}),
      Declare<WaitSubject, WaitPackets>(
          "packets", "until a capture has `count` matching packets",
          Concat({Earlier(&WaitPackets::capture, "capture", &Ctx::captures, "capture named",
                          "the capture's name")},
                 Concat(MatchFields(&WaitPackets::packets, false),
                        {Required(&WaitPackets::count, "count", kNonNegativeCount,
                                  "matching packets")}))),
  };
  return subjects;
}

// --- expect subjects ---

const NameTable<ConnectResult>& OutcomeKeys() {
  static const NameTable<ConnectResult> keys = {
      {ConnectResult::kEstablished, "established"}, {ConnectResult::kRefused, "refused"},
      {ConnectResult::kTimedOut, "timed_out"},      {ConnectResult::kReset, "reset"},
      {ConnectResult::kPending, "pending"},         {ConnectResult::kError, "error"},
  };
  return keys;
}

std::vector<Field<ExpectConnections>> OutcomeFields() {
  std::vector<Field<ExpectConnections>> fields = {
      {{"label", "string", "\"connections\"", "the connect steps' label"},
       [](TableReader& r, const Ctx& c, ExpectConnections& e) {
         std::string label = r.String("label", "connections");
         if (c.labels->count(label) == 0) {
           std::string near = ClosestName(label, {c.labels->begin(), c.labels->end()});
           r.FailKey("label",
                     fmt::format("no connect step labelled '{}' before this step{}", label,
                                 near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
         }
         e.label = label;
       },
       {}}};
  for (const auto& [outcome, key] : OutcomeKeys().entries()) {
    ConnectResult o = outcome;
    const char* k = key;
    fields.push_back({{k, RangeText(kNonNegativeCount), "unchecked",
                       fmt::format("how many connections ended {}", ConnectResultName(o))},
                      [o, k](TableReader& r, const Ctx& c, ExpectConnections& e) {
                        if (auto v = r.Number(k, c.params, kNonNegativeCount)) e.counts[o] = *v;
                      },
                      [o](const ExpectConnections& e, std::vector<const Value*>* out) {
                        if (auto it = e.counts.find(o); it != e.counts.end())
                          out->push_back(&it->second);
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

const std::vector<Entry<ExpectSubject>>& ExpectSubjects() {
  static const std::vector<Entry<ExpectSubject>> subjects = {
      Declare<ExpectSubject, ExpectConnections>(
          "connections", "how the connections of a label ended (only the outcomes named)",
          OutcomeFields()),
      Declare<ExpectSubject, ExpectListener>(
          "listener", "a listener's queues as `ss -lnt` shows them (only the fields named)",
          {NetnsField(&ExpectListener::netns, "netns", "server", "the listener's namespace"),
           Required(&ExpectListener::port, "port", kPort, "the listener's port"),
           Optional(&ExpectListener::recv_q, "recv_q", kAny, "unchecked",
                    "Recv-Q: connections in the accept queue"),
           Optional(&ExpectListener::send_q, "send_q", kAny, "unchecked",
                    "Send-Q: the effective backlog"),
           Optional(&ExpectListener::syn_recv, "syn_recv", kAny, "unchecked",
                    "request sockets in SYN-RECV")}),
      Declare<ExpectSubject, ExpectCounters>(
          "counters", "counter changes since the case began",
          {NetnsField(&ExpectCounters::netns, "netns", "server", "whose counters"),
           CounterBoundsField()}),
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
                          {}}}))),
  };
  return subjects;
}

// Reads the one subject table of a wait or expect step.

}  // namespace nstest::registry
