#include "runner/console.h"

#include <fmt/format.h>
#include <signal.h>

#include <cstring>

#include "src/strings.h"

namespace nstest {
std::string ConsolePrinter::Paint(CaseStatus s, const std::string& text) const {
  return color_ ? std::string(InfoOf(s).color) + text + "\033[0m" : text;
}

// On a terminal, a live line under the log: "[ 12/39 done ] name".
void ConsolePrinter::ClearProgress() {
  if (color_) out_ << "\r\033[2K";
}

void ConsolePrinter::ShowProgress() {
  if (color_ && done_ < cases_) {
    out_ << fmt::format("[ {}/{} done ] {}", done_, cases_, running_) << std::flush;
  }
}

void ConsolePrinter::RunStarted(size_t suites, const std::string& jobs) {
  std::lock_guard<std::mutex> lock(mu_);
  out_ << fmt::format("[==========] Running {} case{} from {} suite{} ({}).\n", cases_,
                      cases_ == 1 ? "" : "s", suites, suites == 1 ? "" : "s", jobs)
       << std::flush;
}

void ConsolePrinter::CaseStarted(const Case& c) {
  std::lock_guard<std::mutex> lock(mu_);
  ClearProgress();
  out_ << "[ RUN      ] " << c.FullName() << "\n";
  running_ = c.FullName();
  ShowProgress();
  out_ << std::flush;
}

void ConsolePrinter::CaseFinished(const Case& c, const CaseResult& r, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ClearProgress();
  ++done_;
  std::string line = fmt::format("{} {} ({} ms)", InfoOf(r.status).tag, c.FullName(),
                                 static_cast<int64_t>(seconds * 1000));
  if (!r.message.empty()) line += ": " + r.message;
  out_ << Paint(r.status, line) << "\n";
  if (r.status == CaseStatus::kFailed || r.status == CaseStatus::kError) {
    for (const std::string& l : Split(r.detail + r.log, '\n')) {
      if (!l.empty()) out_ << "    " << l << "\n";
    }
  }
  ShowProgress();
  out_ << std::flush;
}

void ConsolePrinter::RunFinished(const RunTally& t, int stopped_by, double seconds, int peak) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_by != 0) {
    out_ << fmt::format("[==========] interrupted by SIG{}: {} of {} cases ran\n",
                        ::sigabbrev_np(stopped_by), t.ran, t.planned);
  }
  out_ << fmt::format("[==========] {} cases ran. ({} ms total, at most {} at once)\n", t.ran,
                      static_cast<int64_t>(seconds * 1000), peak);
  out_ << Paint(CaseStatus::kPassed, fmt::format("[  PASSED  ] {} cases.", t.passed)) << "\n";
  if (t.skipped > 0) {
    out_ << Paint(CaseStatus::kSkipped, fmt::format("[  SKIPPED ] {} cases.", t.skipped)) << "\n";
  }
  if (t.failed > 0) {
    out_ << Paint(CaseStatus::kFailed,
                  fmt::format("[  FAILED  ] {} cases, listed below:", t.failed))
         << "\n";
    for (const std::string& f : t.failed_names) {
      out_ << Paint(CaseStatus::kFailed, "[  FAILED  ] " + f) << "\n";
    }
  }
  out_ << std::flush;
}

void ConsolePrinter::Closing(const RunTally& t) {
  std::lock_guard<std::mutex> lock(mu_);
  out_ << fmt::format("{} passed, {} failed, {} skipped\n", t.passed, t.failed, t.skipped)
       << std::flush;
}

void ConsolePrinter::ReportWritten(const std::string& kind, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  out_ << kind << " report: " << path << "\n";
}

}  // namespace nstest
