// The case's process, from the launcher's fork to its _exit, and the result file it leaves for
// the supervisor. The launcher (launcher.h) starts it; nothing here runs in the runner's process
// but DecodeResult.
#ifndef NSTEST_RUNNER_CASE_PROCESS_H_
#define NSTEST_RUNNER_CASE_PROCESS_H_

#include <sys/types.h>

#include <string>

#include "nstest/fd.h"
#include "nstest/process.h"
#include "nstest/runner.h"

namespace nstest {

// Starts a process that is PID 1 of a new PID namespace, as fork() does (returns 0 in it), and
// sets `pidfd` to its pidfd in the caller. Returns -1 with errno ENOSYS where clone3 is not
// available (old kernels, and seccomp profiles of container engines that refuse it that way).
// No fork handlers run: only for a caller whose other threads hold no lock and are not inside
// malloc (the launcher's main thread only waits for its loop's thread).
pid_t ForkIntoNewPidNamespace(Fd* pidfd);

// A case's process, as a child of the launcher: the case runs in it as PID 1 of its own PID
// namespace, so that everything the case starts ends with it. One process where clone3 can make
// it (`own_pid_namespace`); else (see ForkIntoNewPidNamespace) a forked child runs it through
// RunInOwnPidNamespace. `launcher` is the launcher's pidfd, `output` the file for the process's
// stdout and stderr, `result` the file for its result. `options` are the launcher's, with
// skip_checked set: the process reads them where they are, copying nothing.
[[noreturn]] void CaseChild(const Case& c, const RunOptions& options, int launcher, int output,
                            int result, bool own_pid_namespace);

// The case's result from what its process left: the result file, or else how it ended and what
// it wrote.
CaseResult DecodeResult(const ProcessResult& p, const std::string& result, double timeout_s);

}  // namespace nstest

#endif  // NSTEST_RUNNER_CASE_PROCESS_H_
