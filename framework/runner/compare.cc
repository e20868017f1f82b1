#include "nstest/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "nstest/checks.h"

namespace nstest {
namespace {

constexpr char kObserved[] = "observed.";

// "kernel 6.12.9; overrides: net.ipv4.tcp_abort_on_overflow=1"
std::string Header(const std::vector<JUnitSuite>& report) {
  std::string kernel = "unknown";
  std::string overrides;
  if (!report.empty()) {
    for (const auto& [k, v] : report[0].properties) {
      if (k == "kernel_release") kernel = v;
      if (k.rfind("sysctl.override.", 0) == 0) {
        overrides += fmt::format("{}{}={}", overrides.empty() ? "" : ", ", k.substr(16), v);
      }
    }
  }
  return fmt::format("kernel {}; overrides: {}", kernel, overrides.empty() ? "none" : overrides);
}

struct Seen {
  const JUnitCase* c = nullptr;
  std::vector<std::pair<std::string, std::string>> observed{};
};

std::map<std::string, Seen> Index(const std::vector<JUnitSuite>& report,
                                  std::vector<std::string>* order) {
  std::map<std::string, Seen> out;
  for (const JUnitSuite& s : report) {
    for (const JUnitCase& c : s.cases) {
      // With --repeat a case is in the report several times: the first run is compared (the
      // report gives it the case's observations).
      std::string name = fmt::format("{}.{}", s.name, c.name);
      Seen& seen = out[name];
      if (seen.c != nullptr) continue;
      if (order != nullptr) order->push_back(name);
      seen.c = &c;
      for (const auto& [k, v] : c.properties) {
        if (k.rfind(kObserved, 0) == 0)
          seen.observed.emplace_back(k.substr(sizeof kObserved - 1), v);
      }
    }
  }
  return out;
}

ChangeClass Classify(const JUnitCase& was, const JUnitCase& is) {
  auto bad = [](CaseStatus s) { return s == CaseStatus::kFailed || s == CaseStatus::kError; };
  if (was.status == is.status) {
    return is.status == CaseStatus::kError && IsInfrastructureError(is.message) &&
                   !IsInfrastructureError(was.message)
               ? ChangeClass::kInfrastructure
               : ChangeClass::kValues;
  }
  if (is.status == CaseStatus::kError && IsInfrastructureError(is.message)) {
    return ChangeClass::kInfrastructure;
  }
  if (bad(is.status) && !bad(was.status)) return ChangeClass::kRegression;
  if (bad(was.status) && is.status == CaseStatus::kPassed) return ChangeClass::kFix;
  return ChangeClass::kVerdict;
}

}  // namespace

const char* ChangeClassName(ChangeClass c) {
  switch (c) {
    case ChangeClass::kRegression:
      return "regression";
    case ChangeClass::kFix:
      return "fix";
    case ChangeClass::kVerdict:
      return "verdict";
    case ChangeClass::kValues:
      return "changed";
    case ChangeClass::kNew:
      return "new";
    case ChangeClass::kMissing:
      return "missing";
    case ChangeClass::kInfrastructure:
      return "infrastructure";
  }
  return "?";
}

const std::vector<ChangeClass>& AllChangeClasses() {
  static const std::vector<ChangeClass> all = {ChangeClass::kRegression,    ChangeClass::kFix,
                                               ChangeClass::kVerdict,       ChangeClass::kValues,
                                               ChangeClass::kNew,           ChangeClass::kMissing,
                                               ChangeClass::kInfrastructure};
  return all;
}

bool IsInfrastructureError(const std::string& message) {
  // The supervisor's and the merge's words: nothing a check of the case said.
  for (const char* prefix : {"interrupted by ", "crashed: ", "no result from the case",
                             "not reported: ", "reported ", "not in the plan"}) {
    if (message.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

size_t Comparison::Count(ChangeClass what) const {
  if (what == ChangeClass::kNew) return only_in_new.size();
  if (what == ChangeClass::kMissing) return only_in_base.size();
  return static_cast<size_t>(std::count_if(changes.begin(), changes.end(),
                                           [&](const CaseChange& c) { return c.what == what; }));
}

std::string CaseChange::ToString() const {
  std::string out = fmt::format("[{}] {}:", ChangeClassName(what), name);
  const char* sep = " ";
  if (!verdict.empty()) {
    out += sep;
    out += verdict;
    sep = "; ";
  }
  for (const std::string& v : values) {
    out += sep;
    out += v;
    sep = "; ";
  }
  return out;
}

Comparison CompareReports(const std::vector<JUnitSuite>& base, const std::vector<JUnitSuite>& now) {
  Comparison c;
  c.base_header = Header(base);
  c.new_header = Header(now);
  std::vector<std::string> order;
  std::map<std::string, Seen> b = Index(base, &order);
  std::vector<std::string> new_order;
  std::map<std::string, Seen> n = Index(now, &new_order);
  for (const std::string& name : order) {
    auto it = n.find(name);
    if (it == n.end()) {
      c.only_in_base.push_back(name);
      continue;
    }
    ++c.compared;
    const Seen& was = b[name];
    const Seen& is = it->second;
    CaseChange change{Classify(*was.c, *is.c), name, "", {}};
    if (was.c->status != is.c->status) {
      change.verdict =
          fmt::format("{} -> {}", CaseStatusName(was.c->status), CaseStatusName(is.c->status));
      if (!is.c->message.empty() && is.c->status != CaseStatus::kPassed) {
        change.verdict += fmt::format(" ({})", is.c->message);
      }
    }
    for (const auto& [k, v] : was.observed) {
      const std::string* other = FindProperty(is.observed, k);
      if (other == nullptr || !SameObservation(*other, v)) {
        change.values.push_back(
            fmt::format("{} {} -> {}", k, v, other == nullptr ? "(none)" : *other));
      }
    }
    for (const auto& [k, v] : is.observed) {
      if (FindProperty(was.observed, k) == nullptr) {
        change.values.push_back(fmt::format("{} (none) -> {}", k, v));
      }
    }
    bool infrastructure = change.what == ChangeClass::kInfrastructure;
    if (!change.verdict.empty() || !change.values.empty() || infrastructure) {
      if (infrastructure && change.verdict.empty())
        change.verdict = "error (" + is.c->message + ")";
      c.changes.push_back(std::move(change));
    }
  }
  for (const std::string& name : new_order) {
    if (b.count(name) == 0) c.only_in_new.push_back(name);
  }
  return c;
}

std::string Comparison::ToString(const std::string& base_name, const std::string& new_name) const {
  std::string out =
      fmt::format("base: {} ({})\nnew:  {} ({})\n", base_name, base_header, new_name, new_header);
  for (const CaseChange& ch : changes) out += ch.ToString() + "\n";
  for (const std::string& name : only_in_base)
    out += fmt::format("[missing] {}: only in base\n", name);
  for (const std::string& name : only_in_new) out += fmt::format("[new] {}: only in new\n", name);
  std::string classes;
  for (ChangeClass k : AllChangeClasses()) {
    classes += fmt::format("{}{} {}", classes.empty() ? "" : ", ", Count(k), ChangeClassName(k));
  }
  out += fmt::format("classes: {}\n", classes);
  out += fmt::format("{} of {} cases compared differ{}\n", changes.size(), compared,
                     only_in_base.empty() && only_in_new.empty()
                         ? ""
                         : fmt::format("; {} only in base, {} only in new", only_in_base.size(),
                                       only_in_new.size()));
  return out;
}

std::string CompareTable(const std::vector<std::vector<JUnitSuite>>& runs) {
  // Rows in the order the runs name them: "<case>" for the verdict, "<case>: <what>" for a value.
  std::vector<std::string> rows;
  std::map<std::string, std::vector<std::string>> cells;
  auto cell = [&](const std::string& row, size_t run, const std::string& value) {
    auto [it, fresh] = cells.try_emplace(row, std::vector<std::string>(runs.size(), "-"));
    if (fresh) rows.push_back(row);
    it->second[run] = value;
  };
  for (size_t r = 0; r < runs.size(); ++r) {
    std::vector<std::string> order;
    std::map<std::string, Seen> seen = Index(runs[r], &order);
    for (const std::string& name : order) {
      const Seen& s = seen[name];
      std::string verdict = CaseStatusName(s.c->status);
      if (s.c->status == CaseStatus::kSkipped) verdict += fmt::format(": {}", s.c->message);
      cell(name, r, verdict);
      for (const auto& [k, v] : s.observed) cell(fmt::format("{}: {}", name, k), r, v);
    }
  }
  auto escape = [](std::string text) {
    std::string out;
    for (char ch : text) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
    return out;
  };
  std::string out = "| |";
  for (const std::vector<JUnitSuite>& run : runs) out += fmt::format(" {} |", escape(Header(run)));
  out += "\n| --- |";
  for (size_t r = 0; r < runs.size(); ++r) out += " --- |";
  out += "\n";
  size_t differing = 0;
  for (const std::string& row : rows) {
    const std::vector<std::string>& v = cells[row];
    if (std::all_of(v.begin(), v.end(),
                    [&](const std::string& x) { return SameObservation(x, v[0]); }))
      continue;
    ++differing;
    out += fmt::format("| {} |", escape(row));
    for (const std::string& x : v) out += fmt::format(" {} |", escape(x));
    out += "\n";
  }
  return differing == 0 ? "" : out;
}

}  // namespace nstest
