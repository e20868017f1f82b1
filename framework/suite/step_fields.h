// The machinery of the step registry: a field of a step struct is declared once, with its
// documentation and how it is read from TOML; an Entry is a step kind (or a wait/expect subject)
// made of such fields, with what it does when a case runs. Private to the suite engine
// (suite_steps.cc and the families under steps/).
#ifndef NSTEST_SUITE_STEP_FIELDS_H_
#define NSTEST_SUITE_STEP_FIELDS_H_

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "nstest/names.h"
#include "nstest/steps.h"
#include "src/strings.h"
#include "suite/execution.h"
#include "suite/suite_reader.h"

namespace nstest::registry {

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
  const TestScope& scope;
  std::set<std::string>* holds;
  std::set<std::string>* captures;
  std::set<std::string>* labels;
  std::set<std::string>* processes;  // names of `start` steps so far
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

// "never / all / first-n" (a Markdown table cell cannot hold '|').
std::string Alternatives(const std::vector<std::string>& names);
// "A sentence." from "a sentence".
std::string Sentence(std::string text);
std::string RangeText(Range range);
// The namespace named by `key` (or `fallback`), which the topology must have.
std::string Netns(TableReader& r, const Ctx& c, const char* key, const std::string& fallback);
// The name at `key` of something an earlier step made; "no <what> 'x' before this step" if none.
std::string KnownName(TableReader& r, const char* key, const std::set<std::string>& known,
                      const char* what, const char* fallback = nullptr);

// A literal value given as an integer or a string, as text ("128", "cubic"); fails at `v` for
// any other type.
std::string IntegerOrString(TableReader& r, const toml::node& v);

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

// `label`: the connections of earlier connect steps, "connections" (connect's default) if unset.
template <typename S>
Field<S> LabelField(std::string S::*m) {
  return {{"label", "string", "\"connections\"", "the connect steps' label"},
          [=](TableReader& r, const Ctx& c, S& s) {
            s.*m = KnownName(r, "label", *c.labels, "connect step labelled", "connections");
          },
          {}};
}

inline const NameTable<TcpFlagPattern>& MatchNames() { return TcpFlagPatterns(); }

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
        "the TCP flags: handshake-ack (ACK alone), syn-ack, syn (no ACK), rst, ack (ACK set), fin, "
        "any"},
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

inline const NameTable<Family>& Families() {
  static const NameTable<Family> names = {{Family::kIPv4, "ipv4"}, {Family::kIPv6, "ipv6"}};
  return names;
}

// Checks an address field at load: a literal must parse, and agree with an explicit `family`.
void CheckAddress(TableReader& r, const std::string& address, std::optional<Family> family);

// `address` and `family`: where a step binds or connects. `own` says what "" means; `wildcard`
// whether "any" (0.0.0.0 or ::) is allowed (for a bind, not for a destination).
template <typename S>
std::vector<Field<S>> AddressFields(std::string S::*address, Family S::*family, const char* own,
                                    bool wildcard) {
  return {{{"address", "string", "\"\"",
            wildcard
                ? fmt::format("an IPv4 or IPv6 address; \"\" for {}, \"any\" for the wildcard", own)
                : fmt::format("an IPv4 or IPv6 address; \"\" for {}", own)},
           [=](TableReader& r, const Ctx&, S& s) {
             s.*address = r.String("address", "");
             if (!wildcard && s.*address == "any") {
               r.FailKey("address",
                         "'any' (the wildcard) is for listen; give the address to go to");
             }
             std::optional<std::string> f = r.String("family");
             s.*family = Family::kIPv4;
             if (f) s.*family = *Families().Find(r.Choice("family", Families().Names(), "ipv4"));
             CheckAddress(r, s.*address, f ? std::optional<Family>(s.*family) : std::nullopt);
           },
           {}},
          {{"family", "ipv4 / ipv6", "ipv4", "which of the namespace's addresses (or wildcards)"},
           [](TableReader&, const Ctx&, S&) {},
           {}}};
}

// What an error listing several listeners on a port says to do.
constexpr const char* kPickListener =
    "select one with 'address' or 'family' (and 'index' within a SO_REUSEPORT group), or check "
    "them together with expect.listeners";

// `address`, `family` and `index`: which listener, where several listen on the port.
template <typename S>
std::vector<Field<S>> ListenerChoiceFields(ListenerChoice S::*m) {
  return {{{"address", "string", "any address",
            "only the listener bound to this address (\"any\": the wildcard)"},
           [=](TableReader& r, const Ctx& c, S& s) {
             ListenerChoice& w = s.*m;
             w.address = r.String("address", "");
             if (r.String("family")) {
               w.family = *Families().Find(r.Choice("family", Families().Names(), "ipv4"));
             }
             CheckAddress(r, w.address, w.family);
             w.index = r.Number("index", c.params, Range{0, 65535});
           },
           [=](const S& s, std::vector<const Value*>* out) {
             if ((s.*m).index) out->push_back(&*(s.*m).index);
           }},
          {{"family", "ipv4 / ipv6", "either", "only IPv4 or only IPv6 listeners"},
           [](TableReader&, const Ctx&, S&) {},
           {}},
          {{"index", RangeText(Range{0, 65535}), "any",
            "the socket's place in its SO_REUSEPORT group, in the order `listen` made them (a "
            "started process's sockets: by inode number, as a rule their creation order)"},
           [](TableReader&, const Ctx&, S&) {},
           {}}};
}

