// What changed between two runs: their JUnit reports compared case by case, verdict and observed
// values (the "observed.*" properties a suite case records for each check it makes).
#ifndef NSTEST_COMPARE_H_
#define NSTEST_COMPARE_H_

#include <string>
#include <vector>

#include "nstest/junit.h"

namespace nstest {

// What kind of difference a case shows, for kernel CI's question "is this a regression?".
enum class ChangeClass {
  kRegression,      // passed (or skipped) before, failed or erred now
  kFix,             // failed or erred before, passes now
  kVerdict,         // another change of verdict (passed -> skipped, failed -> error, ...)
  kValues,          // the same verdict, other observed values
  kNew,             // only in NEW
  kMissing,         // only in BASE
  kInfrastructure,  // an error of the harness now, not of a check: the run was interrupted, the
                    // case crashed or left no result, a shard never reported it
};
// "regression", "fix", "verdict", "changed", "new", "missing", "infrastructure".
const char* ChangeClassName(ChangeClass c);
// Every class, in that order.
const std::vector<ChangeClass>& AllChangeClasses();
// Whether an ERROR with this message is the harness's, not the case's (ChangeClass above).
bool IsInfrastructureError(const std::string& message);

struct CaseChange {
  ChangeClass what = ChangeClass::kValues;
  std::string name{};     // "overflow.syn_dropped_counts_in_server_only/backlog=2"
  std::string verdict{};  // "passed -> failed", or "" if the verdict is the same
  // "TcpExtListenOverflows in netns 'server' 3 -> 2", in the order the case observed them
  std::vector<std::string> values{};
  std::string ToString() const;  // "[regression] <name>: passed -> failed; <value>; <value>"
};

struct Comparison {
  std::string base_header{};  // "kernel 6.1.0-28-amd64; overrides: none"
  std::string new_header{};
  std::vector<CaseChange> changes{};  // cases whose verdict or values differ, in report order
  std::vector<std::string> only_in_base{};
  std::vector<std::string> only_in_new{};
  size_t compared = 0;  // cases in both

  bool Differs() const { return !changes.empty() || !only_in_base.empty() || !only_in_new.empty(); }
  // How many changes of `what` (new and missing cases included).
  size_t Count(ChangeClass what) const;
  // The text `nstest compare` prints.
  std::string ToString(const std::string& base_name, const std::string& new_name) const;
};

// Compares two reports. A case is "<suite>.<case>"; an observation only one run made shows as
// "(none)" on the other side.
Comparison CompareReports(const std::vector<JUnitSuite>& base, const std::vector<JUnitSuite>& now);

// Several runs side by side, as a Markdown table: one column per run (headed by its kernel and
// overrides), one row per case verdict and observed value that is not the same in all of them,
// "-" where a run lacks it. Empty when nothing differs.
std::string CompareTable(const std::vector<std::vector<JUnitSuite>>& runs);

}  // namespace nstest

#endif  // NSTEST_COMPARE_H_
