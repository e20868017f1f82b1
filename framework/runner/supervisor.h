// The supervisor: runs a plan's cases, each in a child process of its own (`nstest __case`),
// `jobs` at a time, and collects their results; SIGINT/SIGTERM kill the running children and
// stop the run. Both ends of the child protocol live in supervisor.cc.
#ifndef NSTEST_RUNNER_SUPERVISOR_H_
#define NSTEST_RUNNER_SUPERVISOR_H_

#include <vector>

#include "nstest/runner.h"
#include "runner/console.h"

namespace nstest {

struct Outcome {
  const Case* c = nullptr;  // nullptr: never started (the run was interrupted)
  CaseResult result{};
  double seconds = 0;
};

// Runs every case of `plan` and returns the outcomes in plan order; `stopped_by` gets the signal
// that stopped the run, or 0. The signal handlers are installed for the call only.
std::vector<Outcome> Supervise(const Plan& plan, const RunnerOptions& options,
                               ConsolePrinter& console, int* stopped_by);

}  // namespace nstest

#endif  // NSTEST_RUNNER_SUPERVISOR_H_
