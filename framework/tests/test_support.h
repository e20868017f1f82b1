// Shared pieces of the integration tests.
#ifndef NSTEST_TESTS_TEST_SUPPORT_H_
#define NSTEST_TESTS_TEST_SUPPORT_H_

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "nstest/fd.h"
#include "nstest/preflight.h"
#include "nstest/tcp.h"

namespace nstest::testing_support {

inline constexpr auto kTimeout = std::chrono::milliseconds(5000);

// A test that needs to create network namespaces; skipped, with the reason, where it cannot.
class NamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = CachedPreflight().NamespaceSkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

// Accepts one pending connection (blocking); fails the test if none.
inline Fd AcceptOne(const Fd& listener) {
  int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(fd, 0) << "accept: " << std::strerror(errno);
  return Fd(fd);
}

// The children of every thread of `pid` (a child forked by a worker thread is listed under that
// thread); empty if `pid` is gone.
inline std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> children;
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(tasks.c_str());
  if (d == nullptr) return children;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + e->d_name + "/children");
    for (pid_t child = 0; in >> child;) children.push_back(child);
  }
  ::closedir(d);
  return children;
}

// The first child of `pid` whose command name (/proc/PID/comm) is `comm`, or 0.
inline pid_t ChildCalled(pid_t pid, const std::string& comm) {
  if (pid == 0) return 0;
  for (pid_t child : Children(pid)) {
    std::ifstream in("/proc/" + std::to_string(child) + "/comm");
    std::string name;
    if (std::getline(in, name) && name == comm) return child;
  }
  return 0;
}

// The first process below `pid`, depth first, whose command name is `comm`, or 0.
inline pid_t DescendantCalled(pid_t pid, const std::string& comm) {
  if (pid == 0) return 0;
  if (pid_t child = ChildCalled(pid, comm); child != 0) return child;
  for (pid_t child : Children(pid)) {
    if (pid_t below = DescendantCalled(child, comm); below != 0) return below;
  }
  return 0;
}

}  // namespace nstest::testing_support

#endif  // NSTEST_TESTS_TEST_SUPPORT_H_
