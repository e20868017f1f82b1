#include "runner/supervisor.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "nstest/fd.h"

namespace nstest {
namespace {

using Clock = std::chrono::steady_clock;

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

}  // namespace

std::vector<Outcome> Supervise(const Plan& plan, Admission& admission, CaseLauncher& launcher,
                               ConsolePrinter& console, int* stopped_by) {
  std::vector<Outcome> outcomes(plan.cases.size());
  std::atomic<size_t> next{0};
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  Fd finished(::eventfd(0, EFD_CLOEXEC));
  StopSignalGuard guard(wake.get());
  // The watcher kills the running children when a stop signal arrives.
  std::thread watcher([&] {
    pollfd fds[2] = {{wake.get(), POLLIN, 0}, {finished.get(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    if (fds[0].revents != 0) launcher.KillAll();
  });
  auto stopping = [&] { return g_stop_signal.load() != 0 || next.load() >= plan.cases.size(); };
  auto worker = [&] {
    while (admission.Enter(stopping)) {
      size_t i = next++;
      if (i >= plan.cases.size() || g_stop_signal.load() != 0) {
        admission.Leave();
        return;
      }
      const Case& c = plan.cases[i];
      console.CaseStarted(c);
      auto t0 = Clock::now();
      CaseResult r = launcher.Run(i);
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      if (int sig = g_stop_signal.load(); sig != 0 && r.status == CaseStatus::kError) {
        r.message = fmt::format("interrupted by SIG{} ({})", ::sigabbrev_np(sig), r.message);
      }
      admission.Leave();
      outcomes[i] = Outcome{&c, r, secs};
      console.CaseFinished(c, r, secs);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < admission.ceiling(); ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  uint64_t one = 1;
  while (::write(finished.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  watcher.join();
  *stopped_by = g_stop_signal.load();
  return outcomes;
}

}  // namespace nstest
