#include "nstest/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <pugixml.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "nstest/fd.h"
#include "nstest/junit.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/sysctl.h"
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

bool AnyGlob(const std::string& patterns, const std::string& name) {
  for (const std::string& p : Split(patterns, ':')) {
    if (!p.empty() && Glob(p.c_str(), name.c_str())) return true;
  }
  return false;
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > 1000000)
    throw Error(fmt::format("${}: '{}' is not a count", name, v));
  return static_cast<int>(n);
}

struct Outcome {
  const Case* c = nullptr;
  CaseResult result;
  double seconds = 0;
};

CaseResult ParseChildResult(const ProcessResult& p, double timeout_s) {
  CaseResult r;
  if (p.timed_out) {
    r.status = CaseStatus::kError;
    r.message = fmt::format("timed out after {} s", timeout_s);
    r.log = p.stderr_text;
    return r;
  }
  pugi::xml_document doc;
  pugi::xml_node res;
  if (doc.load_string(p.stdout_text.c_str())) res = doc.child("result");
  if (!res) {
    r.status = CaseStatus::kError;
    r.message = p.signal != 0 ? fmt::format("crashed: {}", p.Describe())
                              : fmt::format("no result from the case ({})", p.Describe());
    r.log = p.stdout_text + p.stderr_text;
    return r;
  }
  std::string status = res.attribute("status").as_string();
  r.status = status == "passed"    ? CaseStatus::kPassed
             : status == "failed"  ? CaseStatus::kFailed
             : status == "skipped" ? CaseStatus::kSkipped
                                   : CaseStatus::kError;
  r.message = res.attribute("message").as_string();
  r.detail = res.child_value("detail");
  r.log = res.child_value("log");
  for (pugi::xml_node prop : res.children("property")) {
    r.properties.emplace_back(prop.attribute("name").as_string(),
                              prop.attribute("value").as_string());
  }
  return r;
}

const char* Tag(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPassed:
      return "[       OK ]";
    case CaseStatus::kFailed:
      return "[  FAILED  ]";
    case CaseStatus::kError:
      return "[  ERROR   ]";
    case CaseStatus::kSkipped:
      return "[  SKIPPED ]";
  }
  return "";
}

const char* Color(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPassed:
      return "\033[32m";
    case CaseStatus::kSkipped:
      return "\033[33m";
    default:
      return "\033[31m";
  }
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

void WriteReport(const Plan& plan, const RunnerOptions& o, const std::vector<Outcome>& outcomes) {
  std::vector<JUnitSuite> suites;
  for (const auto& s : plan.suites) {
    JUnitSuite js;
    js.name = s->name;
    js.file = s->file;
    js.timestamp = Timestamp();
    js.hostname = Hostname();
    js.properties.emplace_back("kernel_release", CachedPreflight().kernel_release);
    for (const auto& [k, v] : o.run.sysctls) js.properties.emplace_back("sysctl.override." + k, v);
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
  WriteJUnit(o.xml_output, suites);
}

// SIGINT/SIGTERM: the handler records the signal and wakes the watcher, which kills the running
// case children; workers then start nothing new and the report covers what ran.
std::atomic<int> g_stop_signal{0};
int g_wake_fd = -1;

void OnStopSignal(int sig) {
  g_stop_signal.store(sig);
  uint64_t one = 1;
  ssize_t ignored = ::write(g_wake_fd, &one, sizeof one);  // async-signal-safe
  (void)ignored;
}

// Running case children, so the watcher can kill them.
class Registry {
 public:
  void Add(Process* p) {
    std::lock_guard<std::mutex> lock(mu_);
    running_.insert(p);
    if (g_stop_signal.load() != 0) p->Kill(SIGKILL);
  }
  void Remove(Process* p) {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(p);
  }
  void KillAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Process* p : running_) p->Kill(SIGKILL);
  }

 private:
  std::mutex mu_;
  std::set<Process*> running_;
};

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
  std::string positive = filter.substr(0, dash);
  std::string negative = dash == std::string::npos ? "" : filter.substr(dash + 1);
  if (positive.empty()) positive = "*";
  return AnyGlob(positive, name) && !AnyGlob(negative, name);
}

