#include "nstest/case_runner.h"

#include <fmt/format.h>

#include <chrono>

#include "nstest/preflight.h"
#include "suite/execution.h"

namespace nstest {

std::string CaseSkipReason(const Case& c) {
  const TestSpec& t = *c.test;
  const PreflightReport& p = CachedPreflight();
  if (std::string why = p.NamespaceSkipReason(); !why.empty()) return why;
  for (const std::string& f : t.requires_features) {
    if (std::string why = p.MissingReason(*FeatureFromName(f)); !why.empty()) return "needs " + why;
  }
  if (!t.min_kernel.empty() && !KernelAtLeast(p.kernel_release, t.min_kernel)) {
    return fmt::format("needs kernel {} or later, this is {}", t.min_kernel, p.kernel_release);
  }
  return "";
}

namespace {

// Builds the scenario and runs every step; the first error ends the case.
void RunSteps(const Case& c, Execution& e, CaseResult* r) {
  try {
    e.Build();
    for (const Step& s : c.test->steps) {
      auto start = std::chrono::steady_clock::now();
      auto ms = [&start] {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
      };
      size_t failures = e.failures().size();
      try {
        e.Execute(s);
        e.scenario()->CheckListeners();
        e.RecordStep(s, e.failures().size() == failures ? "passed" : "failed", ms());
      } catch (const Error& ex) {
        e.RecordStep(s, "error", ms());
        throw Error(fmt::format("{}: step '{}': {}", s.where.ToString(), s.Kind(), ex.what()));
      } catch (const std::exception& ex) {
        // Not an error the library describes (e.g. std::out_of_range): a defect of nstest.
        e.RecordStep(s, "error", ms());
        throw Error(fmt::format("{}: step '{}': internal error ({}); please report it",
                                s.where.ToString(), s.Kind(), ex.what()));
      }
    }
  } catch (const std::exception& ex) {
    r->status = CaseStatus::kError;
    r->message = ex.what();
  }
}

// The verdict from the failed expectations: the first one as the message, all in the detail.
void Judge(const std::vector<std::string>& failures, CaseResult* r) {
  if (r->status != CaseStatus::kError && !failures.empty()) {
    r->status = CaseStatus::kFailed;
    r->message = failures[0] +
                 (failures.size() > 1 ? fmt::format(" (and {} more)", failures.size() - 1) : "");
  }
  for (const std::string& f : failures) r->detail += f + "\n";
  if (r->status == CaseStatus::kError) r->detail += r->message + "\n";
}

// What every case's log carries after its steps, and what a case that did not pass leaves.
std::string Aftermath(const Case& c, const RunOptions& options, Scenario* sc, bool passed) {
  if (sc == nullptr) return "(no namespaces: the case stopped before they were made)\n";
  std::string log = sc->Context();  // sysctls, counter changes, listeners
  // Started processes (servers under test) end with the case; their output is kept.
  try {
    log += sc->StopAll(options.artifacts_dir, c.FullName());
  } catch (const std::exception& ex) {
    log += fmt::format("(stopping the started processes: {})\n", ex.what());
  }
  if (!passed) {
    log += sc->LateOutput();
    log += sc->WriteArtifacts(options.artifacts_dir, c.FullName());
    if (options.keep_namespaces) log += sc->KeepNamespaces();
  }
  return log;
}

// A test marked as an expected failure: its failure is a skip, its pass a failure.
void ApplyXfail(const std::string& xfail, CaseResult* r) {
  if (xfail.empty()) return;
  if (r->status == CaseStatus::kFailed) {
    r->status = CaseStatus::kSkipped;
    r->message = fmt::format("expected failure ({}): {}", xfail, r->message);
  } else if (r->status == CaseStatus::kPassed) {
    r->status = CaseStatus::kFailed;
    r->message =
        fmt::format("passed, but is marked as an expected failure ({}); remove the mark", xfail);
  }
}

}  // namespace

CaseResult RunCase(const Case& c, const RunOptions& options) {
  CaseResult r;
  if (std::string why = options.skip_checked ? "" : CaseSkipReason(c); !why.empty()) {
    r.status = CaseStatus::kSkipped;
    r.message = why;
    return r;
  }
  Execution e(c, options);
  RunSteps(c, e, &r);
  e.StopTimeline();
  Judge(e.failures(), &r);
  r.log = e.log() + Aftermath(c, options, e.scenario(), r.status == CaseStatus::kPassed);
  r.properties = e.Properties();
  ApplyXfail(c.test->xfail, &r);
  return r;
}

}  // namespace nstest
