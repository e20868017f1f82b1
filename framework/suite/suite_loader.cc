// Loading a suite file (toml++ lives in this and the other suite_*.cc files only).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "nstest/counters.h"
#include "nstest/netns.h"
#include "nstest/preflight.h"
#include "nstest/sysctl.h"
#include "src/strings.h"
#include "suite/suite_reader.h"

namespace nstest {
namespace {

constexpr size_t kMaxCasesPerSuite = 10000;
constexpr size_t kMaxFileBytes = 1 << 20;
// Bounds what one case builds: namespaces and veth pairs are kernel memory.
constexpr size_t kMaxNamespaces = 16;
constexpr size_t kMaxLinks = 64;

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// TOML allows non-ASCII characters only inside strings and comments. Refusing them elsewhere
// before toml++ sees the text also keeps clear of a toml++ 3.3 defect: its whitespace check
// reaches __builtin_unreachable() for many non-ASCII code points (found by the fuzzer).
void CheckNonAsciiPlacement(const std::string& text, const std::string& path) {
  uint32_t line = 1, col = 1;
  size_t i = 0;
  auto advance = [&] {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) {
      ++col;  // count code points, not continuation bytes
    }
    ++i;
  };
  auto starts = [&](const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
  // A quote opens a string only where TOML has a key or a value: at the start of a line or after
  // '=', '[', ',', '{' or '.'. Elsewhere (say "+\"") toml++ does not read a string either, and may
  // meet what follows in a state where non-ASCII is unreachable for it.
  char prev = '\n';
  auto string_may_start = [&] { return std::strchr("\n=[,{.", prev) != nullptr; };
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      advance();
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') advance();
    } else if ((starts("\"\"\"") || starts("\'\'\'")) && string_may_start()) {
      std::string close = text.substr(i, 3);
      for (int k = 0; k < 3; ++k) advance();
      while (i < text.size() && !starts(close.c_str())) {
        if (close[0] == '"' && text[i] == '\\' && i + 1 < text.size()) advance();
        advance();
      }
      for (int k = 0; k < 3 && i < text.size(); ++k) advance();
      prev = '"';
    } else if ((c == '"' || c == '\'') && string_may_start()) {
      advance();
      while (i < text.size() && text[i] != c && text[i] != '\n') {
        if (c == '"' && text[i] == '\\' && i + 1 < text.size()) advance();
        advance();
      }
      if (i < text.size() && text[i] == c) advance();
      prev = '"';
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      throw SuiteError(SourcePos{path, line, col},
                       "a non-ASCII character outside a string or comment (TOML allows them "
                       "only there)");
    } else {
      prev = c;
      advance();
    }
  }
}

}  // namespace

namespace {

void ReadSysctlTable(const toml::table& t, const std::string& prefix, const std::string& netns,
                     const std::string& file, const TestScope& scope,
                     std::vector<SysctlSetting>* out) {
  for (auto&& [key, node] : t) {
    std::string k = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const toml::table* sub = node.as_table()) {
      ReadSysctlTable(*sub, k, netns, file, scope, out);  // unquoted dotted keys nest tables
      continue;
    }
    SysctlSetting s{netns, k, "", PosOf(key, file)};
    if (node.is_integer()) {
      s.value = std::to_string(node.as_integer()->get());
    } else if (node.is_string()) {
      s.value = node.as_string()->get();
    } else {
      throw SuiteError(PosOf(node, file), fmt::format("sysctl '{}' must be an integer or a "
                                                      "string, not {}",
                                                      k, TypeName(node)));
    }
    if (std::string problem = scope.keys.Problem(k, scope.newer_kernel); !problem.empty()) {
      throw SuiteError(s.where, problem);
    }
    out->push_back(s);
  }
}

