// The runner's console output in GoogleTest's shape: "[ RUN ]" and "[ OK ]" lines, a failed
// case's detail and log, a live progress line on a terminal, and the summary. The supervisor
// calls it as a listener (GoogleTest's TestEventListener), from any worker thread.
#ifndef NSTEST_RUNNER_CONSOLE_H_
#define NSTEST_RUNNER_CONSOLE_H_

#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "nstest/case_runner.h"
#include "nstest/suite.h"

namespace nstest {

// What a run ended with, for the summary.
struct RunTally {
  int passed = 0;
  int failed = 0;  // failed or errored
  int skipped = 0;
  size_t ran = 0;
  size_t planned = 0;
  std::vector<std::string> failed_names{};
};

class ConsolePrinter {
 public:
  ConsolePrinter(std::ostream& out, bool color, size_t cases)
      : out_(out), color_(color), cases_(cases) {}

  void RunStarted(size_t suites, const std::string& jobs);
  void CaseStarted(const Case& c);
  void CaseFinished(const Case& c, const CaseResult& r, double seconds);
  // `stopped_by`: the signal that stopped the run, or 0.
  void RunFinished(const RunTally& tally, int stopped_by, double seconds, int peak);
  // "JUnit report: report.xml"
  void ReportWritten(const std::string& kind, const std::string& path);
  // The last line: "3 passed, 1 failed, 0 skipped", which CI systems read.
  void Closing(const RunTally& tally);

 private:
  std::string Paint(CaseStatus s, const std::string& text) const;
  void ClearProgress();
  void ShowProgress();

  std::mutex mu_;
  std::ostream& out_;
  bool color_;
  size_t cases_;
  size_t done_ = 0;
  std::string running_;
};

}  // namespace nstest

#endif  // NSTEST_RUNNER_CONSOLE_H_
