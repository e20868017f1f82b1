// Shared pieces of the integration tests.
#ifndef NSTEST_TESTS_TEST_SUPPORT_H_
#define NSTEST_TESTS_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>

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

}  // namespace nstest::testing_support

#endif  // NSTEST_TESTS_TEST_SUPPORT_H_
