#include "nstest/error.h"
#include "nstest/sysctl.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using testing_support::NamespaceTest;

class SysctlTest : public NamespaceTest {};

std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(SysctlTest, PerNamespaceWriteLeavesHostUnchanged) {
  std::string host_before = GetCurrentSysctl("net.core.somaxconn");
  Netns ns = Netns::Create("server");
  std::string wanted = host_before == "64" ? "65" : "64";
  EXPECT_EQ(SetSysctl(ns, "net.core.somaxconn", wanted), wanted);
  EXPECT_EQ(GetSysctl(ns, "net.core.somaxconn"), wanted);
  EXPECT_EQ(GetCurrentSysctl("net.core.somaxconn"), host_before);
  EXPECT_EQ(ns.effective_sysctls().at("net.core.somaxconn"), wanted);
}

TEST_F(SysctlTest, GlobalKeyIsRefused) {
  std::string host_before = GetCurrentSysctl("net.core.netdev_max_backlog");
  Netns ns = Netns::Create("server");
  EXPECT_EQ(ErrorOf([&] { SetSysctl(ns, "net.core.netdev_max_backlog", "5000"); }),
            "set sysctl 'net.core.netdev_max_backlog' in netns 'server': not a per-namespace key "
            "(absent inside the namespace, present on the host); refusing to change the host");
  EXPECT_EQ(GetCurrentSysctl("net.core.netdev_max_backlog"), host_before);
  EXPECT_TRUE(ns.effective_sysctls().empty());
}

TEST_F(SysctlTest, ReadOnlyKeyIsRefused) {
  Netns ns = Netns::Create("server");
  EXPECT_EQ(ErrorOf([&] { SetSysctl(ns, "net.core.rmem_max", "1000000"); }),
            "set sysctl 'net.core.rmem_max' in netns 'server': read-only inside the namespace "
            "(the kernel shares it with the host or fixes it); refusing");
}

TEST_F(SysctlTest, UnknownKeyGetsSuggestion) {
  Netns ns = Netns::Create("server");
  EXPECT_EQ(ErrorOf([&] { SetSysctl(ns, "net.core.somaxcon", "5"); }),
            "set sysctl 'net.core.somaxcon' in netns 'server': no such key; did you mean "
            "'net.core.somaxconn'?");
  EXPECT_EQ(ErrorOf([&] { GetSysctl(ns, "net.ipv4.tcp_synack_retry"); }),
            "read sysctl 'net.ipv4.tcp_synack_retry' in netns 'server': no such key in this "
            "namespace; did you mean 'net.ipv4.tcp_synack_retries'?");
}

TEST_F(SysctlTest, ValueTheKernelRejectsIsAnError) {
  Netns ns = Netns::Create("server");
  EXPECT_THROW(SetSysctl(ns, "net.core.somaxconn", "lots"), SystemError);
  EXPECT_THROW(SetSysctl(ns, "net.ipv4.tcp_synack_retries", "300"), SystemError);  // a u8
  EXPECT_THROW(SetSysctl(ns, "net.core.somaxconn", "5\n6"), Error);
}

TEST_F(SysctlTest, MultiFieldValuesRoundTrip) {
  Netns ns = Netns::Create("server");
  EXPECT_EQ(SetSysctl(ns, "net.ipv4.tcp_rmem", "4096\t 65536  1048576"), "4096 65536 1048576");
  EXPECT_EQ(GetSysctl(ns, "net.ipv4.tcp_rmem"), "4096 65536 1048576");
}

TEST_F(SysctlTest, SlashFormReachesDottedInterfaceNames) {
  Netns ns = Netns::Create("server");
  EXPECT_EQ(SetSysctl(ns, "net/ipv4/conf/lo/rp_filter", "2"), "2");
  EXPECT_EQ(ns.effective_sysctls().at("net.ipv4.conf.lo.rp_filter"), "2");
}

TEST_F(SysctlTest, ComparisonWithHostShowsBothValues) {
  Netns ns = Netns::Create("server");
  SetSysctl(ns, "net.ipv4.tcp_synack_retries", "1");
  auto rows = CompareWithHost(ns, {"net.ipv4.tcp_synack_retries", "net.ipv4.ip_forward"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].netns_value, "1");
  EXPECT_EQ(rows[0].host_value, GetCurrentSysctl("net.ipv4.tcp_synack_retries"));
  EXPECT_EQ(rows[1].host_value, GetCurrentSysctl("net.ipv4.ip_forward"));
}

}  // namespace
}  // namespace nstest
