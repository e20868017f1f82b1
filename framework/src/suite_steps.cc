// Parsing the steps of a suite test (see suite.h and README.md "Suite format").
#include <fmt/format.h>

#include <algorithm>

#include "nstest/sysctl.h"
#include "src/strings.h"
#include "src/suite_reader.h"

namespace nstest {
namespace {

constexpr Range kPort{1, 65535};
constexpr Range kOptionalPort{0, 65535};
constexpr Range kBacklog{-1, 2147483647};
constexpr Range kCount{1, 100000};
constexpr Range kNonNegativeCount{0, 100000};
constexpr Range kMillis{0, 600000};
constexpr Range kAny{INT64_MIN, INT64_MAX};

const std::vector<std::string> kMatches = {"handshake-ack", "syn-ack", "syn", "rst", "ack", "any"};

struct Ctx {
  const std::string& file;
  const std::set<std::string>& params;
  const std::vector<std::string>& namespaces;
  std::set<std::string>* holds;
  std::set<std::string>* captures;
  std::set<std::string>* labels;
};

void Put(Step* s, const char* key, std::optional<Value> v) {
  if (v) s->numbers[key] = *v;
}

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

std::string Known(TableReader& r, const char* key, const std::set<std::string>& known,
                  const char* what) {
  std::optional<std::string> v = r.String(key);
  if (!v) r.Fail(r.table(), fmt::format("missing '{}'", key));
  if (known.count(*v) != 0) return *v;
  std::string near = ClosestName(*v, {known.begin(), known.end()});
  r.FailKey(key, fmt::format("no {} named '{}' before this step{}", what, *v,
                             near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

Value Required(TableReader& r, const Ctx& c, const char* key, Range range) {
  std::optional<Value> v = r.Number(key, c.params, range);
  if (!v) r.Fail(r.table(), fmt::format("missing '{}'", key));
  return *v;
}

// A TCP match for drop/hold and packet questions.
void ReadMatch(TableReader& r, const Ctx& c, Step* s) {
  s->strings["match"] = r.Choice("match", kMatches, "any");
  Put(s, "dport", r.Number("dport", c.params, kOptionalPort));
  Put(s, "sport", r.Number("sport", c.params, kOptionalPort));
  Put(s, "sport_min", r.Number("sport_min", c.params, kOptionalPort));
  Put(s, "sport_max", r.Number("sport_max", c.params, kOptionalPort));
}

void Listen(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "netns", "server");
  s->address = r.String("address", "");
  s->numbers["port"] = Required(r, c, "port", kPort);
  s->numbers["backlog"] = Required(r, c, "backlog", kBacklog);
  s->strings["accept"] = r.Choice("accept", {"never", "all", "first-n", "on-demand"}, "never");
  Put(s, "accept_limit", r.Number("accept_limit", c.params, kCount));
  if (s->strings["accept"] == "first-n" && s->numbers.count("accept_limit") == 0) {
    r.FailKey("accept", "accept = \"first-n\" needs 'accept_limit'");
  }
}

void Connect(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "from", "client");
  s->peer = Netns(r, c, "to", "server");
  s->address = r.String("address", "");
  s->numbers["port"] = Required(r, c, "port", kPort);
  s->numbers["count"] = r.Number("count", c.params, kCount).value_or(Value{});
  if (r.table().get("count") == nullptr) s->numbers["count"].expr = Expression::Constant(1);
  s->strings["mode"] = r.Choice("mode", {"sequential", "burst"}, "sequential");
  Put(s, "deadline_ms", r.Number("deadline_ms", c.params, kMillis));
  Put(s, "source_port", r.Number("source_port", c.params, kPort));
  Put(s, "read_ms", r.Number("read_ms", c.params, kMillis));
  s->strings["send"] = r.String("send", "");
  s->flags["stop_at_first_failure"] = r.Bool("stop_at_first_failure").value_or(false);
  s->strings["label"] = r.String("label", "connections");
  c.labels->insert(s->strings["label"]);
}

void Read(TableReader& r, const Ctx& c, Step* s) {
  s->strings["label"] = Known(r, "label", *c.labels, "connect step labelled");
  s->numbers["timeout_ms"] = Required(r, c, "timeout_ms", kMillis);
}

void Accept(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "netns", "server");
  s->numbers["port"] = Required(r, c, "port", kPort);
  Put(s, "count", r.Number("count", c.params, kCount));
  Put(s, "timeout_ms", r.Number("timeout_ms", c.params, kMillis));
}

void Syns(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "from", "client");
  s->peer = Netns(r, c, "to", "server");
  s->numbers["port"] = Required(r, c, "port", kPort);
  s->numbers["count"] = Required(r, c, "count", Range{1, 65535});
  Put(s, "sources", r.Number("sources", c.params, Range{1, 65535}));
}

void Filter(TableReader& r, const Ctx& c, Step* s, bool hold) {
  s->netns = Netns(r, c, "netns", "client");
  s->strings["hook"] = r.Choice("hook", {"output", "input"}, "output");
  ReadMatch(r, c, s);
  if (hold) {
    std::optional<std::string> name = r.String("name");
    if (!name) r.Fail(r.table(), "missing 'name' (release and wait refer to the hold by it)");
    s->strings["name"] = *name;
    c.holds->insert(*name);
  }
}

void Release(TableReader& r, const Ctx& c, Step* s) {
  s->strings["hold"] = Known(r, "hold", *c.holds, "hold");
  Put(s, "count", r.Number("count", c.params, kCount));
  s->flags["keep_holding"] = r.Bool("keep_holding").value_or(false);
}

void CaptureStep(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "netns", "server");
  s->strings["interface"] = r.String("interface", "");
  s->strings["filter"] = r.String("filter", "");
  Put(s, "buffer_kb", r.Number("buffer_kb", c.params, Range{64, 1 << 20}));
  Put(s, "snaplen", r.Number("snaplen", c.params, Range{64, 65535}));
  s->strings["name"] = r.String("name", "capture");
  c.captures->insert(s->strings["name"]);
}

