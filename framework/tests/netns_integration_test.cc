#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <thread>

#include "nstest/error.h"
#include "nstest/link.h"
#include "nstest/netns.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using testing_support::NamespaceTest;

class NetnsTest : public NamespaceTest {};

TEST_F(NetnsTest, CreateLeavesCallingThreadWhereItWas) {
  ino_t before = CurrentNetnsInode();
  Netns ns = Netns::Create("server");
  EXPECT_EQ(CurrentNetnsInode(), before);
  EXPECT_NE(ns.inode(), before);
  EXPECT_EQ(ns.name(), "server");
}

TEST_F(NetnsTest, GuardEntersAndRestores) {
  Netns ns = Netns::Create("server");
  ino_t outside = CurrentNetnsInode();
  {
    NetnsGuard guard(ns);
    EXPECT_EQ(CurrentNetnsInode(), ns.inode());
  }
  EXPECT_EQ(CurrentNetnsInode(), outside);
  EXPECT_EQ(RunInNetns(ns, [] { return CurrentNetnsInode(); }), ns.inode());
}

TEST_F(NetnsTest, GuardChangesOnlyTheCallingThread) {
  Netns ns = Netns::Create("server");
  ino_t outside = CurrentNetnsInode();
  // The other thread must exist before the guard: a new thread starts in its creator's namespace.
  std::barrier sync(2);
  ino_t seen_by_other = 0;
  std::thread other([&] {
    sync.arrive_and_wait();  // the guard is held now
    seen_by_other = CurrentNetnsInode();
    sync.arrive_and_wait();
  });
  {
    NetnsGuard guard(ns);
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    EXPECT_EQ(CurrentNetnsInode(), ns.inode());
  }
  other.join();
  EXPECT_EQ(seen_by_other, outside);
}

TEST_F(NetnsTest, LoopbackIsUp) {
  Netns ns = Netns::Create("server");
  LinkInfo lo = GetLink(ns, "lo");
  EXPECT_EQ(lo.index, 1);
  EXPECT_TRUE(lo.admin_up);
}

TEST_F(NetnsTest, NamespacesAreIndependent) {
  Netns a = Netns::Create("a");
  Netns b = Netns::Create("b");
  EXPECT_NE(a.inode(), b.inode());
  AddVethPair(a, "only-in-a", a, "also-in-a");
  EXPECT_THROW(GetLink(b, "only-in-a"), NetlinkError);
}

TEST_F(NetnsTest, BindMountIsVisibleAndRemovedOnDestruction) {
  std::string path;
  {
    Netns ns = Netns::Create("server");
    path = ns.BindMount(MakeRunTag());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, ns.inode());
    EXPECT_EQ(path.rfind("/run/netns/nstest-", 0), 0u) << path;
  }
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0) << path << " survived its namespace";
}

TEST_F(NetnsTest, CleanRemovesOnlyMountsOfFinishedRuns) {
  // A run tag whose owner has exited: a child we started and reaped.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  std::string dead_tag = std::to_string(dead) + "x00000000";

  Netns finished = Netns::Create("finished");
  std::string finished_path = finished.BindMount(dead_tag);
  finished.KeepBindMount();
  Netns alive = Netns::Create("alive");
  std::string alive_path = alive.BindMount(MakeRunTag());

  std::vector<std::string> removed = CleanBindMounts(false);
  EXPECT_NE(std::find(removed.begin(), removed.end(), finished_path), removed.end());
  EXPECT_EQ(std::find(removed.begin(), removed.end(), alive_path), removed.end());
  struct stat st {};
  EXPECT_NE(::stat(finished_path.c_str(), &st), 0);
  EXPECT_EQ(::stat(alive_path.c_str(), &st), 0);
}

TEST_F(NetnsTest, BindMountRejectsUnsafeNames) {
  Netns ns = Netns::Create("server");
  EXPECT_THROW(ns.BindMount("../etc"), Error);
  EXPECT_THROW(ns.BindMount(""), Error);
}

}  // namespace
}  // namespace nstest
