// The step kinds of a suite test, each declared once: its fields with their types, defaults and
// meaning, read from TOML into the kind's struct (steps.h). The same declarations give the list
// of kinds in messages and the reference `nstest steps` prints. Adding a kind: its struct in
// steps.h, one entry in Kinds() below, and its execution in case_runner.cc (a missing one is a
// compile error there).
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "nstest/names.h"
#include "nstest/sysctl.h"
#include "src/strings.h"
#include "suite/suite_reader.h"

namespace nstest {
namespace {

constexpr Range kPort{1, 65535};
constexpr Range kOptionalPort{0, 65535};
constexpr Range kBacklog{-1, 2147483647};
constexpr Range kCount{1, 100000};
constexpr Range kNonNegativeCount{0, 100000};
constexpr Range kMillis{0, 600000};
constexpr Range kAny{INT64_MIN, INT64_MAX};

struct Ctx {
  const std::string& file;
  const std::set<std::string>& params;
  const std::vector<std::string>& namespaces;
  std::set<std::string>* holds;
  std::set<std::string>* captures;
  std::set<std::string>* labels;
};

// What the reference says of a field.
struct FieldDoc {
  std::string key;
  std::string type;
  std::string fallback;  // the default, or "required"
  std::string meaning;
};

// A field of a step (or subject) struct S: its documentation, how it is read, and the
// expression-valued members it fills.
template <typename S>
struct Field {
  FieldDoc doc;
  std::function<void(TableReader&, const Ctx&, S&)> read;
  std::function<void(const S&, std::vector<const Value*>*)> values;
};

std::string Netns(TableReader& r, const Ctx& c, const char* key, const std::string& fallback) {
  std::string ns = r.String(key, fallback);
  for (const std::string& n : c.namespaces) {
    if (n == ns) return ns;
  }
  std::string near = ClosestName(ns, c.namespaces);
  if (r.table().get(key) == nullptr) {
    r.Fail(r.table(),
           fmt::format("this step needs '{}': the topology has no namespace '{}'", key, fallback));
  }
  r.FailKey(key, fmt::format("unknown namespace '{}'{}", ns,
                             near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

std::string KnownName(TableReader& r, const char* key, const std::set<std::string>& known,
                      const char* what) {
  std::optional<std::string> v = r.String(key);
  if (!v) r.Fail(r.table(), fmt::format("missing '{}'", key));
  if (known.count(*v) != 0) return *v;
  std::string near = ClosestName(*v, {known.begin(), known.end()});
  r.FailKey(key, fmt::format("no {} '{}' before this step{}", what, *v,
                             near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

// "never / all / first-n" (a Markdown table cell cannot hold '|').
std::string Alternatives(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : " / ") + n;
  return out;
}

// "A sentence." from "a sentence".
std::string Sentence(std::string text) {
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 32);
  return text + ".";
}

std::string RangeText(Range range) {
  if (range.min == INT64_MIN) return "integer";
  return fmt::format("integer {}..{}", range.min, range.max);
}

// --- Field factories: one per kind of member. ---

template <typename S>
Field<S> NetnsField(std::string S::*m, const char* key, const char* fallback, const char* meaning) {
  return {{key, "namespace", fallback, meaning},
          [=](TableReader& r, const Ctx& c, S& s) { s.*m = Netns(r, c, key, fallback); },
          {}};
}

template <typename S>
Field<S> TextField(std::string S::*m, const char* key, const char* fallback, const char* meaning) {
  return {{key, "string", *fallback == '\0' ? "\"\"" : fmt::format("\"{}\"", fallback), meaning},
          [=](TableReader& r, const Ctx&, S& s) { s.*m = r.String(key, fallback); },
          {}};
}

template <typename S>
Field<S> Required(Value S::*m, const char* key, Range range, const char* meaning) {
  return {{key, RangeText(range), "required", meaning},
          [=](TableReader& r, const Ctx& c, S& s) {
            std::optional<Value> v = r.Number(key, c.params, range);
            if (!v) r.Fail(r.table(), fmt::format("missing '{}'", key));
            s.*m = *v;
          },
          [=](const S& s, std::vector<const Value*>* out) { out->push_back(&(s.*m)); }};
}

template <typename S>
Field<S> Defaulted(Value S::*m, const char* key, Range range, int64_t fallback,
                   const char* meaning) {
  return {{key, RangeText(range), std::to_string(fallback), meaning},
          [=](TableReader& r, const Ctx& c, S& s) {
            s.*m = r.Number(key, c.params, range).value_or(Value::Constant(fallback));
          },
          [=](const S& s, std::vector<const Value*>* out) { out->push_back(&(s.*m)); }};
}

template <typename S>
Field<S> Optional(std::optional<Value> S::*m, const char* key, Range range, const char* fallback,
                  const char* meaning) {
  return {{key, RangeText(range), fallback, meaning},
          [=](TableReader& r, const Ctx& c, S& s) { s.*m = r.Number(key, c.params, range); },
          [=](const S& s, std::vector<const Value*>* out) {
            if (s.*m) out->push_back(&*(s.*m));
          }};
}

template <typename S>
Field<S> Flag(bool S::*m, const char* key, const char* meaning) {
  return {{key, "boolean", "false", meaning},
          [=](TableReader& r, const Ctx&, S& s) { s.*m = r.Bool(key).value_or(false); },
          {}};
}

// One of a fixed set of names, kept as the enum `E`.
template <typename S, typename E>
Field<S> Choice(E S::*m, const char* key, const NameTable<E>& names, E fallback,
                const char* meaning) {
  return {{key, Alternatives(names.Names()), names.Name(fallback), meaning},
          [=, &names](TableReader& r, const Ctx&, S& s) {
            s.*m = *names.Find(r.Choice(key, names.Names(), names.Name(fallback)));
          },
          {}};
}

// The name of something an earlier step made (a hold, a capture).
template <typename S>
Field<S> Earlier(std::string S::*m, const char* key, std::set<std::string>* Ctx::*known,
                 const char* what, const char* meaning) {
  return {{key, "string", "required", meaning},
          [=](TableReader& r, const Ctx& c, S& s) { s.*m = KnownName(r, key, *(c.*known), what); },
          {}};
}

const NameTable<TcpFlagPattern>& MatchNames() { return TcpFlagPatterns(); }

// The packet-matching fields shared by drop, hold and the packet questions.
// `ranges`: also sport_min and sport_max (drop and hold; packet questions take exact ports).
template <typename S>
std::vector<Field<S>> MatchFields(PacketMatch S::*m, bool ranges) {
  auto sub = [m](std::optional<Value> PacketMatch::*f, const char* key, const char* meaning) {
    return Field<S>{{key, RangeText(kOptionalPort), "any", meaning},
                    [=](TableReader& r, const Ctx& c, S& s) {
                      (s.*m).*f = r.Number(key, c.params, kOptionalPort);
                    },
                    [=](const S& s, std::vector<const Value*>* out) {
                      if ((s.*m).*f) out->push_back(&*((s.*m).*f));
                    }};
  };
  std::vector<Field<S>> fields = {
      {{"match", Alternatives(MatchNames().Names()), "any",
        "the TCP flags: handshake-ack (ACK alone), syn-ack, syn (no ACK), rst, ack (ACK set), any"},
       [m](TableReader& r, const Ctx&, S& s) {
         (s.*m).match = *MatchNames().Find(r.Choice("match", MatchNames().Names(), "any"));
       },
       {}},
      sub(&PacketMatch::dport, "dport", "destination port"),
      sub(&PacketMatch::sport, "sport", "source port"),
  };
  if (ranges) {
    fields.push_back(sub(&PacketMatch::sport_min, "sport_min", "lowest source port of a range"));
    fields.push_back(sub(&PacketMatch::sport_max, "sport_max", "highest source port of a range"));
  }
  return fields;
}

template <typename S>
std::vector<Field<S>> Concat(std::vector<Field<S>> a, const std::vector<Field<S>>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// An entry of a family (step kinds, wait subjects, expect subjects) producing a `V`.
template <typename V>
struct Entry {
  size_t index;  // the alternative of V it produces
  const char* name;
  const char* summary;
  std::vector<FieldDoc> fields;
  std::function<V(TableReader&, const Ctx&)> parse;
  std::function<void(const V&, std::vector<const Value*>*)> values;
};

// Declares a member of a family: struct `S` (an alternative of `V`) read field by field, then
// `check` for what relates fields to each other.
template <typename V, typename S>
Entry<V> Declare(const char* name, const char* summary, std::vector<Field<S>> fields,
                 std::function<void(TableReader&, const Ctx&, S&)> check = {}) {
  Entry<V> e{V(S{}).index(), name, summary, {}, {}, {}};
  for (const Field<S>& f : fields) e.fields.push_back(f.doc);
  e.parse = [fields, check](TableReader& r, const Ctx& c) -> V {
    S s;
    for (const Field<S>& f : fields) f.read(r, c, s);
    if (check) check(r, c, s);
    return V(std::move(s));
  };
  e.values = [fields](const V& v, std::vector<const Value*>* out) {
    for (const Field<S>& f : fields) {
      if (f.values) f.values(std::get<S>(v), out);
    }
  };
  return e;
}

template <typename V>
const Entry<V>* FindEntry(const std::vector<Entry<V>>& family, const std::string& name) {
  for (const Entry<V>& e : family) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

template <typename V>
std::vector<std::string> EntryNames(const std::vector<Entry<V>>& family) {
  std::vector<std::string> out;
  for (const Entry<V>& e : family) out.emplace_back(e.name);
  return out;
}

// --- wait subjects ---

using WaitSubject = decltype(WaitStep::subject);

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
            [](TableReader& r, const Ctx&, WaitCounter& w) {
              std::optional<std::string> name = r.String("name");
              if (!name) r.Fail(r.table(), "missing 'name'");
              const std::vector<std::string>& known = KnownCounterNames();
              if (!ReadingForNewerKernel() &&
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

using ExpectSubject = decltype(ExpectStep::subject);

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
  return {{"<Counter>", "integer or {min, max}", "-",
           "a counter's change since the case began, by nstat's name: exact, or within bounds"},
          [](TableReader& sub, const Ctx& c, ExpectCounters& e) {
            const std::vector<std::string>& known = KnownCounterNames();
            for (auto&& [key, node] : sub.table()) {
              std::string name(key.str());
              if (name == "netns") continue;
              if (!ReadingForNewerKernel() &&
                  std::find(known.begin(), known.end(), name) == known.end()) {
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
                e.intervals_ms.push_back(v);
              } else if (n.is_string()) {
                e.intervals_ms.push_back(ParseValue(n, n.as_string()->get(), c.params, c.file));
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
template <typename V>
V ReadSubject(TableReader& r, const Ctx& c, const std::vector<Entry<V>>& subjects, const char* step,
              std::function<void()> before_subject = {}) {
  const toml::table* found = nullptr;
  const Entry<V>* entry = nullptr;
  for (const Entry<V>& e : subjects) {
    if (const toml::table* t = r.Table(e.name)) {
      if (found != nullptr) r.FailKey(e.name, "one subject per step");
      found = t;
      entry = &e;
    }
  }
  if (found == nullptr) {
    r.Fail(r.table(), fmt::format("needs one of: {}", Join(EntryNames(subjects), ',')));
  }
  if (before_subject) before_subject();
  TableReader sub(*found, c.file, fmt::format("{}.{}", step, entry->name));
  V v = entry->parse(sub, c);
  sub.Done();
  return v;
}

// The entry that produced `v`.
template <typename V>
const Entry<V>& EntryOf(const std::vector<Entry<V>>& family, const V& v) {
  for (const Entry<V>& e : family) {
    if (e.index == v.index()) return e;
  }
  throw Error("internal error: no entry for a parsed alternative");
}

template <typename V>
void SubjectValues(const std::vector<Entry<V>>& subjects, const V& v,
                   std::vector<const Value*>* out) {
  EntryOf(subjects, v).values(v, out);
}

// --- step kinds ---

const NameTable<AcceptPolicy>& AcceptNames() {
  static const NameTable<AcceptPolicy> names = {{AcceptPolicy::kNever, "never"},
                                                {AcceptPolicy::kAll, "all"},
                                                {AcceptPolicy::kFirstN, "first-n"},
                                                {AcceptPolicy::kOnDemand, "on-demand"}};
  return names;
}

const NameTable<ConnectMode>& ModeNames() {
  static const NameTable<ConnectMode> names = {{ConnectMode::kSequential, "sequential"},
                                               {ConnectMode::kBurst, "burst"}};
  return names;
}

const NameTable<Hook>& HookChoices() {
  static const NameTable<Hook> names = {{Hook::kOutput, HookName(Hook::kOutput)},
                                        {Hook::kInput, HookName(Hook::kInput)}};
  return names;
}

template <typename S>
std::vector<Field<S>> FilterFields(std::string S::*netns, Hook S::*hook, PacketMatch S::*match) {
  return Concat({NetnsField(netns, "netns", "client", "where the rule is"),
                 Choice(hook, "hook", HookChoices(), Hook::kOutput,
                        "packets leaving (output) or entering (input) the namespace")},
                MatchFields(match, true));
}

using Kind = Entry<StepAction>;

const std::vector<Kind>& Kinds() {
  static const std::vector<Kind> kinds = {
      Declare<StepAction, ListenStep>(
          "listen", "a listening socket, and when it accepts",
          {NetnsField(&ListenStep::netns, "netns", "server", "where it listens"),
           TextField(&ListenStep::address, "address", "",
                     "the address to bind: empty for the namespace's, \"any\" for the wildcard"),
           Required(&ListenStep::port, "port", kPort, "the port"),
           Required(&ListenStep::backlog, "backlog", kBacklog,
                    "passed to listen() as given (-1 and values above somaxconn included)"),
           Choice(&ListenStep::accept, "accept", AcceptNames(), AcceptPolicy::kNever,
                  "never, every connection (all), the first accept_limit (first-n), or on "
                  "`accept` steps (on-demand)"),
           Optional(&ListenStep::accept_limit, "accept_limit", kCount, "-",
                    "how many connections first-n accepts")},
          [](TableReader& r, const Ctx&, ListenStep& l) {
            if (l.accept == AcceptPolicy::kFirstN && !l.accept_limit) {
              r.FailKey("accept", "accept = \"first-n\" needs 'accept_limit'");
            }
          }),
      Declare<StepAction, ConnectStep>(
          "connect", "TCP connections, each with its outcome",
          {NetnsField(&ConnectStep::from, "from", "client", "where the connections start"),
           NetnsField(&ConnectStep::to, "to", "server", "whose address they go to"),
           TextField(&ConnectStep::address, "address", "", "an address instead of `to`'s"),
           Required(&ConnectStep::port, "port", kPort, "the destination port"),
           Defaulted(&ConnectStep::count, "count", kCount, 1, "how many connections"),
           Choice(&ConnectStep::mode, "mode", ModeNames(), ConnectMode::kSequential,
                  "one after another, or all connect() calls first (burst)"),
           Defaulted(&ConnectStep::deadline_ms, "deadline_ms", kMillis, 5000,
                     "how long each may take; then it is *pending*"),
           Optional(&ConnectStep::source_port, "source_port", kPort, "ephemeral",
                    "connection i binds source_port + i"),
           Defaulted(&ConnectStep::read_ms, "read_ms", kMillis, 0,
                     "read from each established connection this long"),
           TextField(&ConnectStep::send, "send", "", "written on each once established"),
           Flag(&ConnectStep::stop_at_first_failure, "stop_at_first_failure",
                "stop after the first connection that is not established"),
           TextField(&ConnectStep::label, "label", "connections",
                     "the name later steps use for these connections")},
          [](TableReader&, const Ctx& c, ConnectStep& s) { c.labels->insert(s.label); }),
      Declare<StepAction, ReadStep>(
          "read", "reads from a label's connections; a RST makes them *reset*",
          {Earlier(&ReadStep::label, "label", &Ctx::labels, "connect step labelled",
                   "the connect steps' label"),
           Required(&ReadStep::timeout_ms, "timeout_ms", kMillis, "how long to read")}),
      Declare<StepAction, CloseStep>(
          "close", "closes a label's open connections: a FIN, or with `abort` a RST",
          {Earlier(&CloseStep::label, "label", &Ctx::labels, "connect step labelled",
                   "the connect steps' label"),
           Flag(&CloseStep::abort, "abort", "close with SO_LINGER 0: the kernel sends a RST")}),
      Declare<StepAction, AcceptStep>(
          "accept", "accepts from an on-demand listener",
          {NetnsField(&AcceptStep::netns, "netns", "server", "the listener's namespace"),
           Required(&AcceptStep::port, "port", kPort, "the listener's port"),
           Defaulted(&AcceptStep::count, "count", kCount, 1, "connections to accept"),
           Defaulted(&AcceptStep::timeout_ms, "timeout_ms", kMillis, 5000,
                     "how long to wait for them")}),
      Declare<StepAction, SynsStep>(
          "syns",
          "SYNs nobody answers, from 198.19.0.0/16: every SYN of a case from a source address "
          "and port no earlier SYN of the case used (ports from 40000 up across steps; SYN i of "
          "a step from the step's first address + i % sources; a step that would pass port "
          "65535 starts again at 40000 from addresses after all used before)",
          {NetnsField(&SynsStep::from, "from", "client", "where they are sent from"),
           NetnsField(&SynsStep::to, "to", "server", "whose address they go to"),
           Required(&SynsStep::port, "port", kPort, "the destination port"),
           Required(&SynsStep::count, "count", Range{1, 65535}, "how many SYNs"),
           Optional(&SynsStep::sources, "sources", Range{1, 65535}, "count",
                    "how many source addresses")}),
      Declare<StepAction, DropStep>(
          "drop", "an nftables rule dropping matching packets",
          FilterFields(&DropStep::netns, &DropStep::hook, &DropStep::packets)),
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
                   {}}})),
      Declare<StepAction, ReleaseStep>(
          "release", "lets held packets go",
          {Earlier(&ReleaseStep::hold, "hold", &Ctx::holds, "hold named", "the hold's name"),
           Optional(&ReleaseStep::count, "count", kCount, "all", "how many packets"),
           Flag(&ReleaseStep::keep_holding, "keep_holding", "go on holding new packets")}),
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
          [](TableReader&, const Ctx& c, CaptureStep& s) { c.captures->insert(s.name); }),
      Declare<StepAction, SysctlStep>(
          "sysctl", "sets a per-namespace sysctl",
          {NetnsField(&SysctlStep::netns, "netns", "server", "where"),
           {{"key", "string", "required", "a per-namespace net.* key"},
            [](TableReader& r, const Ctx&, SysctlStep& s) {
              std::optional<std::string> key = r.String("key");
              if (!key) r.Fail(r.table(), "missing 'key'");
              if (std::string problem = SysctlKeyProblem(*key); !problem.empty()) {
                r.FailKey("key", problem);
              }
              s.key = *key;
            },
            {}},
           {{"value", "integer or string", "-", "a literal value (or `expr`)"},
            [](TableReader& r, const Ctx& c, SysctlStep& s) {
              const toml::node* v = r.Node("value");
              s.expr = r.Number("expr", c.params, kAny);
              if ((v == nullptr) == !s.expr.has_value()) {
                r.Fail(r.table(),
                       "a sysctl step needs either 'value' (a literal) or 'expr' (an expression)");
              }
              if (v == nullptr) return;
              if (v->is_integer()) {
                s.value = std::to_string(v->as_integer()->get());
              } else if (v->is_string()) {
                s.value = v->as_string()->get();
              } else {
                r.Fail(*v,
                       fmt::format("'value' must be an integer or a string, not {}", TypeName(*v)));
              }
            },
            [](const SysctlStep& s, std::vector<const Value*>* out) {
              if (s.expr) out->push_back(&*s.expr);
            }},
           {{"expr", "integer", "-", "an expression for the value (or `value`)"},
            [](TableReader&, const Ctx&, SysctlStep&) {},
            {}}}),
      Declare<StepAction, RunStep>(
          "run",
          "runs a command and waits for it to exit; its output goes to a file that lives as "
          "long as the case (a server it starts in the background can keep writing)",
          {NetnsField(&RunStep::netns, "netns", "server", "where"),
           {{"argv", "array of strings", "required", "the command and its arguments (no shell)"},
            [](TableReader& r, const Ctx&, RunStep& s) {
              s.argv = r.Strings("argv");
              if (s.argv.empty())
                r.Fail(r.table(), "'argv' must list the command and its arguments");
            },
            {}},
           Defaulted(&RunStep::timeout_ms, "timeout_ms", kMillis, 10000,
                     "then it is killed and the step fails"),
           Defaulted(&RunStep::exit, "exit", Range{0, 255}, 0, "the exit status expected")}),
      {StepAction(WaitStep{}).index(),
       "wait",
       "waits for one subject, written `wait.<subject> = { ... }`, with `wait.timeout_ms` beside "
       "it; when the deadline passes the step fails, saying what it last saw",
       {{"<subject>", Alternatives(EntryNames(WaitSubjects())), "required", "what to wait for"},
        {"timeout_ms", RangeText(kMillis), "5000", "the deadline"}},
       [](TableReader& r, const Ctx& c) -> StepAction {
         WaitStep w;
         w.subject = ReadSubject(r, c, WaitSubjects(), "wait", [&] {
           w.timeout_ms = r.Number("timeout_ms", c.params, kMillis).value_or(Value::Constant(5000));
         });
         return w;
       },
       [](const StepAction& a, std::vector<const Value*>* out) {
         const WaitStep& w = std::get<WaitStep>(a);
         out->push_back(&w.timeout_ms);
         SubjectValues(WaitSubjects(), w.subject, out);
       }},
      {StepAction(ExpectStep{}).index(),
       "expect",
       "checks one subject now, written `expect.<subject> = { ... }`; every failed check is "
       "reported with what was expected and what was seen",
       {{"<subject>", Alternatives(EntryNames(ExpectSubjects())), "required", "what to check"}},
       [](TableReader& r, const Ctx& c) -> StepAction {
         return ExpectStep{ReadSubject(r, c, ExpectSubjects(), "expect")};
       },
       [](const StepAction& a, std::vector<const Value*>* out) {
         SubjectValues(ExpectSubjects(), std::get<ExpectStep>(a).subject, out);
       }},
  };
  return kinds;
}

void ReferenceTable(std::string* out, const std::vector<FieldDoc>& fields) {
  *out += "| field | type | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const FieldDoc& f : fields) {
    *out += fmt::format("| `{}` | {} | {} | {} |\n", f.key, f.type, f.fallback, f.meaning);
  }
}

template <typename V>
void SubjectReference(std::string* out, const char* step, const std::vector<Entry<V>>& family) {
  for (const Entry<V>& e : family) {
    *out += fmt::format("\n### `{}.{}`\n\n{}\n\n", step, e.name, Sentence(e.summary));
    ReferenceTable(out, e.fields);
  }
}

}  // namespace

const char* ConnectOutcomeKey(ConnectResult outcome) { return OutcomeKeys().Name(outcome); }

const char* Step::Kind() const { return EntryOf(Kinds(), action).name; }

std::vector<const Value*> StepValues(const Step& step) {
  std::vector<const Value*> out;
  EntryOf(Kinds(), step.action).values(step.action, &out);
  return out;
}

std::string StepReference() {
  std::string out =
      "# Step reference\n\n"
      "Printed by `nstest steps` from the step registry (`framework/suite/suite_steps.cc`); a test "
      "keeps `docs/steps.md` equal to it. Each `[[test.step]]` holds exactly one of these kinds. "
      "Numbers are integers or expressions (strings such as `\"backlog + 1\"`, see the suite "
      "format); `required` fields have no default.\n";
  for (const Kind& k : Kinds()) {
    out += fmt::format("\n## `{}`\n\n{}\n\n", k.name, Sentence(k.summary));
    ReferenceTable(&out, k.fields);
    if (std::string(k.name) == "wait") SubjectReference(&out, "wait", WaitSubjects());
    if (std::string(k.name) == "expect") SubjectReference(&out, "expect", ExpectSubjects());
  }
  return out;
}

Step ParseStep(const toml::table& table, const std::string& file,
               const std::set<std::string>& params, const std::vector<std::string>& namespaces,
               std::set<std::string>* holds, std::set<std::string>* captures,
               std::set<std::string>* labels) {
  Ctx c{file, params, namespaces, holds, captures, labels};
  if (table.size() != 1) {
    throw SuiteError(PosOf(table, file),
                     fmt::format("a step has exactly one action ({}), this one has {}",
                                 Join(EntryNames(Kinds()), ','), table.size()));
  }
  auto first = table.begin();
  const toml::key& key = first->first;
  const toml::node& node = first->second;
  std::string kind(key.str());
  Step s;
  s.where = PosOf(key, file);
  const Kind* k = FindEntry(Kinds(), kind);
  if (k == nullptr) {
    std::string near = ClosestName(kind, EntryNames(Kinds()));
    throw SuiteError(s.where,
                     fmt::format("unknown step '{}'{}", kind,
                                 near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
  }
  if (!node.is_table()) {
    throw SuiteError(PosOf(node, file),
                     fmt::format("'{}' must be a table, not {}", kind, TypeName(node)));
  }
  TableReader r(*node.as_table(), file, fmt::format("step '{}'", kind));
  s.action = k->parse(r, c);
  r.Done();
  return s;
}

}  // namespace nstest
