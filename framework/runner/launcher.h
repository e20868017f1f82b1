// The launcher: how the supervisor gets a case run in a child process of its own, and the
// protocol between them, in one place. The case's process itself is in case_process.h.
//
// Before the run's threads start, the runner forks one launcher process. It holds the plan as the
// runner parsed, expanded and validated it, with the run options, and it starts each case's
// process on request: the process runs the case from that memory (no exec, no re-parse, no probe
// namespace) as PID 1 of a PID namespace of its own (clone3 with CLONE_NEWPID; where clone3 is
// refused, a forked child runs it through RunInOwnPidNamespace), writes its result to a file the
// supervisor passed along, and ends with _exit. A new run option is a field of RunOptions and
// nothing else.
//
//   runner (supervisor threads) --request: case index + reply socket, output file, result file-->
//     launcher (its loop's thread) --clone3(CLONE_NEWPID)--> the case, PID 1 of its PID namespace
//   launcher --reply: the child's PID and pidfd; later its wait status--> supervisor thread
//
// Every process below the runner has PR_SET_PDEATHSIG=SIGKILL: a runner killed in any way takes
// the launcher, the cases and all they started with it.
#ifndef NSTEST_RUNNER_LAUNCHER_H_
#define NSTEST_RUNNER_LAUNCHER_H_

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "nstest/fd.h"
#include "nstest/process.h"
#include "nstest/runner.h"

namespace nstest {

// Which of the libraries nstest loads when first needed (src/loaded_libs.h) the plan's cases use:
// libpcap for `capture`; libnftables for `drop` and `hold`; libnetfilter_queue, libnftnl and
// libmnl for `hold`. The launcher loads them before it forks any case, so that every case's
// process inherits them rather than loading them itself; a plan with none of those steps leaves
// every case's process without any of them.
struct NeededLibraries {
  bool pcap = false;
  bool filters = false;
  bool queues = false;
};
NeededLibraries LibrariesFor(const Plan& plan);

class ForkLauncher : public CaseLauncher {
 public:
  // Forks the launcher process. Call it while this process has one thread. Throws SystemError.
  ForkLauncher(const Plan& plan, const RunOptions& options);
  // Ends the launcher (it exits when its request socket closes) and reaps it.
  ~ForkLauncher() override;
  ForkLauncher(const ForkLauncher&) = delete;
  ForkLauncher& operator=(const ForkLauncher&) = delete;

  CaseResult Run(size_t index) override;
  void KillAll() override;

 private:
  using Clock = std::chrono::steady_clock;

  // Asks the launcher to fork plan case `index` (`theirs`: the launcher's end of the reply
  // socket, `reply` ours) and returns the child's pidfd.
  Fd Launch(size_t index, Fd theirs, int output, int result, int reply);
  // Waits for the child's end (killing it at `deadline`) as the launcher reports it.
  ProcessResult AwaitExit(int reply, int pidfd, Clock::time_point deadline);
  // The case child's pidfd while it runs, so that KillAll() reaches it.
  void Register(int pidfd);
  void Unregister(int pidfd);
  // "the case launcher (pid N) ended (killed by signal 9, Killed) <when>".
  std::string LauncherGone(const std::string& when) const;

  const Plan& plan_;
  Fd control_;  // requests to the launcher
  pid_t pid_ = -1;
  std::mutex mu_;
  std::set<int> running_;
  bool killing_ = false;
};

}  // namespace nstest

#endif  // NSTEST_RUNNER_LAUNCHER_H_
