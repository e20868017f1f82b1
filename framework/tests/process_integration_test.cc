#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "nstest/error.h"
#include "nstest/process.h"
#include "nstest/topology.h"
#include "nstest/wait.h"
#include "src/pidfd.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using testing_support::ChildCalled;
using testing_support::DescendantCalled;

using std::chrono::milliseconds;
using testing_support::NamespaceTest;

class ProcessInNetnsTest : public NamespaceTest {};

ProcessOptions Command(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.timeout = milliseconds(10000);
  return o;
}

TEST_F(ProcessInNetnsTest, RunsInsideTheNamespace) {
  Netns ns = Netns::Create("server");
  ProcessResult r = RunProcess(&ns, Command({"readlink", "/proc/self/ns/net"}));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "net:[" + std::to_string(ns.inode()) + "]\n");
}

TEST_F(ProcessInNetnsTest, SeesTheNamespacesLinks) {
  PairTopology t = PairTopology::Create();
  ProcessResult r = RunProcess(&t.server(), Command({"ip", "-o", "-4", "addr", "show", "eth0"}));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("198.18.0.1/24"), std::string::npos) << r.stdout_text;
}

// Not run directly: ProcessInNetnsTest.ChildDiesWhenItsOwnerIsKilled starts this binary with this
// test selected to act as an owner that gets SIGKILLed.
TEST(ProcessOwnerHelper, DISABLED_StartChildAndBlock) {
  Netns ns = Netns::Create("owner");
  Process child = Process::Start(&ns, Command({"sleep", "60"}));
  ::pause();
}

TEST_F(ProcessInNetnsTest, ChildDiesWhenItsOwnerIsKilled) {
  char exe[4096] = {};
  ASSERT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
  Process owner = Process::Start(
      nullptr, Command({exe, "--gtest_also_run_disabled_tests",
                        "--gtest_filter=ProcessOwnerHelper.DISABLED_StartChildAndBlock"}));
  pid_t child = 0;
  WaitUntil("the owner to start its child", milliseconds(10000),
            [&] { return (child = ChildCalled(owner.pid(), "sleep")) != 0; });
  Fd pidfd(PidfdOpen(child));
  ASSERT_TRUE(pidfd.valid());
  owner.Kill(SIGKILL);
  EXPECT_EQ(owner.Wait().signal, SIGKILL);
  pollfd p{pidfd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "child " << child << " outlived its killed owner";
}

// Not run directly: the owners of a child that forks a grandchild, for the tests below. The child
// is `sleep 62` and its own child `sleep 61` (the shell forks one, then becomes the other).
void StartForkingChildAndBlock() {
  Netns ns = Netns::Create("owner");
  Process child = Process::Start(&ns, Command({"sh", "-c", "sleep 61 & exec sleep 62"}));
  ::pause();
}
TEST(ProcessOwnerHelper, DISABLED_StartForkingChildAndBlock) { StartForkingChildAndBlock(); }
TEST(ProcessOwnerHelper, DISABLED_StartForkingChildInOwnPidNamespaceAndBlock) {
  RunInOwnPidNamespace([] {
    StartForkingChildAndBlock();
    return 0;
  });
}

// Starts the helper `owner_test`, SIGKILLs it once its grandchild runs, and returns a pidfd of
// that grandchild.
Fd GrandchildOfKilledOwner(const std::string& owner_test) {
  char exe[4096] = {};
  EXPECT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
  Process owner =
      Process::Start(nullptr, Command({exe, "--gtest_also_run_disabled_tests",
                                       "--gtest_filter=ProcessOwnerHelper." + owner_test}));
  pid_t grandchild = 0;
  WaitUntil("the owner's grandchild", milliseconds(10000), [&] {
    grandchild = DescendantCalled(DescendantCalled(owner.pid(), "sleep"), "sleep");
    return grandchild != 0;
  });
  Fd pidfd(PidfdOpen(grandchild));
  EXPECT_TRUE(pidfd.valid());
  owner.Kill(SIGKILL);
  EXPECT_EQ(owner.Wait().signal, SIGKILL);
  return pidfd;
}

TEST_F(ProcessInNetnsTest, GrandchildOutlivesAKilledOwnerWithoutPidNamespace) {
  // The control for the test below: PR_SET_PDEATHSIG reaches only the direct child.
  Fd grandchild = GrandchildOfKilledOwner("DISABLED_StartForkingChildAndBlock");
  pollfd p{grandchild.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 500), 0) << "the grandchild died without a PID namespace";
  PidfdSendSignal(grandchild.get(), SIGKILL);  // we started it; end it by its pidfd
}

TEST_F(ProcessInNetnsTest, GrandchildInOwnPidNamespaceDiesWithItsKilledOwner) {
  Fd grandchild = GrandchildOfKilledOwner("DISABLED_StartForkingChildInOwnPidNamespaceAndBlock");
  pollfd p{grandchild.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1)
      << "a grandchild in its own PID namespace outlived its killed owner";
}

}  // namespace
}  // namespace nstest
