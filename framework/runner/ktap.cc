#include "nstest/ktap.h"

#include <fmt/format.h>

#include <algorithm>

#include "src/strings.h"

namespace nstest {
namespace {

// A description or diagnostic on one line, without the '#' that would start a directive.
std::string OneLine(std::string text, bool description) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  if (description) std::replace(text.begin(), text.end(), '#', '_');
  return text;
}

void Diagnostics(const std::string& indent, const std::string& text, std::string* out) {
  for (const std::string& line : Split(text, '\n')) {
    if (!line.empty()) *out += fmt::format("{}# {}\n", indent, line);
  }
}

}  // namespace

std::string RenderKtap(const std::vector<JUnitSuite>& all) {
  // A suite none of whose cases was selected (--filter, sharding) did not run: it is left out.
  std::vector<const JUnitSuite*> suites;
  for (const JUnitSuite& s : all) {
    if (!s.cases.empty()) suites.push_back(&s);
  }
  std::string out = fmt::format("KTAP version 1\n1..{}\n", suites.size());
  int n = 0;
  for (const JUnitSuite* each : suites) {
    const JUnitSuite& s = *each;
    out += fmt::format("  KTAP version 1\n  # Subtest: {}\n  1..{}\n", OneLine(s.name, false),
                       s.cases.size());
    bool failed = false;
    bool all_skipped = true;
    int k = 0;
    for (const JUnitCase& c : s.cases) {
      std::string name = OneLine(c.name, true);
      all_skipped = all_skipped && c.status == CaseStatus::kSkipped;
      switch (c.status) {
        case CaseStatus::kPassed:
          out += fmt::format("  ok {} {}\n", ++k, name);
          break;
        case CaseStatus::kSkipped:
          out += fmt::format("  ok {} {} # SKIP {}\n", ++k, name, OneLine(c.message, false));
          break;
        case CaseStatus::kFailed:
          failed = true;
          Diagnostics("  ", c.detail.empty() ? c.message : c.detail, &out);
          out += fmt::format("  not ok {} {}\n", ++k, name);
          break;
        case CaseStatus::kError: {
          failed = true;
          if (c.detail != c.message) Diagnostics("  ", c.detail, &out);
          bool timeout = c.message.rfind("timed out", 0) == 0;
          out += fmt::format("  not ok {} {} # {} {}\n", ++k, name, timeout ? "TIMEOUT" : "ERROR",
                             OneLine(c.message, false));
          break;
        }
      }
    }
    std::string suite = OneLine(s.name, true);
    if (failed) {
      out += fmt::format("not ok {} {}\n", ++n, suite);
    } else if (all_skipped) {
      out += fmt::format("ok {} {} # SKIP every case was skipped\n", ++n, suite);
    } else {
      out += fmt::format("ok {} {}\n", ++n, suite);
    }
  }
  return out;
}

}  // namespace nstest
