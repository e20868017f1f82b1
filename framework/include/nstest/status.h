// How a case ended, and what every report calls it: shared by the suite engine that runs cases,
// the child protocol and the reports (console, JUnit).
#ifndef NSTEST_STATUS_H_
#define NSTEST_STATUS_H_

#include <optional>
#include <string_view>

namespace nstest {

enum class CaseStatus { kPassed, kFailed, kError, kSkipped };

// One row per status, in the enum's order.
struct CaseStatusInfo {
  CaseStatus status;
  const char* name;   // "passed", "failed", "error", "skipped"
  const char* junit;  // its JUnit element: "failure", "error", "skipped"; "" for passed
  const char* tag;    // its console tag: "[       OK ]", "[  FAILED  ]", ...
  const char* color;  // the ANSI colour of its console lines
};

inline constexpr CaseStatusInfo kCaseStatuses[] = {
    {CaseStatus::kPassed, "passed", "", "[       OK ]", "\033[32m"},
    {CaseStatus::kFailed, "failed", "failure", "[  FAILED  ]", "\033[31m"},
    {CaseStatus::kError, "error", "error", "[  ERROR   ]", "\033[31m"},
    {CaseStatus::kSkipped, "skipped", "skipped", "[  SKIPPED ]", "\033[33m"},
};

constexpr const CaseStatusInfo& InfoOf(CaseStatus s) { return kCaseStatuses[static_cast<int>(s)]; }
constexpr const char* CaseStatusName(CaseStatus s) { return InfoOf(s).name; }
constexpr std::optional<CaseStatus> CaseStatusFromName(std::string_view name) {
  for (const CaseStatusInfo& i : kCaseStatuses) {
    if (name == i.name) return i.status;
  }
  return std::nullopt;
}

}  // namespace nstest

#endif  // NSTEST_STATUS_H_
