// The registry of step kinds: Kinds() lists every family (steps/*.cc), where each kind is declared
// once, with its fields (types, defaults, meaning) and what it does when a case runs. From it come
// parsing, the list of kinds in messages, the reference `nstest steps` prints, and execution.
// Adding a kind: its struct in steps.h (an alternative of StepAction), its Declare() entry with
// its Do function in its family's file; the test of docs/steps.md then asks for the reference to be
// regenerated. The field machinery is in step_fields.h.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "nstest/sysctl.h"
#include "suite/step_fields.h"

namespace nstest {
namespace {

using namespace registry;

}  // namespace

const std::vector<Kind>& registry::Kinds() {
  static const std::vector<Kind> kinds = [] {
    std::vector<Kind> all;
    for (std::vector<Kind> family : {ConnectionKinds(), PacketKinds(), CommandKinds(),
                                     std::vector<Kind>{WaitKind(), ExpectKind()}}) {
      all.insert(all.end(), family.begin(), family.end());
    }
    return all;
  }();
  return kinds;
}

namespace {

void ReferenceTable(std::string* out, const std::vector<FieldDoc>& fields) {
  *out += "| field | type | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const FieldDoc& f : fields) {
    *out += fmt::format("| `{}` | {} | {} | {} |\n", f.key, f.type, f.fallback, f.meaning);
  }
}

template <typename V, typename R>
void SubjectReference(std::string* out, const char* step, const std::vector<Entry<V, R>>& family) {
  for (const Entry<V, R>& e : family) {
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
               std::set<std::string>* captures, std::set<std::string>* labels,
               std::set<std::string>* processes) {
  Ctx c{file, params, namespaces, scope, holds, captures, labels, processes};
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