Plan MakePlan(const RunnerOptions& o) {
  Plan plan;
  std::vector<std::string> files;
  for (const std::string& p : o.paths) FindSuites(p, &files);
  std::set<std::string> names;
  for (const std::string& f : files) {
    plan.suites.push_back(std::make_unique<Suite>(LoadSuite(f)));
    if (!names.insert(plan.suites.back()->name).second) {
      throw SuiteError(SourcePos{f, 1, 1},
                       fmt::format("a second suite named '{}'", plan.suites.back()->name));
    }
  }
  std::vector<Case> all;
  for (const auto& s : plan.suites) {
    for (Case& c : ExpandCases(*s)) {
      if (MatchesFilter(c.FullName(), o.filter)) all.push_back(std::move(c));
    }
  }
  plan.total_shards = EnvInt("GTEST_TOTAL_SHARDS", EnvInt("TEST_TOTAL_SHARDS", 1));
  plan.shard_index = EnvInt("GTEST_SHARD_INDEX", EnvInt("TEST_SHARD_INDEX", 0));
  if (plan.total_shards < 1 || plan.shard_index >= plan.total_shards) {
    throw Error(fmt::format("shard index {} is not below the shard count {}", plan.shard_index,
                            plan.total_shards));
  }
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
  for (size_t r = 0; r < repeat; ++r) {
    for (size_t i = 0; i < all.size(); ++i) {
      if (static_cast<int>(i % static_cast<size_t>(plan.total_shards)) == plan.shard_index) {
        plan.cases.push_back(all[i]);
      }
    }
  }
  if (o.shuffle) {
    std::shuffle(plan.cases.begin(), plan.cases.end(), std::mt19937(o.seed));
  } else if (std::map<std::string, double> costs = ReadCosts(o.cost_file); !costs.empty()) {
    auto cost = [&](const Case& c) {
      auto it = costs.find(c.FullName());
      return it == costs.end() ? 1e9 : it->second;  // unknown: first
    };
    std::stable_sort(plan.cases.begin(), plan.cases.end(),
                     [&](const Case& a, const Case& b) { return cost(a) > cost(b); });
  }
  return plan;
}

