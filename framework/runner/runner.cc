#include "nstest/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "nstest/fd.h"
#include "nstest/html.h"
#include "nstest/junit.h"
#include "nstest/ktap.h"
#include "nstest/merge.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/sysctl.h"
#include "runner/admission.h"
#include "runner/huge_code.h"
#include "runner/launcher.h"
#include "runner/shards.h"
#include "runner/supervisor.h"
#include "src/strings.h"

namespace nstest {
namespace {

// Bounds one run: each case costs the runner a few hundred bytes before it starts.
constexpr size_t kMaxCasesPerRun = 100000;

using Clock = std::chrono::steady_clock;

void FindSuites(const std::string& path, std::vector<std::string>* out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw SuiteError(SourcePos{path, 0, 0}, "no such file or directory");
  }
  if (!S_ISDIR(st.st_mode)) {
    out->push_back(path);
    return;
  }
  std::vector<std::string> entries;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") entries.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(entries.begin(), entries.end());
  for (const std::string& name : entries) {
    std::string full = path + "/" + name;
    struct stat es {};
    if (::stat(full.c_str(), &es) != 0) continue;
    if (S_ISDIR(es.st_mode)) {
      FindSuites(full, out);
    } else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".toml") == 0) {
      out->push_back(full);
    }
  }
}

bool Glob(const char* p, const char* s) {
  for (; *p != '\0'; ++p, ++s) {
    if (*p == '*') {
      for (const char* t = s;; ++t) {
        if (Glob(p + 1, t)) return true;
        if (*t == '\0') return false;
      }
    }
    if (*s == '\0' || (*p != '?' && *p != *s)) return false;
  }
  return *s == '\0';
}

bool AnyGlob(std::string_view patterns, const std::string& name) {
  for (const std::string& p : Split(patterns, ':')) {
    if (!p.empty() && Glob(p.c_str(), name.c_str())) return true;
  }
  return false;
}

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
  return buf;
}

std::string Hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::vector<JUnitSuite> Report(const Plan& plan, const RunnerOptions& o,
                               const std::vector<Outcome>& outcomes) {
  std::vector<JUnitSuite> suites;
  for (const auto& s : plan.suites) {
    JUnitSuite js;
    js.name = s->name;
    js.file = s->file;
    js.timestamp = Timestamp();
    js.hostname = Hostname();
    js.properties.emplace_back("kernel_release", CachedPreflight().kernel_release);
    for (const auto& [k, v] : o.run.sysctls) js.properties.emplace_back("sysctl.override." + k, v);
    // The plan, for `nstest merge`: its id, this shard, and the suite's cases with their shards.
    js.properties.emplace_back(kPlanId, plan.id);
    js.properties.emplace_back(kPlanShard,
                               fmt::format("{}/{}", plan.shard_index, plan.total_shards));
    js.properties.emplace_back(kPlanRepeat, std::to_string(plan.repeat));
    std::string owed;
    for (const auto& [name, shard] : plan.owners) {
      if (name.size() > s->name.size() && name.compare(0, s->name.size() + 1, s->name + ".") == 0) {
        owed += fmt::format("{} {}\n", shard, name.substr(s->name.size() + 1));
      }
    }
    js.properties.emplace_back(kPlanCases, owed);
    for (const Outcome& out : outcomes) {
      if (out.c == nullptr || out.c->suite != s.get()) continue;
      JUnitCase jc;
      jc.name = out.c->name;
      jc.classname = s->name;
      jc.seconds = out.seconds;
      jc.status = out.result.status;
      jc.message = out.result.message;
      jc.detail = out.result.detail;
      jc.system_out = out.result.log;
      jc.properties = out.result.properties;
      js.cases.push_back(std::move(jc));
    }
    suites.push_back(std::move(js));
  }
  return suites;
}

std::map<std::string, double> ReadCosts(const std::string& path) {
  std::map<std::string, double> costs;
  if (path.empty()) return costs;
  std::ifstream in(path);
  double seconds;
  std::string name;
  while (in >> seconds && std::getline(in >> std::ws, name)) costs[name] = seconds;
  return costs;
}

