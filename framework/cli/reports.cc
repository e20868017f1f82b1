// `nstest compare`, `nstest report` and `nstest merge`: what is done with reports once runs wrote
// them.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "nstest/compare.h"
#include "nstest/error.h"
#include "nstest/html.h"
#include "nstest/junit.h"
#include "nstest/ktap.h"
#include "nstest/merge.h"
#include "src/strings.h"

namespace nstest::cli {

namespace {

// --fail-on: the classes named, or every one for "" and "any".
std::vector<ChangeClass> FailOn(const std::string& text) {
  if (text.empty() || text == "any") return AllChangeClasses();
  std::vector<std::string> names;
  for (ChangeClass k : AllChangeClasses()) names.emplace_back(ChangeClassName(k));
  std::vector<ChangeClass> out;
  for (const std::string& name : Split(text, ',')) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      std::string near = ClosestName(name, names);
      throw Error(fmt::format("--fail-on: '{}' is no class of change{}; the classes: {}, or any",
                              name, near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near),
                              Join(names, ',')));
    }
    out.push_back(AllChangeClasses()[static_cast<size_t>(it - names.begin())]);
  }
  return out;
}

}  // namespace

int RunCompare(std::ostream& out, const std::vector<std::string>& reports, bool table,
               const std::string& html, const std::string& fail_on) {
  try {
    if (table && !html.empty()) throw Error("compare: --html is for two reports, not --table");
    if (table && !fail_on.empty())
      throw Error("compare: --fail-on is for two reports, not --table");
    std::vector<ChangeClass> failing = FailOn(fail_on);
    if (table) {
      std::vector<std::vector<JUnitSuite>> runs;
      for (const std::string& r : reports) runs.push_back(ReadJUnit(r));
      std::string text = CompareTable(runs);
      out << (text.empty() ? "nothing differs\n" : text);
      return text.empty() ? kExitOk : kExitFailed;
    }
    if (reports.size() != 2) {
      throw Error(
          fmt::format("compare: two reports, BASE and NEW, not {} (or --table)", reports.size()));
    }
    Comparison c = CompareReports(ReadJUnit(reports[0]), ReadJUnit(reports[1]));
    out << c.ToString(reports[0], reports[1]);
    if (!html.empty()) {
      WriteFileAtomically(html, RenderComparisonHtml(c, reports[0], reports[1]), "HTML report");
    }
    for (ChangeClass k : failing) {
      if (c.Count(k) > 0) return kExitFailed;
    }
    return kExitOk;
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
}

int RunMerge(std::ostream& out, const MergeOptions& o) {
  MergeResult m;
  try {
    std::vector<ShardReport> shards;
    for (const std::string& path : o.reports) shards.push_back({path, ReadJUnit(path)});
    m = MergeShards(shards);
    WriteJUnit(o.xml, m.report);
    if (!o.ktap.empty()) WriteFileAtomically(o.ktap, RenderKtap(m.report), "KTAP report");
    if (!o.html.empty()) WriteFileAtomically(o.html, RenderHtml(m.report), "HTML report");
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
  size_t passed = 0, failed = 0, skipped = 0;
  for (const JUnitSuite& s : m.report) {
    for (const JUnitCase& c : s.cases) {
      passed += c.status == CaseStatus::kPassed ? 1 : 0;
      skipped += c.status == CaseStatus::kSkipped ? 1 : 0;
      failed += c.status == CaseStatus::kFailed || c.status == CaseStatus::kError ? 1 : 0;
    }
  }
  for (const std::string& p : m.problems) fmt::print(std::cerr, "nstest merge: {}\n", p);
  fmt::print(out, "Merged {} of {} shards: {} cases, {} missing, {} reported twice\n",
             m.reported_shards, m.shards, passed + failed + skipped, m.missing, m.duplicated);
  fmt::print(out, "JUnit report: {}\n", o.xml);
  if (!o.ktap.empty()) fmt::print(out, "KTAP report: {}\n", o.ktap);
  if (!o.html.empty()) fmt::print(out, "HTML report: {}\n", o.html);
  fmt::print(out, "{} passed, {} failed, {} skipped\n", passed, failed, skipped);
  return failed == 0 && m.problems.empty() ? kExitOk : kExitFailed;
}

int RunReport(std::ostream& out, const ReportOptions& o) {
  try {
    if (o.ktap.empty() && o.html.empty()) {
      throw Error("report: say what to write (--ktap FILE, --html FILE)");
    }
    std::vector<JUnitSuite> suites;
    for (const std::string& path : o.reports) {
      for (JUnitSuite& s : ReadJUnit(path)) suites.push_back(std::move(s));
    }
    if (!o.ktap.empty()) {
      WriteFileAtomically(o.ktap, RenderKtap(suites), "KTAP report");
      fmt::print(out, "KTAP report: {}\n", o.ktap);
    }
    if (!o.html.empty()) {
      WriteFileAtomically(o.html, RenderHtml(suites), "HTML report");
      fmt::print(out, "HTML report: {}\n", o.html);
    }
    return kExitOk;
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
}

}  // namespace nstest::cli
