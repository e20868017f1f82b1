// Running one expanded suite case inside fresh namespaces.
#ifndef NSTEST_CASE_RUNNER_H_
#define NSTEST_CASE_RUNNER_H_

#include <map>
#include <string>
#include <vector>

#include "nstest/preflight.h"
#include "nstest/status.h"
#include "nstest/suite.h"

namespace nstest {

struct RunOptions {
  // Applied to every test namespace after the suite's and test's own sysctls (an operator's
  // proposed configuration): key -> value.
  std::vector<std::pair<std::string, std::string>> sysctls{};
  bool keep_namespaces = false;  // bind-mount a failed case's namespaces for `ip netns exec`
  std::string artifacts_dir{};   // where a failed case's pcaps go ("" = no files)
  // The caller has already checked CaseSkipReason() (the supervisor does, once for all cases),
  // so RunCase() need not probe the machine again.
  bool skip_checked = false;
  // Sample each case's listeners and checked counters for the HTML report's timeline (a thread
  // per case: on for --html and --timeline, off otherwise, so that a run that draws no timeline
  // pays nothing for one).
  bool timeline = false;
};

// Why `c` cannot run on this machine (privilege, a required feature, the kernel version), or "".
std::string CaseSkipReason(const Case& c);

struct CaseResult {
  CaseStatus status = CaseStatus::kPassed;
  std::string message{};  // one line
  std::string detail{};   // every failed expectation, with expected and actual
  std::string log{};      // what happened, step by step, and the diagnostics
  std::vector<std::pair<std::string, std::string>> properties{};
};

// Runs `c` in this process and returns its result; skips (with the reason) when the machine
// lacks a required feature, the privilege or the kernel version. Expectations that fail make a
// kFailed result (kPassed if the test is marked xfail, with the reason in the message); anything
// that throws makes a kError. Never throws.
CaseResult RunCase(const Case& c, const RunOptions& options);

}  // namespace nstest

#endif  // NSTEST_CASE_RUNNER_H_