void ReadSysctls(TableReader& r, const std::vector<std::string>& namespaces, const TestScope& scope,
                 std::vector<SysctlSetting>* out) {
  const toml::table* t = r.Table("sysctl");
  if (t == nullptr) return;
  for (auto&& [key, node] : *t) {
    std::string ns(key.str());
    if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) {
      std::string near = ClosestName(ns, namespaces);
      throw SuiteError(PosOf(key, r.file()),
                       fmt::format("unknown namespace '{}' in sysctl{}", ns,
                                   near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    if (!node.is_table()) {
      throw SuiteError(PosOf(node, r.file()), fmt::format("sysctl.{} must be a table of keys", ns));
    }
    ReadSysctlTable(*node.as_table(), "", ns, r.file(), scope, out);
  }
}

void ReadTopology(TableReader& top, Suite* suite) {
  const toml::table* t = top.Table("topology");
  if (t == nullptr) {
    suite->namespaces = {{"server", {}}, {"client", {}}};
    suite->links = {LinkSpec{"server", "client", 0, 0, true, {}}};
    return;
  }
  TableReader r(*t, suite->file, "topology");
  std::vector<std::string> names = r.Strings("namespaces");
  if (names.empty() || names.size() > kMaxNamespaces) {
    r.FailKey("namespaces", fmt::format("'namespaces' names {} namespaces; a case has 1 to {}",
                                        names.size(), kMaxNamespaces));
  }
  for (const std::string& n : names) {
    if (!ValidName(n)) r.FailKey("namespaces", fmt::format("bad namespace name '{}'", n));
    suite->namespaces.push_back({n, r.where()});
  }
  if (const toml::array* links = r.Array("link")) {
    if (links->size() > kMaxLinks) {
      r.FailKey("link", fmt::format("'link' has {} entries; a case has at most {} links",
                                    links->size(), kMaxLinks));
    }
    for (const toml::node& l : *links) {
      if (!l.is_table()) r.Fail(l, "each link must be a table");
      TableReader lr(*l.as_table(), suite->file, "link");
      LinkSpec spec;
      spec.where = PosOf(l, suite->file);
      for (auto [field, out] : {std::pair{"a", &spec.a}, std::pair{"b", &spec.b}}) {
        std::optional<std::string> v = lr.String(field);
        if (!v) lr.Fail(l, fmt::format("a link needs '{}'", field));
        if (std::find(names.begin(), names.end(), *v) == names.end()) {
          std::string near = ClosestName(*v, names);
          lr.FailKey(field,
                     fmt::format("unknown namespace '{}'{}", *v,
                                 near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
        }
        *out = *v;
      }
      if (spec.a == spec.b) lr.FailKey("b", "a link joins two different namespaces");
      std::optional<Value> index = lr.Number("index", {}, Range{0, 255});
      spec.index = index ? static_cast<int>(index->expr.Evaluate({})) : -1;  // -1: numbered below
      if (index) {
        for (const LinkSpec& other : suite->links) {
          if (other.index == spec.index) {
            lr.FailKey("index", fmt::format("index {} is taken by the link at line {} (each link "
                                            "needs a subnet of its own: 198.18.<index>.0/24)",
                                            spec.index, other.where.line));
          }
        }
      }
      spec.mtu = static_cast<unsigned>(
          lr.Number("mtu", {}, Range{68, 65535}).value_or(Value{}).expr.Evaluate({}));
      spec.ipv6 = lr.Bool("ipv6").value_or(true);
      lr.Done();
      suite->links.push_back(spec);
    }
  }
  // A link without `index` takes the lowest one no other link has, so links in order get 0, 1, 2...
  // and never share a subnet.
  std::set<int> taken;
  for (const LinkSpec& l : suite->links) taken.insert(l.index);
  for (LinkSpec& l : suite->links) {
    if (l.index >= 0) continue;
    int free = 0;
    while (taken.count(free) != 0) ++free;
    l.index = free;
    taken.insert(free);
  }
  r.Done();
}

void ReadMatrix(TableReader& r, TestSpec* test) {
  const toml::table* m = r.Table("matrix");
  if (m == nullptr) return;
  size_t combinations = 1;
  for (auto&& [key, node] : *m) {
    std::string name(key.str());
    if (!ValidName(name) || std::isdigit(static_cast<unsigned char>(name[0])) ||
        name.find('-') != std::string::npos) {
      throw SuiteError(PosOf(key, r.file()), fmt::format("bad parameter name '{}'", name));
    }
    const toml::array* a = node.as_array();
    if (a == nullptr || a->empty() || a->size() > 1000) {
      throw SuiteError(PosOf(node, r.file()),
                       fmt::format("matrix.{} must be an array of 1 to 1000 integers", name));
    }
    for (const toml::node& v : *a) {
      if (!v.is_integer()) {
        throw SuiteError(PosOf(v, r.file()),
                         fmt::format("matrix.{} must hold integers, not {}", name, TypeName(v)));
      }
      test->matrix[name].push_back(v.as_integer()->get());
    }
    combinations *= a->size();
    if (combinations > kMaxCasesPerSuite) {
      throw SuiteError(PosOf(node, r.file()), "the matrix expands to more than 10000 cases");
    }
  }
}

TestSpec ReadTest(const toml::table& t, const Suite& suite, SysctlKeyChecker& keys) {
  TableReader r(t, suite.file, "test");
  TestSpec test;
  test.where = PosOf(t, suite.file);
  std::optional<std::string> name = r.String("name");
  if (!name) r.Fail(t, "a test needs a 'name'");
  if (!ValidName(*name)) r.FailKey("name", "a test name is 1-64 of [A-Za-z0-9_-]");
  test.name = *name;
  ReadMatrix(r, &test);
  std::set<std::string> params;
  for (const auto& [k, v] : test.matrix) params.insert(k);
  for (const std::string& f : r.Strings("requires")) {
    if (!FeatureFromName(f)) {
      std::vector<std::string> known;
      for (Feature x : AllFeatures()) known.emplace_back(FeatureName(x));
      std::string near = ClosestName(f, known);
      r.FailKey("requires",
                fmt::format("unknown feature '{}'{}", f,
                            near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    test.requires_features.push_back(f);
  }
  test.min_kernel = r.String("min_kernel", "");
  if (!test.min_kernel.empty() &&
      test.min_kernel.find_first_not_of("0123456789.") != std::string::npos) {
    r.FailKey("min_kernel", "'min_kernel' is a version such as \"5.10\"");
  }
  const TestScope scope{
      keys, !test.min_kernel.empty() && !KernelAtLeast(KernelRelease(), test.min_kernel)};
  test.xfail = r.String("xfail", "");
  test.timeout_s = r.Real("timeout").value_or(60);
  if (!(test.timeout_s > 0 && test.timeout_s <= 3600))
    r.FailKey("timeout", "'timeout' must be 0-3600 seconds");
  std::vector<std::string> namespaces;
  for (const NamespaceSpec& n : suite.namespaces) namespaces.push_back(n.name);
  ReadSysctls(r, namespaces, scope, &test.sysctls);
  const toml::array* steps = r.Array("step");
  if (steps == nullptr || steps->empty()) r.Fail(t, "a test needs at least one [[test.step]]");
  if (steps->size() > 1000) r.FailKey("step", "more than 1000 steps");
  std::set<std::string> holds, captures, labels, processes;
  for (const toml::node& s : *steps) {
    if (!s.is_table()) r.Fail(s, "each step must be a table");
    test.steps.push_back(ParseStep(*s.as_table(), suite.file, params, namespaces, scope, &holds,
                                   &captures, &labels, &processes));
  }
  r.Done();
  return test;
}

// `text` with every non-ASCII code point (a lead byte and its continuation bytes, or a stray byte)
// replaced by one 'x'.
std::string AsciiStandIn(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out += c;
    } else if ((u & 0xc0) != 0x80) {
      out += 'x';
    }
  }
  return out;
}

}  // namespace

std::string SourcePos::ToString() const { return fmt::format("{}:{}:{}", file, line, column); }

SuiteError::SuiteError(const SourcePos& where, const std::string& message)
    : Error(where.ToString() + ": " + message), where_(where), message_(message) {}

Suite LoadSuite(const std::string& path, SysctlKeyChecker* keys) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SuiteError(SourcePos{path, 0, 0}, "cannot read the file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return LoadSuiteText(text, path, keys);
}

Suite LoadSuiteText(const std::string& text, const std::string& path, SysctlKeyChecker* keys) {
  SysctlKeyChecker own;
  if (keys == nullptr) keys = &own;
  Suite suite;
  suite.file = path;
  if (text.size() > kMaxFileBytes) throw SuiteError(SourcePos{path, 1, 1}, "larger than 1 MiB");
  CheckNonAsciiPlacement(text, path);
  toml::table root;
  try {
    // toml++ 3.3 reaches __builtin_unreachable() when its error paths meet some non-ASCII code
    // points, wherever they are. So the structure is parsed first with every non-ASCII code point
    // replaced by 'x' (lines and columns stay the same); only a document that is valid that way,
    // in which non-ASCII can only be inside strings and comments, reaches toml++ as it is.
    if (std::string ascii = AsciiStandIn(text); ascii != text) (void)toml::parse(ascii, path);
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw SuiteError(SourcePos{path, e.source().begin.line, e.source().begin.column},
                     std::string(e.description()));
  }
  TableReader r(root, path, "the suite");
  std::string stem = path.substr(path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.rfind('.'));
  suite.name = r.String("name", stem);
  if (!ValidName(suite.name)) r.FailKey("name", "a suite name is 1-64 of [A-Za-z0-9_-]");
  suite.description = r.String("description", "");
  ReadTopology(r, &suite);
  std::vector<std::string> namespaces;
  for (const NamespaceSpec& n : suite.namespaces) namespaces.push_back(n.name);
  ReadSysctls(r, namespaces, TestScope{*keys}, &suite.sysctls);
  const toml::array* tests = r.Array("test");
  if (tests == nullptr || tests->empty()) r.Fail(root, "a suite needs at least one [[test]]");
  std::set<std::string> names;
  for (const toml::node& t : *tests) {
    if (!t.is_table()) r.Fail(t, "each test must be a table");
    TestSpec test = ReadTest(*t.as_table(), suite, *keys);
    if (!names.insert(test.name).second) {
      throw SuiteError(test.where, fmt::format("a second test named '{}'", test.name));
    }
    suite.tests.push_back(std::move(test));
  }
  r.Done();
  // Every value, evaluated with every combination of the matrix, must be in range now.
  for (const Case& c : ExpandCases(suite)) {
    for (const Step& step : c.test->steps) {
      for (const Value* v : StepValues(step)) {
        CheckRange(*v, Range{v->min, v->max}, v->field, c.params);
      }
    }
  }
  return suite;
}

std::vector<Case> ExpandCases(const Suite& suite) {
  std::vector<Case> cases;
  for (const TestSpec& t : suite.tests) {
    std::vector<std::map<std::string, int64_t>> combos(1);
    for (const auto& [name, values] : t.matrix) {
      std::vector<std::map<std::string, int64_t>> next;
      for (const auto& c : combos) {
        for (int64_t v : values) {
          auto n = c;
          n[name] = v;
          next.push_back(std::move(n));
        }
      }
      combos = std::move(next);
    }
    for (const auto& params : combos) {
      Case c{&suite, &t, t.name, params};
      std::string suffix;
      for (const auto& [k, v] : params)
        suffix += fmt::format("{}{}={}", suffix.empty() ? "/" : ",", k, v);
      c.name += suffix;
      cases.push_back(std::move(c));
      if (cases.size() > kMaxCasesPerSuite) {
        throw SuiteError(t.where, "the suite expands to more than 10000 cases");
      }
    }
  }
  return cases;
}

const std::vector<std::string>& KnownCounterNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    try {
      Counters current = Counters::ReadCurrent("current");
      for (const auto& [k, v] : current.values()) out.push_back(k);
    } catch (const Error&) {
      // Unreadable here: counter names are then checked when a test reads them.
    }
    return out;
  }();
  return names;
}

}  // namespace nstest
