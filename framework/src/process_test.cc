#include "nstest/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>

#include "nstest/error.h"

namespace nstest {
namespace {

using std::chrono::milliseconds;

ProcessOptions Command(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.timeout = milliseconds(10000);
  return o;
}

TEST(ProcessTest, CapturesStdoutStderrAndExitCode) {
  ProcessResult r = RunProcess(nullptr, Command({"sh", "-c", "echo out; echo err >&2; exit 3"}));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.stdout_text, "out\n");
  EXPECT_EQ(r.stderr_text, "err\n");
  EXPECT_EQ(r.Describe(), "exited with status 3");
}

TEST(ProcessTest, PassesArgumentsVerbatim) {
  ProcessResult r = RunProcess(nullptr, Command({"printf", "%s|", "a b", "$HOME", ";ls"}));
  EXPECT_EQ(r.stdout_text, "a b|$HOME|;ls|");
}

TEST(ProcessTest, SetsEnvironmentAndWorkingDirectory) {
  ProcessOptions o = Command({"sh", "-c", "echo $NSTEST_X; pwd"});
  o.env["NSTEST_X"] = "42";
  o.working_directory = "/";
  EXPECT_EQ(RunProcess(nullptr, o).stdout_text, "42\n/\n");
  o.inherit_environment = false;
  o.argv = {"/usr/bin/env"};
  EXPECT_EQ(RunProcess(nullptr, o).stdout_text, "NSTEST_X=42\n");
}

TEST(ProcessTest, TimeoutKillsTheChild) {
  ProcessOptions o = Command({"sleep", "30"});
  o.timeout = milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  ProcessResult r = RunProcess(nullptr, o);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.Describe(), "timed out after 200 ms (killed)");
}

TEST(ProcessTest, ReportsTerminatingSignal) {
  ProcessResult r = RunProcess(nullptr, Command({"sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(r.exit_code, -1);
}

TEST(ProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    Process p = Process::Start(nullptr, Command({"sleep", "30"}));
    pid = p.pid();
    EXPECT_TRUE(p.Running());
  }
  // Reaped: the PID no longer names our child.
  EXPECT_EQ(::kill(pid, 0), -1);
}

TEST(ProcessTest, UnknownCommandIsAnError) {
  try {
    Process::Start(nullptr, Command({"nstest-no-such-command"}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "start process 'nstest-no-such-command': command not found in PATH");
  }
  EXPECT_THROW(Process::Start(nullptr, Command({})), Error);
  EXPECT_THROW(Process::Start(nullptr, Command({"/nonexistent/binary"})), Error);
}

TEST(ProcessTest, LargeOutputDoesNotDeadlock) {
  ProcessResult r = RunProcess(nullptr, Command({"head", "-c", "1000000", "/dev/zero"}));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_text.size(), 1000000u);
}

TEST(ProcessTest, RaiseFileLimitLiftsTheSoftLimitToTheHardOne) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 256) GTEST_SKIP() << "the hard limit is already " << saved.rlim_max;
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  EXPECT_EQ(RaiseFileLimit(), saved.rlim_max);
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  EXPECT_EQ(now.rlim_cur, saved.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

}  // namespace
}  // namespace nstest