int RunPlan(const Plan& plan, const RunnerOptions& o, std::ostream& out) {
  // Three descriptors per running case, and the cases inherit the limit: they may open as many
  // sockets as the hard limit allows (Connect() refuses a count above what is free).
  RaiseFileLimit();
  std::mutex mu;
  std::vector<Outcome> outcomes(plan.cases.size());
  std::atomic<size_t> next{0};
  auto paint = [&](CaseStatus s, const std::string& text) {
    return o.color ? std::string(Color(s)) + text + "\033[0m" : text;
  };
  // On a terminal (o.color), a live line under the log: "[ 12/39 done, 2 running ] name".
  size_t done = 0;
  std::string running;
  auto clear_progress = [&] {
    if (o.color) out << "\r\033[2K";
  };
  auto show_progress = [&] {
    if (o.color && done < plan.cases.size()) {
      out << fmt::format("[ {}/{} done ] {}", done, plan.cases.size(), running) << std::flush;
    }
  };
  std::set<const Suite*> selected;  // suites with a case in this run, not all that were loaded
  for (const Case& c : plan.cases) selected.insert(c.suite);
  out << fmt::format("[==========] Running {} case{} from {} suite{} (-j {}).\n", plan.cases.size(),
                     plan.cases.size() == 1 ? "" : "s", selected.size(),
                     selected.size() == 1 ? "" : "s", o.jobs)
      << std::flush;
  auto start = Clock::now();
  (void)CachedPreflight();  // probe once here, not in every worker or child
  // Records case `i`'s result and prints its line (and, for a failure, its detail and log).
  auto finish = [&](size_t i, const CaseResult& r, double secs) {
    const Case& c = plan.cases[i];
    std::lock_guard<std::mutex> lock(mu);
    clear_progress();
    ++done;
    outcomes[i] = Outcome{&c, r, secs};
    std::string line = fmt::format("{} {} ({} ms)", Tag(r.status), c.FullName(),
                                   static_cast<int64_t>(secs * 1000));
    if (!r.message.empty()) line += ": " + r.message;
    out << paint(r.status, line) << "\n";
    if (r.status == CaseStatus::kFailed || r.status == CaseStatus::kError) {
      for (const std::string& l : Split(r.detail + r.log, '\n')) {
        if (!l.empty()) out << "    " << l << "\n";
      }
    }
    show_progress();
    out << std::flush;
  };
  Registry registry;
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  Fd finished(::eventfd(0, EFD_CLOEXEC));
  g_wake_fd = wake.get();
  g_stop_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  struct sigaction old_int {
  }, old_term{};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  std::thread watcher([&] {
    pollfd fds[2] = {{wake.get(), POLLIN, 0}, {finished.get(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    if (fds[0].revents != 0) registry.KillAll();
  });
  auto worker = [&] {
    for (size_t i = next++; i < plan.cases.size() && g_stop_signal.load() == 0; i = next++) {
      const Case& c = plan.cases[i];
      {
        std::lock_guard<std::mutex> lock(mu);
        clear_progress();
        out << "[ RUN      ] " << c.FullName() << "\n";
        running = c.FullName();
        show_progress();
        out << std::flush;
      }
      if (std::string why = CaseSkipReason(c); !why.empty()) {
        CaseResult skipped;
        skipped.status = CaseStatus::kSkipped;
        skipped.message = why;
        finish(i, skipped, 0);
        continue;
      }
      ProcessOptions po;
      po.argv = {o.self, "__case", c.suite->file, c.name, "--skip-checked"};
      for (const auto& [k, v] : o.run.sysctls) {
        po.argv.push_back("--sysctl");
        po.argv.push_back(k + "=" + v);
      }
      if (o.run.keep_namespaces) po.argv.push_back("--keep-namespaces");
      if (!o.run.artifacts_dir.empty()) {
        po.argv.push_back("--artifacts");
        po.argv.push_back(o.run.artifacts_dir);
      }
      po.timeout = std::chrono::milliseconds(static_cast<int64_t>(c.test->timeout_s * 1000));
      auto t0 = Clock::now();
      CaseResult r;
      try {
        Process child = Process::Start(nullptr, po);
        registry.Add(&child);
        const ProcessResult& pr = child.Wait();
        registry.Remove(&child);
        r = ParseChildResult(pr, c.test->timeout_s);
      } catch (const Error& e) {
        r.status = CaseStatus::kError;
        r.message = e.what();
      }
      if (int sig = g_stop_signal.load(); sig != 0 && r.status == CaseStatus::kError) {
        r.message = fmt::format("interrupted by SIG{} ({})", ::sigabbrev_np(sig), r.message);
      }
      finish(i, r, std::chrono::duration<double>(Clock::now() - t0).count());
    }
  };
  std::vector<std::thread> threads;
  int n = std::max(1, std::min<int>(o.jobs, static_cast<int>(plan.cases.size())));
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  uint64_t one = 1;
  while (::write(finished.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  watcher.join();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  g_wake_fd = -1;
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  const int stopped_by = g_stop_signal.load();

  int passed = 0, failed = 0, skipped = 0;
  std::vector<std::string> failed_names;
  size_t ran = 0;
  for (const Outcome& oc : outcomes) {
    if (oc.c == nullptr) continue;  // never started: the run was interrupted
    ++ran;
    switch (oc.result.status) {
      case CaseStatus::kPassed:
        ++passed;
        break;
      case CaseStatus::kSkipped:
        ++skipped;
        break;
      default:
        ++failed;
        failed_names.push_back(oc.c->FullName());
    }
  }
  if (stopped_by != 0) {
    out << fmt::format("[==========] interrupted by SIG{}: {} of {} cases ran\n",
                       ::sigabbrev_np(stopped_by), ran, plan.cases.size());
  }
  out << fmt::format("[==========] {} cases ran. ({} ms total)\n", ran,
                     static_cast<int64_t>(total * 1000));
  out << paint(CaseStatus::kPassed, fmt::format("[  PASSED  ] {} cases.", passed)) << "\n";
  if (skipped > 0)
    out << paint(CaseStatus::kSkipped, fmt::format("[  SKIPPED ] {} cases.", skipped)) << "\n";
  if (failed > 0) {
    out << paint(CaseStatus::kFailed, fmt::format("[  FAILED  ] {} cases, listed below:", failed))
        << "\n";
    for (const std::string& f : failed_names)
      out << paint(CaseStatus::kFailed, "[  FAILED  ] " + f) << "\n";
  }
  WriteCosts(o.cost_file, outcomes);
  if (!o.xml_output.empty()) {
    WriteReport(plan, o, outcomes);
    out << "JUnit report: " << o.xml_output << "\n";
  }
  out << fmt::format("{} passed, {} failed, {} skipped\n", passed, failed, skipped) << std::flush;
  if (stopped_by != 0) return 128 + stopped_by;
  return failed == 0 ? 0 : 1;
}

int RunCaseChild(const std::string& file, const std::string& case_name, const RunOptions& options,
                 std::ostream& out) {
  Suite suite = LoadSuite(file);
  for (const Case& c : ExpandCases(suite)) {
    if (c.name != case_name) continue;
    CaseResult r = RunCase(c, options);
    pugi::xml_document doc;
    pugi::xml_node res = doc.append_child("result");
    const char* status = r.status == CaseStatus::kPassed    ? "passed"
                         : r.status == CaseStatus::kFailed  ? "failed"
                         : r.status == CaseStatus::kSkipped ? "skipped"
                                                            : "error";
    res.append_attribute("status") = status;
    res.append_attribute("message") = r.message.c_str();
    res.append_child("detail").append_child(pugi::node_pcdata).set_value(r.detail.c_str());
    res.append_child("log").append_child(pugi::node_pcdata).set_value(r.log.c_str());
    for (const auto& [k, v] : r.properties) {
      pugi::xml_node p = res.append_child("property");
      p.append_attribute("name") = k.c_str();
      p.append_attribute("value") = v.c_str();
    }
    doc.save(out);
    return 0;
  }
  throw Error(fmt::format("run case '{}' of '{}': no such case", case_name, file));
}

std::pair<std::string, std::string> ParseSysctlAssignment(const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) throw Error(fmt::format("'{}': expected KEY=VALUE", text));
  std::string key = NormalizeSpaces(text.substr(0, eq));
  std::string value = NormalizeSpaces(text.substr(eq + 1));
  if (std::string problem = SysctlKeyProblem(key); !problem.empty()) throw Error(problem);
  return {SysctlDisplayKey(key), value};
}

std::vector<std::pair<std::string, std::string>> ParseSysctlFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw SuiteError(SourcePos{path, 0, 0}, "cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSysctlText(ss.str(), path);
}

std::vector<std::pair<std::string, std::string>> ParseSysctlText(const std::string& text,
                                                                 const std::string& path) {
  std::istringstream in(text);
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  for (uint32_t n = 1; std::getline(in, line); ++n) {
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#' || line[first] == ';') continue;
    std::string body = line.substr(first);
    uint32_t col = static_cast<uint32_t>(first) + 1;
    if (body[0] == '-') {  // "ignore errors" prefix of sysctl.d; the key is still checked
      body = body.substr(1);
      ++col;
    }
    try {
      out.push_back(ParseSysctlAssignment(body));
    } catch (const Error& e) {
      throw SuiteError(SourcePos{path, n, col}, e.what());
    }
  }
  return out;
}

}  // namespace nstest
