// `nstest run`, `list`, `check` and the per-case child.
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "nstest/compare.h"
#include "nstest/error.h"
#include "nstest/fd.h"
#include "nstest/junit.h"
#include "nstest/process.h"
#include "nstest/runner.h"
#include "nstest/userns.h"
#include "src/strings.h"

namespace nstest::cli {
namespace {

// -j: "auto" (kAutoJobs), or a count from 1 to 256.
int ParseJobs(const std::string& text) {
  if (text == "auto") return 0;
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < 1 || n > 256) {
    throw Error(fmt::format("-j {}: give a count from 1 to 256, or auto", text));
  }
  return static_cast<int>(n);
}

// Turns the flags into runner options; throws Error/SuiteError for bad ones.
RunnerOptions Options(const SuiteOptions& s) {
  RunnerOptions o;
  o.paths = s.paths.empty() ? std::vector<std::string>{"suites"} : s.paths;
  o.filter = s.filter;
  o.cases = s.cases;
  o.shard = s.shard;
  o.shards = s.shards;
  o.jobs = ParseJobs(s.jobs);
  o.repeat = s.repeat;
  o.shuffle = s.shuffle;
  o.seed = s.seed != 0
               ? s.seed
               : static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  o.xml_output = s.xml;
  o.ktap_output = s.ktap;
  o.html_output = s.html;
  o.run.timeline = s.timeline || !s.html.empty();
  if (o.xml_output.empty()) {
    if (const char* x = std::getenv("XML_OUTPUT_FILE"); x != nullptr) o.xml_output = x;
  }
  SysctlKeyChecker keys;
  for (const std::string& f : s.sysctl_files) {
    for (auto& kv : ParseSysctlFile(f, &keys)) o.run.sysctls.push_back(kv);
  }
  for (const std::string& a : s.sysctls) {
    try {
      o.run.sysctls.push_back(ParseSysctlAssignment(a, &keys));
    } catch (const Error& e) {
      throw Error(fmt::format("--sysctl {}: {}", a, e.what()));
    }
  }
  o.run.keep_namespaces = s.keep_namespaces;
  o.run.artifacts_dir = s.artifacts;
  o.color = s.color;
  o.cost_file = s.cost_file;
  o.cost_file_given = !s.cost_file.empty();
  if (o.cost_file.empty()) {
    const char* env = std::getenv("NSTEST_COST_FILE");
    const char* cache = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    if (env != nullptr && *env != '\0') {
      o.cost_file = env;
      o.cost_file_given = true;
    } else if (cache != nullptr && *cache != '\0') {
      o.cost_file = std::string(cache) + "/nstest/costs.txt";
    } else if (home != nullptr && *home != '\0') {
      o.cost_file = std::string(home) + "/.cache/nstest/costs.txt";
    }
  }
  if (o.cost_file == "none") {
    o.cost_file.clear();
    o.cost_file_given = false;
  }
  return o;
}

// A report file for one run of --compare-to-defaults, removed at the end unless the user named it.
class ReportFile {
 public:
  explicit ReportFile(const std::string& given) : path_(given) {
    if (!path_.empty()) return;
    char name[] = "/tmp/nstest-compare-XXXXXX.xml";
    Fd fd(::mkstemps(name, 4));
    if (!fd) ThrowErrno("--compare-to-defaults: a temporary report");
    path_ = temporary_ = name;
  }
  ~ReportFile() {
    if (!temporary_.empty()) ::unlink(temporary_.c_str());
  }
  ReportFile(const ReportFile&) = delete;
  ReportFile& operator=(const ReportFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temporary_;
};

// The selected cases without the overrides, then with them; what differs is the answer to "what
// does this sysctl.d file change?". The exit status is `nstest compare`'s (or the signal's).
int CompareToDefaults(std::ostream& out, const Plan& plan, const RunnerOptions& o) {
  if (o.run.sysctls.empty()) {
    throw Error("--compare-to-defaults compares against --sysctl or --sysctl-file; give one");
  }
  RunnerOptions defaults = o;
  defaults.run.sysctls.clear();
  defaults.ktap_output.clear();
  defaults.html_output.clear();
  ReportFile base("");
  defaults.xml_output = base.path();
  fmt::print(out, "Note: first without the overrides (the kernel's defaults)\n");
  if (int code = RunPlan(plan, defaults, out); code > 1) return code;
  RunnerOptions with = o;
  ReportFile now(o.xml_output);
  with.xml_output = now.path();
  fmt::print(out, "Note: then with the overrides\n");
  if (int code = RunPlan(plan, with, out); code > 1) return code;
  Comparison c = CompareReports(ReadJUnit(base.path()), ReadJUnit(now.path()));
  fmt::print(out, "\nWhat the overrides change:\n{}",
             c.ToString("without the overrides", "with them"));
  return c.Differs() ? kExitFailed : kExitOk;
}

// Why a run selected no case, and how to select one.
std::string NothingSelected(const Plan& plan, const RunnerOptions& o) {
  size_t cases = 0;
  for (const auto& suite : plan.suites) cases += ExpandCases(*suite).size();
  std::string what = o.cases.empty()
                         ? fmt::format("--filter '{}' matches", o.filter)
                         : fmt::format("--case and --filter '{}' together match", o.filter);
  std::string hint = o.filter.find('-') != std::string::npos && o.cases.empty()
                         ? "; a '-' starts the filter's negative patterns: select a case by its "
                           "exact name with --case NAME"
                         : "; `nstest list` shows them";
  return fmt::format("no case selected: {} none of the {} case{} of {} suite{}{}", what, cases,
                     cases == 1 ? "" : "s", plan.suites.size(), plan.suites.size() == 1 ? "" : "s",
                     hint);
}

}  // namespace

int RunSuites(std::ostream& out, const SuiteOptions& s) {
  // Rootless: still one thread, so this process can become root in a user namespace of its own.
  // If that is refused, the cases report the missing privilege as their skip reason.
  if (NeedsOwnUserNamespace()) {
    try {
      EnterOwnUserNamespace();
      fmt::print(out, "Note: not privileged: running as root of a user namespace of its own\n");
    } catch (const Error& e) {
      fmt::print(std::cerr, "nstest: {}\n", e.what());
    }
  }
  RunnerOptions o;
  Plan plan;
  try {
    o = Options(s);
    plan = MakePlan(o);
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
  if (plan.suites.empty()) {
    fmt::print(std::cerr, "nstest: no suite found: {} hold no *.toml file\n", Join(o.paths, ' '));
    return kExitUsage;
  }
  if (plan.selected == 0) {
    fmt::print(std::cerr, "nstest: {}\n", NothingSelected(plan, o));
    return kExitNoCases;
  }
  if (o.shuffle) fmt::print(out, "Note: randomizing the order with seed {}\n", o.seed);
  if (plan.total_shards > 1) {
    fmt::print(out, "Note: this is shard {}/{} (from {}): {} of the plan's {} cases\n",
               plan.shard_index, plan.total_shards, plan.shard_source, plan.cases.size(),
               plan.selected);
    if (plan.cases.empty()) {
      fmt::print(out, "Note: this shard has no case: {} selected for {} shards\n", plan.selected,
                 plan.total_shards);
    }
  }
  try {
    return s.compare_to_defaults ? CompareToDefaults(out, plan, o) : RunPlan(plan, o, out);
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
}

int RunList(std::ostream& out, const SuiteOptions& s) {
  try {
    RunnerOptions o = Options(s);
    o.longest_first = false;  // list in file order
    Plan plan = MakePlan(o);
    const Suite* current = nullptr;
    for (const Case& c : plan.cases) {
      if (c.suite != current) {
        current = c.suite;
        fmt::print(out, "{}.\n", current->name);
      }
      if (s.estimates) {
        fmt::print(out, "  {}  ({:.1f} s)\n", c.name, EstimateSeconds(c));
      } else {
        fmt::print(out, "  {}\n", c.name);
      }
    }
    return kExitOk;
  } catch (const Error& e) {
    fmt::print(std::cerr, "nstest: {}\n", e.what());
    return kExitUsage;
  }
}

int RunCheck(std::ostream& out, const SuiteOptions& s) {
  try {
    RunnerOptions o = Options(s);
    o.shard = "0/1";  // every case is checked, whatever shard this machine would run
    Plan plan = MakePlan(o);
    fmt::print(out, "OK: {} suites, {} cases\n", plan.suites.size(), plan.cases.size());
    return kExitOk;
  } catch (const Error& e) {
    fmt::print(std::cerr, "{}\n", e.what());
    return kExitUsage;
  }
}

}  // namespace nstest::cli

namespace nstest::cli {

int RunSteps(std::ostream& out) {
  out << StepReference();
  return kExitOk;
}

}  // namespace nstest::cli
