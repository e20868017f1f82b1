// The step kinds of a suite test, each declared once: its fields with their types, defaults and
// meaning, read from TOML into the kind's struct (steps.h). The same declarations give the list
// of kinds in messages and the reference `nstest steps` prints. Adding a kind: its struct in
// steps.h, one entry in Kinds() below, and its execution in execute_steps.cc (a missing one is a
// compile error there). The field machinery is in step_fields.h, the wait and expect subjects in
// step_subjects.cc.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "nstest/sysctl.h"
#include "suite/step_fields.h"

namespace nstest {
namespace {

using namespace registry;

// --- step kinds ---

template <typename S>
std::vector<Field<S>> FilterFields(std::string S::*netns, Hook S::*hook, PacketMatch S::*match) {
  return Concat({NetnsField(netns, "netns", "client", "where the rule is"),
                 Choice(hook, "hook", Hooks(), Hook::kOutput,
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
           Choice(&ListenStep::accept, "accept", AcceptPolicies(), AcceptPolicy::kNever,
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
           Choice(&ConnectStep::mode, "mode", ConnectModes(), ConnectMode::kSequential,
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
           Required(&SynsStep::count, "count", Range{1, 25536},
                    "how many SYNs (one source port each, from 40000 to 65535)"),
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
            [](TableReader& r, const Ctx& c, SysctlStep& s) {
              std::optional<std::string> key = r.String("key");
              if (!key) r.Fail(r.table(), "missing 'key'");
              if (std::string problem = c.scope.keys.Problem(*key, c.scope.newer_kernel);
                  !problem.empty()) {
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
          "long as the case (a server it starts in the background can keep writing); "
          "`$NSTEST_CASE` holds the case's full name",
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
      {AlternativeIndex<StepAction, WaitStep>(),
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
      {AlternativeIndex<StepAction, ExpectStep>(),
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
               const TestScope& scope, std::set<std::string>* holds,
               std::set<std::string>* captures, std::set<std::string>* labels) {
  Ctx c{file, params, namespaces, scope, holds, captures, labels};
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