void WriteCosts(const std::string& path, const std::vector<Outcome>& outcomes) {
  if (path.empty()) return;
  std::map<std::string, double> costs = ReadCosts(path);
  for (const Outcome& o : outcomes) {
    if (o.c != nullptr && o.result.status != CaseStatus::kSkipped)
      costs[o.c->FullName()] = o.seconds;
  }
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty() && dir != path) {
    for (size_t p = 1; p != std::string::npos; p = dir.find('/', p + 1)) {
      ::mkdir(dir.substr(0, p).c_str(), 0755);
    }
    ::mkdir(dir.c_str(), 0755);
  }
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(tmp);
    for (const auto& [name, secs] : costs) out << fmt::format("{:.3f} {}\n", secs, name);
    if (!out) return;  // the cache is a convenience: a run never fails for it
  }
  ::rename(tmp.c_str(), path.c_str());
}

}  // namespace

bool MatchesFilter(const std::string& name, const std::string& filter) {
  size_t dash = filter.find('-');
  std::string_view positive = std::string_view(filter).substr(0, dash);
  std::string_view negative =
      dash == std::string::npos ? std::string_view() : std::string_view(filter).substr(dash + 1);
  return AnyGlob(positive.empty() ? "*" : positive, name) && !AnyGlob(negative, name);
}

