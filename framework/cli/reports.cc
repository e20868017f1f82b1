// `nstest compare` and `nstest report`: what is done with reports once a run wrote them.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <iostream>

#include "cli/commands.h"
#include "nstest/compare.h"
#include "nstest/error.h"
#include "nstest/html.h"
#include "nstest/junit.h"
#include "nstest/ktap.h"

namespace nstest::cli {

int RunCompare(std::ostream& out, const std::vector<std::string>& reports, bool table,
               const std::string& html) {
  try {
    if (table && !html.empty()) throw Error("compare: --html is for two reports, not --table");
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
    return c.Differs() ? kExitFailed : kExitOk;
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
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
