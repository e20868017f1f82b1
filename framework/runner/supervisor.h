// The supervisor: runs a plan's cases through a launcher (launcher.h), as many at a time as
// `admission` lets (admission.h), and collects their results; SIGINT/SIGTERM kill the running
// cases and stop the run.
#ifndef NSTEST_RUNNER_SUPERVISOR_H_
#define NSTEST_RUNNER_SUPERVISOR_H_

#include <vector>

#include "nstest/runner.h"
#include "runner/admission.h"
#include "runner/console.h"

namespace nstest {

struct Outcome {
  const Case* c = nullptr;  // nullptr: never started (the run was interrupted)
  CaseResult result{};
  double seconds = 0;
};

// Runs every case of `plan` and returns the outcomes in plan order; `stopped_by` gets the signal
// that stopped the run, or 0. The signal handlers are installed for the call only.
std::vector<Outcome> Supervise(const Plan& plan, Admission& admission, CaseLauncher& launcher,
                               ConsolePrinter& console, int* stopped_by);

}  // namespace nstest

#endif  // NSTEST_RUNNER_SUPERVISOR_H_