Plan MakePlan(const RunnerOptions& o) {
  Plan plan;
  std::vector<std::string> files;
  for (const std::string& p : o.paths) FindSuites(p, &files);
  std::set<std::string> names;
  SysctlKeyChecker keys;  // one probe namespace for the whole plan, gone before any case runs
  for (const std::string& f : files) {
    plan.suites.push_back(std::make_unique<Suite>(LoadSuite(f, &keys)));
    if (!names.insert(plan.suites.back()->name).second) {
      throw SuiteError(SourcePos{f, 1, 1},
                       fmt::format("a second suite named '{}'", plan.suites.back()->name));
    }
  }
  std::vector<Case> all;
  std::set<std::string> wanted(o.cases.begin(), o.cases.end());
  std::vector<std::string> every;  // for "did you mean" when a --case names no case
  for (const auto& s : plan.suites) {
    for (Case& c : ExpandCases(*s)) {
      std::string name = c.FullName();
      bool named = wanted.erase(name) > 0;
      if (!o.cases.empty()) every.push_back(name);
      if ((o.cases.empty() || named) && MatchesFilter(name, o.filter)) all.push_back(std::move(c));
    }
  }
  if (!wanted.empty()) {
    const std::string& name = *wanted.begin();
    std::string near = ClosestName(name, every);
    throw Error(fmt::format("--case '{}': no case has this name{}", name,
                            near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
  }
  ShardChoice shard = ChooseShard(o.shard, o.shards, [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
  });
  plan.total_shards = shard.total;
  plan.shard_index = shard.index;
  plan.shard_source = shard.source;
  for (const char* var : {"GTEST_SHARD_STATUS_FILE", "TEST_SHARD_STATUS_FILE"}) {
    if (const char* f = std::getenv(var); f != nullptr && *f != '\0') {
      std::ofstream touch(f, std::ios::app);
    }
  }
  const size_t repeat = static_cast<size_t>(std::max(1, o.repeat));
  if (all.size() * repeat > kMaxCasesPerRun) {
    throw Error(fmt::format(
        "the run would have {} cases ({} x --repeat {}); at most {} run at once: narrow it with "
        "--filter or a lower --repeat",
        all.size() * repeat, all.size(), repeat, kMaxCasesPerRun));
  }
  plan.selected = all.size() * repeat;
  plan.repeat = static_cast<int>(repeat);
  // Expected seconds, once a case: an earlier run's, else the case's own estimate. Shards are
  // balanced on what every machine knows alike: a cost file the user named, or the estimates.
  std::map<std::string, double> costs = ReadCosts(o.cost_file);
  std::vector<double> expected, balanced;
  for (const Case& c : all) {
    double estimate = EstimateSeconds(c);
    auto it = costs.find(c.FullName());
    expected.push_back(it == costs.end() ? estimate : it->second);
    balanced.push_back(o.cost_file_given ? expected.back() : estimate);
  }
  std::vector<int> owner = AssignShards(balanced, plan.total_shards);
  uint64_t id = 1469598103934665603ull;  // FNV-1a over the plan
  auto mix = [&id](const std::string& text) {
    for (unsigned char ch : text + "\n") id = (id ^ ch) * 1099511628211ull;
  };
  mix(fmt::format("{} shards, {} times", plan.total_shards, repeat));
  for (const auto& [key, value] : o.run.sysctls) mix(fmt::format("override {}={}", key, value));
  for (size_t i = 0; i < all.size(); ++i) {
    plan.owners.emplace_back(all[i].FullName(), owner[i]);
    mix(fmt::format("{} {}", owner[i], all[i].FullName()));
  }
  plan.id = fmt::format("{:016x}", id);
  // This shard's cases (as indices into `all`), in run order.
  std::vector<size_t> picked;
  for (size_t r = 0; r < repeat; ++r) {
    for (size_t i = 0; i < all.size(); ++i) {
      if (owner[i] == plan.shard_index) picked.push_back(i);
    }
  }
  if (o.shuffle) {
    std::shuffle(picked.begin(), picked.end(), std::mt19937(o.seed));
  } else if (o.longest_first) {
    std::stable_sort(picked.begin(), picked.end(),
                     [&](size_t a, size_t b) { return expected[a] > expected[b]; });
  }
  for (size_t i : picked) plan.cases.push_back(all[i]);
  return plan;
}

namespace {

RunTally Tally(const Plan& plan, const std::vector<Outcome>& outcomes) {
  RunTally t;
  t.planned = plan.cases.size();
  for (const Outcome& oc : outcomes) {
    if (oc.c == nullptr) continue;  // never started: the run was interrupted
    ++t.ran;
    switch (oc.result.status) {
      case CaseStatus::kPassed:
        ++t.passed;
        break;
      case CaseStatus::kSkipped:
        ++t.skipped;
        break;
      default:
        ++t.failed;
        t.failed_names.push_back(oc.c->FullName());
    }
  }
  return t;
}

size_t SelectedSuites(const Plan& plan) {
  std::set<const Suite*> selected;  // suites with a case in this run, not all that were loaded
  for (const Case& c : plan.cases) selected.insert(c.suite);
  return selected.size();
}

}  // namespace

int RunPlan(const Plan& plan, const RunnerOptions& o, std::ostream& out) {
  // Three descriptors per running case, and the cases inherit the limit: they may open as many
  // sockets as the hard limit allows (Connect() refuses a count above what is free).
  RaiseFileLimit();
  (void)MoveCodeToHugePages();  // before any thread starts; a speed-up where it can be had
  (void)CachedPreflight();      // probed once here; the launcher and every case inherit the result
  ForkLauncher launcher(plan, o.run);
  return RunPlan(plan, o, launcher, out);
}

int RunPlan(const Plan& plan, const RunnerOptions& o, CaseLauncher& launcher, std::ostream& out) {
  ConsolePrinter console(out, o.color, plan.cases.size());
  Admission admission(o.jobs, plan.cases.size());
  console.RunStarted(SelectedSuites(plan), admission.Describe());
  auto start = Clock::now();
  int stopped_by = 0;
  std::vector<Outcome> outcomes = Supervise(plan, admission, launcher, console, &stopped_by);
  RunTally tally = Tally(plan, outcomes);
  console.RunFinished(tally, stopped_by,
                      std::chrono::duration<double>(Clock::now() - start).count(),
                      admission.peak());
  // A shard leaves the cost file as it found it: a shard that starts later must read the same
  // durations, or it would compute another partition.
  if (plan.total_shards == 1) WriteCosts(o.cost_file, outcomes);
  if (!o.xml_output.empty() || !o.ktap_output.empty() || !o.html_output.empty()) {
    std::vector<JUnitSuite> report = Report(plan, o, outcomes);
    if (!o.xml_output.empty()) {
      WriteJUnit(o.xml_output, report);
      console.ReportWritten("JUnit", o.xml_output);
    }
    if (!o.ktap_output.empty()) {
      WriteFileAtomically(o.ktap_output, RenderKtap(report), "KTAP report");
      console.ReportWritten("KTAP", o.ktap_output);
    }
    if (!o.html_output.empty()) {
      WriteFileAtomically(o.html_output, RenderHtml(report), "HTML report");
      console.ReportWritten("HTML", o.html_output);
    }
  }
  console.Closing(tally);
  if (stopped_by != 0) return 128 + stopped_by;
  return tally.failed == 0 ? 0 : 1;
}

}  // namespace nstest