void SysctlStep(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "netns", "server");
  std::optional<std::string> key = r.String("key");
  if (!key) r.Fail(r.table(), "missing 'key'");
  if (std::string problem = SysctlKeyProblem(*key); !problem.empty()) r.FailKey("key", problem);
  s->strings["key"] = *key;
  const toml::node* v = r.Node("value");
  std::optional<Value> e = r.Number("expr", c.params, kAny);
  if ((v == nullptr) == !e.has_value()) {
    r.Fail(r.table(), "a sysctl step needs either 'value' (a literal) or 'expr' (an expression)");
  }
  if (e) {
    s->numbers["expr"] = *e;
  } else if (v->is_integer()) {
    s->strings["value"] = std::to_string(v->as_integer()->get());
  } else if (v->is_string()) {
    s->strings["value"] = v->as_string()->get();
  } else {
    r.Fail(*v, fmt::format("'value' must be an integer or a string, not {}", TypeName(*v)));
  }
}

void Run(TableReader& r, const Ctx& c, Step* s) {
  s->netns = Netns(r, c, "netns", "server");
  s->argv = r.Strings("argv");
  if (s->argv.empty()) r.Fail(r.table(), "'argv' must list the command and its arguments");
  Put(s, "timeout_ms", r.Number("timeout_ms", c.params, kMillis));
  Put(s, "exit", r.Number("exit", c.params, Range{0, 255}));
}

// The subject table of a wait or expect step: exactly one of `subjects`.
const toml::table& Subject(TableReader& r, const std::vector<std::string>& subjects, Step* s) {
  const toml::table* found = nullptr;
  for (const std::string& name : subjects) {
    if (const toml::table* t = r.Table(name.c_str())) {
      if (found != nullptr) r.FailKey(name.c_str(), "one subject per step");
      found = t;
      s->subject = name;
    }
  }
  if (found == nullptr) {
    r.Fail(r.table(), fmt::format("needs one of: {}", Join(subjects, ',')));
  }
  return *found;
}

