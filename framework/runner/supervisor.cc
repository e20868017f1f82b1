#include "runner/supervisor.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <pugixml.hpp>
#include <set>
#include <thread>

#include "nstest/fd.h"
#include "nstest/preflight.h"
#include "nstest/process.h"

namespace nstest {
namespace {

using Clock = std::chrono::steady_clock;

// --- The child protocol: the supervisor runs `nstest __case FILE CASE [run options]`, and the
// child prints one <result> element. ---

std::vector<std::string> ChildArgv(const RunnerOptions& o, const Case& c) {
  std::vector<std::string> argv = {o.self, "__case", c.suite->file, c.name, "--skip-checked"};
  for (const auto& [k, v] : o.run.sysctls) {
    argv.push_back("--sysctl");
    argv.push_back(k + "=" + v);
  }
  if (o.run.keep_namespaces) argv.push_back("--keep-namespaces");
  if (!o.run.artifacts_dir.empty()) {
    argv.push_back("--artifacts");
    argv.push_back(o.run.artifacts_dir);
  }
  return argv;
}

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

// A scoped SIGINT/SIGTERM handler: records the signal and wakes `wake_fd`; restores the previous
// handlers when it goes.
class StopSignalGuard {
 public:
  explicit StopSignalGuard(int wake_fd) {
    g_wake_fd = wake_fd;
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignalGuard() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    g_wake_fd = -1;
  }
  StopSignalGuard(const StopSignalGuard&) = delete;
  StopSignalGuard& operator=(const StopSignalGuard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Runs case `c` in its child and returns its result.
CaseResult RunInChild(const RunnerOptions& o, const Case& c, Registry* registry) {
  ProcessOptions po;
  po.argv = ChildArgv(o, c);
  po.timeout = std::chrono::milliseconds(static_cast<int64_t>(c.test->timeout_s * 1000));
  CaseResult r;
  try {
    Process child = Process::Start(nullptr, po);
    registry->Add(&child);
    // Out of the registry before the child goes, however Wait() ends.
    struct Unregister {
      Registry* registry;
      Process* child;
      ~Unregister() { registry->Remove(child); }
    } unregister{registry, &child};
    r = ParseChildResult(child.Wait(), c.test->timeout_s);
  } catch (const Error& e) {
    r.status = CaseStatus::kError;
    r.message = e.what();
  }
  if (int sig = g_stop_signal.load(); sig != 0 && r.status == CaseStatus::kError) {
    r.message = fmt::format("interrupted by SIG{} ({})", ::sigabbrev_np(sig), r.message);
  }
  return r;
}

}  // namespace

std::vector<Outcome> Supervise(const Plan& plan, const RunnerOptions& o, ConsolePrinter& console,
                               int* stopped_by) {
  std::vector<Outcome> outcomes(plan.cases.size());
  std::atomic<size_t> next{0};
  Registry registry;
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  Fd finished(::eventfd(0, EFD_CLOEXEC));
  StopSignalGuard guard(wake.get());
  // The watcher kills the running children when a stop signal arrives.
  std::thread watcher([&] {
    pollfd fds[2] = {{wake.get(), POLLIN, 0}, {finished.get(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    if (fds[0].revents != 0) registry.KillAll();
  });
  auto worker = [&] {
    for (size_t i = next++; i < plan.cases.size() && g_stop_signal.load() == 0; i = next++) {
      const Case& c = plan.cases[i];
      console.CaseStarted(c);
      CaseResult r;
      double secs = 0;
      if (std::string why = CaseSkipReason(c); !why.empty()) {
        r.status = CaseStatus::kSkipped;  // the machine cannot run it: no child at all
        r.message = why;
      } else {
        auto t0 = Clock::now();
        r = RunInChild(o, c, &registry);
        secs = std::chrono::duration<double>(Clock::now() - t0).count();
      }
      outcomes[i] = Outcome{&c, r, secs};
      console.CaseFinished(c, r, secs);
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
  *stopped_by = g_stop_signal.load();
  return outcomes;
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

}  // namespace nstest
