#include "nstest/fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace nstest {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(FdTest, ClosesOnDestruction) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  { Fd fd(raw); }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(FdTest, MoveTransfersOwnership) {
  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  Fd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.get(), raw);
  Fd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

TEST(FdTest, ReleaseDoesNotClose) {
  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.release();
  EXPECT_TRUE(IsOpen(raw));
  ::close(raw);
}

}  // namespace
}  // namespace nstest