void Counters(TableReader& sub, const Ctx& c, Step* s) {
  s->netns = Netns(sub, c, "netns", "server");
  const std::vector<std::string>& known = KnownCounterNames();
  for (auto&& [key, node] : sub.table()) {
    std::string name(key.str());
    if (name == "netns") continue;
    if (!ReadingForNewerKernel() && std::find(known.begin(), known.end(), name) == known.end()) {
      std::string near = ClosestName(name, known);
      throw SuiteError(PosOf(key, c.file),
                       fmt::format("unknown counter '{}'{}", name,
                                   near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    sub.Node(name.c_str());
    if (const toml::table* t = node.as_table()) {
      TableReader b(*t, c.file, fmt::format("counter '{}'", name));
      s->bounds[name] = {b.Number("min", c.params, kAny), b.Number("max", c.params, kAny)};
      b.Done();
    } else {
      std::optional<Value> v = sub.Number(name.c_str(), c.params, kAny);
      s->bounds[name] = {v, v};
    }
  }
}

void Wait(TableReader& r, const Ctx& c, Step* s) {
  const toml::table& t = Subject(r, {"accept_queue", "syn_recv", "counter", "held", "packets"}, s);
  Put(s, "timeout_ms", r.Number("timeout_ms", c.params, kMillis));
  TableReader sub(t, c.file, fmt::format("wait.{}", s->subject));
  if (s->subject == "accept_queue" || s->subject == "syn_recv") {
    s->netns = Netns(sub, c, "netns", "server");
    s->numbers["port"] = Required(sub, c, "port", kPort);
    s->numbers["value"] = Required(sub, c, "value", kNonNegativeCount);
  } else if (s->subject == "counter") {
    s->netns = Netns(sub, c, "netns", "server");
    std::optional<std::string> name = sub.String("name");
    if (!name) sub.Fail(t, "missing 'name'");
    const std::vector<std::string>& known = KnownCounterNames();
    if (!ReadingForNewerKernel() && std::find(known.begin(), known.end(), *name) == known.end()) {
      std::string near = ClosestName(*name, known);
      sub.FailKey("name",
                  fmt::format("unknown counter '{}'{}", *name,
                              near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    s->strings["name"] = *name;
    s->numbers["delta"] = Required(sub, c, "delta", kAny);
  } else if (s->subject == "held") {
    s->strings["hold"] = Known(sub, "hold", *c.holds, "hold");
    s->numbers["count"] = Required(sub, c, "count", kCount);
  } else {
    s->strings["capture"] = Known(sub, "capture", *c.captures, "capture");
    ReadMatch(sub, c, s);
    s->numbers["count"] = Required(sub, c, "count", kNonNegativeCount);
  }
  sub.Done();
}

void Expect(TableReader& r, const Ctx& c, Step* s) {
  const toml::table& t = Subject(r, {"connections", "listener", "counters", "packets"}, s);
  TableReader sub(t, c.file, fmt::format("expect.{}", s->subject));
  if (s->subject == "connections") {
    std::string label = sub.String("label", "connections");
    if (c.labels->count(label) == 0) {
      std::string near = ClosestName(label, {c.labels->begin(), c.labels->end()});
      sub.FailKey("label",
                  fmt::format("no connect step labelled '{}' before this step{}", label,
                              near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    s->strings["label"] = label;
    for (const char* o : {"established", "refused", "timed_out", "reset", "pending", "error"}) {
      Put(s, o, sub.Number(o, c.params, kNonNegativeCount));
    }
  } else if (s->subject == "listener") {
    s->netns = Netns(sub, c, "netns", "server");
    s->numbers["port"] = Required(sub, c, "port", kPort);
    for (const char* f : {"recv_q", "send_q", "syn_recv"}) {
      Put(s, f, sub.Number(f, c.params, kAny));
    }
  } else if (s->subject == "counters") {
    Counters(sub, c, s);
  } else {
    s->strings["capture"] = Known(sub, "capture", *c.captures, "capture");
    ReadMatch(sub, c, s);
    Put(s, "count", sub.Number("count", c.params, kNonNegativeCount));
    if (const toml::array* a = sub.Array("intervals_ms")) {
      for (const toml::node& e : *a) {
        if (e.is_integer()) {
          Value v;
          v.expr = Expression::Constant(e.as_integer()->get());
          v.where = PosOf(e, c.file);
          s->list.push_back(v);
        } else if (e.is_string()) {
          s->list.push_back(ParseValue(e, e.as_string()->get(), c.params, c.file));
        } else {
          sub.Fail(e, fmt::format("'intervals_ms' must hold integers, not {}", TypeName(e)));
        }
      }
      s->numbers["tolerance_ms"] = Required(sub, c, "tolerance_ms", kMillis);
    }
  }
  sub.Done();
}

const std::vector<std::pair<std::string, Step::Kind>>& Kinds() {
  static const std::vector<std::pair<std::string, Step::Kind>> kinds = {
      {"listen", Step::Kind::kListen},   {"connect", Step::Kind::kConnect},
      {"read", Step::Kind::kRead},       {"accept", Step::Kind::kAccept},
      {"syns", Step::Kind::kSyns},       {"drop", Step::Kind::kDrop},
      {"hold", Step::Kind::kHold},       {"release", Step::Kind::kRelease},
      {"capture", Step::Kind::kCapture}, {"sysctl", Step::Kind::kSysctl},
      {"run", Step::Kind::kRun},         {"wait", Step::Kind::kWait},
      {"expect", Step::Kind::kExpect},
  };
  return kinds;
}

}  // namespace

std::string StepKindName(Step::Kind kind) {
  for (const auto& [name, k] : Kinds()) {
    if (k == kind) return name;
  }
  return "?";
}

Step ParseStep(const toml::table& table, const std::string& file,
               const std::set<std::string>& params, const std::vector<std::string>& namespaces,
               std::set<std::string>* holds, std::set<std::string>* captures,
               std::set<std::string>* labels) {
  Ctx c{file, params, namespaces, holds, captures, labels};
  if (table.size() != 1) {
    std::vector<std::string> names;
    for (const auto& [k, v] : Kinds()) names.push_back(k);
    throw SuiteError(PosOf(table, file),
                     fmt::format("a step has exactly one action ({}), this one has {}",
                                 Join(names, ','), table.size()));
  }
  auto first = table.begin();
  const toml::key& key = first->first;
  const toml::node& node = first->second;
  std::string kind(key.str());
  Step s;
  s.where = PosOf(key, file);
  auto it =
      std::find_if(Kinds().begin(), Kinds().end(), [&](const auto& k) { return k.first == kind; });
  if (it == Kinds().end()) {
    std::vector<std::string> names;
    for (const auto& [k, v] : Kinds()) names.push_back(k);
    std::string near = ClosestName(kind, names);
    throw SuiteError(s.where,
                     fmt::format("unknown step '{}'{}", kind,
                                 near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
  }
  s.kind = it->second;
  if (!node.is_table()) {
    throw SuiteError(PosOf(node, file),
                     fmt::format("'{}' must be a table, not {}", kind, TypeName(node)));
  }
  TableReader r(*node.as_table(), file, fmt::format("step '{}'", kind));
  switch (s.kind) {
    case Step::Kind::kListen:
      Listen(r, c, &s);
      break;
    case Step::Kind::kConnect:
      Connect(r, c, &s);
      break;
    case Step::Kind::kRead:
      Read(r, c, &s);
      break;
    case Step::Kind::kAccept:
      Accept(r, c, &s);
      break;
    case Step::Kind::kSyns:
      Syns(r, c, &s);
      break;
    case Step::Kind::kDrop:
      Filter(r, c, &s, false);
      break;
    case Step::Kind::kHold:
      Filter(r, c, &s, true);
      break;
    case Step::Kind::kRelease:
      Release(r, c, &s);
      break;
    case Step::Kind::kCapture:
      CaptureStep(r, c, &s);
      break;
    case Step::Kind::kSysctl:
      SysctlStep(r, c, &s);
      break;
    case Step::Kind::kRun:
      Run(r, c, &s);
      break;
    case Step::Kind::kWait:
      Wait(r, c, &s);
      break;
    case Step::Kind::kExpect:
      Expect(r, c, &s);
      break;
  }
  r.Done();
  return s;
}

}  // namespace nstest