template <typename S>
std::vector<Field<S>> Concat(std::vector<Field<S>> a, const std::vector<Field<S>>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The index of alternative `S` in variant `V`, at compile time.
template <typename V, typename S, size_t I = 0>
constexpr size_t AlternativeIndex() {
  static_assert(I < std::variant_size_v<V>, "not an alternative of the variant");
  if constexpr (std::is_same_v<std::variant_alternative_t<I, V>, S>) {
    return I;
  } else {
    return AlternativeIndex<V, S, I + 1>();
  }
}

// An entry of a family (step kinds, wait subjects, expect subjects): how it reads into its
// alternative of `V`, and what it does with one when the case runs, returning `R`.
template <typename V, typename R = void>
struct Entry {
  size_t index;  // the alternative of V it produces
  const char* name;
  const char* summary;
  std::vector<FieldDoc> fields;
  std::function<V(TableReader&, const Ctx&)> parse;
  std::function<void(const V&, std::vector<const Value*>*)> values;
  std::function<R(Execution&, const Step&, const V&)> run;
};

// Declares a member of a family: struct `S` (an alternative of `V`) read field by field, then
// `check` for what relates fields to each other; `run` is what it does when the case runs.
template <typename V, typename S, typename R>
Entry<V, R> Declare(const char* name, const char* summary, std::vector<Field<S>> fields,
                    R (*run)(Execution&, const Step&, const S&),
                    std::function<void(TableReader&, const Ctx&, S&)> check = {}) {
  Entry<V, R> e{AlternativeIndex<V, S>(), name, summary, {}, {}, {}, {}};
  for (const Field<S>& f : fields) e.fields.push_back(f.doc);
  e.parse = [fields, check](TableReader& r, const Ctx& c) -> V {
    // A misspelt key first: what its absence makes wrong ("needs 'running' or 'exit'") comes after.
    // Not where keys are names of the user's (`<Counter>`).
    std::vector<std::string> keys;
    for (const Field<S>& f : fields) keys.push_back(f.doc.key);
    if (std::none_of(keys.begin(), keys.end(), [](const std::string& k) { return k[0] == '<'; })) {
      r.RefuseUnknown(keys);
    }
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
  e.run = [run](Execution& x, const Step& step, const V& v) {
    return run(x, step, std::get<S>(v));
  };
  return e;
}

template <typename V, typename R>
const Entry<V, R>* FindEntry(const std::vector<Entry<V, R>>& family, const std::string& name) {
  for (const Entry<V, R>& e : family) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

template <typename V, typename R>
std::vector<std::string> EntryNames(const std::vector<Entry<V, R>>& family) {
  std::vector<std::string> out;
  for (const Entry<V, R>& e : family) out.emplace_back(e.name);
  return out;
}

template <typename V, typename R>
V ReadSubject(TableReader& r, const Ctx& c, const std::vector<Entry<V, R>>& subjects,
              const char* step, std::function<void()> before_subject = {}) {
  const toml::table* found = nullptr;
  const Entry<V, R>* entry = nullptr;
  for (const Entry<V, R>& e : subjects) {
    if (const toml::table* t = r.Table(e.name)) {
      if (found != nullptr) r.FailKey(e.name, "one subject per step");
      found = t;
      entry = &e;
    }
  }
  if (found == nullptr) {
    if (before_subject) before_subject();
    r.RefuseUnknown(EntryNames(subjects));  // `wait.exited` is an unknown key, not a missing one
    r.Fail(r.table(), fmt::format("needs one of: {}", Join(EntryNames(subjects), ',')));
  }
  if (before_subject) before_subject();
  TableReader sub(*found, c.file, fmt::format("{}.{}", step, entry->name));
  V v = entry->parse(sub, c);
  sub.Done();
  return v;
}

// The entry that produced `v`.
template <typename V, typename R>
const Entry<V, R>& EntryOf(const std::vector<Entry<V, R>>& family, const V& v) {
  for (const Entry<V, R>& e : family) {
    if (e.index == v.index()) return e;
  }
  throw Error("internal error: no entry for a parsed alternative");
}

template <typename V, typename R>
void SubjectValues(const std::vector<Entry<V, R>>& subjects, const V& v,
                   std::vector<const Value*>* out) {
  EntryOf(subjects, v).values(v, out);
}

using Kind = Entry<StepAction>;
using WaitSubject = decltype(WaitStep::subject);
using ExpectSubject = decltype(ExpectStep::subject);

// The families, each in its own file under steps/ with the execution of its members; Kinds()
// (suite_steps.cc) lists them all, in the reference's order.
std::vector<Kind> ConnectionKinds();  // listen, connect, send, read, close, accept
std::vector<Kind> PacketKinds();      // syns, drop, hold, release, capture
std::vector<Kind> CommandKinds();     // sysctl, run, start, stop
Kind WaitKind();
Kind ExpectKind();
const std::vector<Kind>& Kinds();
// The subjects of `wait` and `expect` (steps/wait.cc, steps/expect.cc).
const std::vector<Entry<WaitSubject, Awaited>>& WaitSubjects();
const std::vector<Entry<ExpectSubject>>& ExpectSubjects();
// Outcome names as `expect.connections` takes them ("timed_out").
const NameTable<ConnectResult>& OutcomeKeys();

}  // namespace nstest::registry

#endif  // NSTEST_SUITE_STEP_FIELDS_H_
