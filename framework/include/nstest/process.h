// Commands started inside a namespace, with captured output, a timeout, and no way to outlive
// their owner.
#ifndef NSTEST_PROCESS_H_
#define NSTEST_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nstest/netns.h"

namespace nstest {

struct ProcessOptions {
  // The command and its arguments; argv[0] without '/' is searched in PATH. Never a shell string.
  std::vector<std::string> argv{};
  // Variables set on top of the inherited environment (or alone, without inheritance).
  std::map<std::string, std::string> env{};
  bool inherit_environment = true;
  std::string working_directory{};  // empty: the caller's
  // How long Wait() lets the command run, counted from Start(); then it is killed (SIGKILL).
  std::chrono::milliseconds timeout{30000};
  // A descriptor (a file the caller keeps open) that gets the command's stdout and stderr instead
  // of pipes; -1: captured into the result. Processes the command leaves running keep writing to
  // it after Wait(): with pipes they would get SIGPIPE once the owner closed its ends.
  int output_fd = -1;
};

struct ProcessResult {
  int exit_code = -1;  // the exit status when exited normally, else -1
  int signal = 0;      // the terminating signal, else 0
  bool timed_out = false;
  int64_t timeout_ms = 0;  // the timeout that passed, when timed_out
  std::string stdout_text{};
  std::string stderr_text{};

  bool Succeeded() const { return exit_code == 0; }
  // "exited with status 0", "killed by signal 9 (Killed)", "timed out after 2000 ms (killed)".
  std::string Describe() const;
};

// A child process, started in a namespace, that dies with its owner.
//
// The child is killed (SIGKILL) and reaped by the destructor if still running, and gets
// PR_SET_PDEATHSIG=SIGKILL so it is killed even when the owner is killed. Note the kernel sends the
// death signal when the *thread* that started the child exits: start long-lived children from a
// thread that lives as long as they should. Signals go through a pidfd, so a reused PID is never
// hit. Move-only; one thread at a time, except that Kill() may be called from another thread
// while one waits.
class Process {
 public:
  // Starts options.argv inside `ns` (nullptr: the caller's namespace) with stdin from /dev/null and
  // stdout/stderr captured. Throws Error for an empty argv, a command that cannot be found or
  // executed, or a namespace that cannot be entered:
  //   "start process 'nosuch' in netns 'server': command not found in PATH"
  static Process Start(const Netns* ns, ProcessOptions options);

  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  ~Process();

  pid_t pid() const;
  // True until the child has exited (does not reap it).
  bool Running() const;
  // Collects output until the child exits or its timeout passes (then kills it), and reaps it.
  // Calling it again returns the same result. Throws SystemError only if waiting itself fails.
  const ProcessResult& Wait();
  // Sends `signal` to the child if it has not been reaped. Never throws; safe to call from another
  // thread during Wait().
  void Kill(int signal = 9) noexcept;

 private:
  struct Impl;
  explicit Process(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Starts and waits: Process::Start(ns, options).Wait().
ProcessResult RunProcess(const Netns* ns, ProcessOptions options);

// Runs `body` in a child process that is the init (PID 1) of a new PID namespace, so that every
// process it starts, and everything those fork, lives in that namespace. When the child ends, or
// the caller is killed in any way (the child has PR_SET_PDEATHSIG=SIGKILL), the kernel kills every
// process left in the namespace: a server a test started, and the children it forked, cannot
// outlive the test. PR_SET_PDEATHSIG alone reaches only direct children.
//
// The caller only waits: it returns the child's exit status (`body`'s return value), and if the
// child is killed by a signal, the caller kills itself with the same signal, so that whoever waits
// for the caller sees what happened. Call it before the caller has threads. As an init, the child
// receives from outside only SIGKILL and signals it handles. Needs CAP_SYS_ADMIN in the owning user
// namespace, as creating a network namespace does. Throws SystemError:
//   "run in a new PID namespace: unshare(CLONE_NEWPID): Operation not permitted"
int RunInOwnPidNamespace(const std::function<int()>& body);

// Raises this process's soft RLIMIT_NOFILE to its hard limit: a test that opens thousands of
// sockets, or a runner with hundreds of children, needs more than the usual 1024. Returns the
// limit now in force.
uint64_t RaiseFileLimit();

}  // namespace nstest

#endif  // NSTEST_PROCESS_H_
