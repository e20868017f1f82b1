#include "nstest/sysctl.h"

#include <gtest/gtest.h>

#include "nstest/error.h"

namespace nstest {
namespace {

TEST(SysctlPathTest, AcceptsDottedAndSlashForms) {
  EXPECT_EQ(SysctlPath("net.core.somaxconn"), "net/core/somaxconn");
  EXPECT_EQ(SysctlPath("net/ipv4/conf/eth0.1/rp_filter"), "net/ipv4/conf/eth0.1/rp_filter");
  EXPECT_EQ(SysctlDisplayKey("net/ipv4/tcp_syncookies"), "net.ipv4.tcp_syncookies");
}

struct BadKey {
  const char* key;
  const char* message;
};

class SysctlPathRejectTest : public testing::TestWithParam<BadKey> {};

TEST_P(SysctlPathRejectTest, SaysWhy) {
  try {
    SysctlPath(GetParam().key);
    FAIL() << "accepted " << GetParam().key;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), GetParam().message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Keys, SysctlPathRejectTest,
    testing::Values(
        BadKey{"kernel.panic",
               "check sysctl key 'kernel.panic': only net.* keys can be set per namespace"},
        BadKey{"net/../kernel/panic",
               "check sysctl key 'net/../kernel/panic': '.' and '..' are not allowed"},
        BadKey{"net..core", "check sysctl key 'net..core': empty component"},
        BadKey{"net.core", "check sysctl key 'net.core': not a key: net.<group>.<name> expected"},
        BadKey{"net.core.some maxconn",
               "check sysctl key 'net.core.some maxconn': character ' ' is not allowed"},
        BadKey{"/net/core/somaxconn", "check sysctl key '/net/core/somaxconn': empty component"},
        BadKey{"", "check sysctl key '': empty key"},
        BadKey{"net.core.x\n",
               "check sysctl key 'net.core.x\n': character '\\x0a' is not allowed"}));

TEST(SysctlPathTest, RejectsOverlongKeys) {
  EXPECT_THROW(SysctlPath("net.core." + std::string(300, 'a')), Error);
}

TEST(ListenPathSysctlsTest, AreAllValidKeys) {
  for (const std::string& key : ListenPathSysctls()) EXPECT_NO_THROW(SysctlPath(key)) << key;
}

}  // namespace
}  // namespace nstest
