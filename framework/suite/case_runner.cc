#include "nstest/case_runner.h"

#include <fmt/format.h>

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

CaseResult RunCase(const Case& c, const RunOptions& options) {
  CaseResult r;
  if (std::string why = options.skip_checked ? "" : CaseSkipReason(c); !why.empty()) {
    r.status = CaseStatus::kSkipped;
    r.message = why;
    return r;
  }
  Execution e(c, options);
  try {
    e.Build();
    for (const Step& s : c.test->steps) {
      try {
        e.Execute(s);
        e.scenario()->CheckListeners();
      } catch (const Error& ex) {
        throw Error(fmt::format("{}: step '{}': {}", s.where.ToString(), s.Kind(), ex.what()));
      } catch (const std::exception& ex) {
        // Not an error the library describes (e.g. std::out_of_range): a defect of nstest.
        throw Error(fmt::format("{}: step '{}': internal error ({}); please report it",
                                s.where.ToString(), s.Kind(), ex.what()));
      }
    }
  } catch (const std::exception& ex) {
    r.status = CaseStatus::kError;
    r.message = ex.what();
  }
  const std::vector<std::string>& failures = e.failures();
  if (r.status != CaseStatus::kError && !failures.empty()) {
    r.status = CaseStatus::kFailed;
    r.message = failures[0] +
                (failures.size() > 1 ? fmt::format(" (and {} more)", failures.size() - 1) : "");
  }
  for (const std::string& f : failures) r.detail += f + "\n";
  if (r.status == CaseStatus::kError) r.detail += r.message + "\n";
  std::string log = e.log();
  if (Scenario* sc = e.scenario()) {
    log += sc->Context();  // every case's report carries its sysctls, counter changes, listeners
    if (r.status != CaseStatus::kPassed) {
      log += sc->LateOutput();
      log += sc->WriteArtifacts(options.artifacts_dir, c.FullName());
      if (options.keep_namespaces) log += sc->KeepNamespaces();
    }
  } else {
    log += "(no namespaces: the case stopped before they were made)\n";
  }
  r.log = log;
  r.properties = e.Properties();
  const std::string& xfail = c.test->xfail;
  if (!xfail.empty()) {
    if (r.status == CaseStatus::kFailed) {
      r.status = CaseStatus::kSkipped;
      r.message = fmt::format("expected failure ({}): {}", xfail, r.message);
    } else if (r.status == CaseStatus::kPassed) {
      r.status = CaseStatus::kFailed;
      r.message =
          fmt::format("passed, but is marked as an expected failure ({}); remove the mark", xfail);
    }
  }
  return r;
}

}  // namespace nstest
