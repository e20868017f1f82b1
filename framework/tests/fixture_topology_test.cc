// nstest::NetnsTest over any topology a suite can have: here three namespaces in a row.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vector>

#include "nstest/gtest.h"

namespace nstest {
namespace {

class ThreeInARowTest : public NetnsTest {
 protected:
  ScenarioSpec Topology() const override {
    return {.namespaces = {"client", "lb", "server"},
            .links = {{.a = "client", .b = "lb"}, {.a = "lb", .b = "server"}}};
  }
};

TEST_F(ThreeInARowTest, EveryNamespaceIsReachableByName) {
  // Each link has its own /24; a namespace's address is that of its first link.
  EXPECT_EQ(scenario().AddressOf("client").ToString(), "198.18.0.1");
  EXPECT_EQ(scenario().AddressOf("lb").ToString(), "198.18.0.2");
  EXPECT_EQ(scenario().AddressOf("server").ToString(), "198.18.1.2");
  EXPECT_EQ(scenario().InterfaceOf("lb"), "eth0");
  EXPECT_EQ(scenario().links()[1].spec.a_ifname, "eth1");
  EXPECT_EQ(&server(), &ns("server"));
  EXPECT_EQ(&client(), &ns("client"));
  EXPECT_THROW(topology(), Error) << "server and client have no link of their own";

  Listen("server", ListenerOptions{.port = 8080, .backlog = 1});
  Connections c = Connect("lb", "server", ConnectOptions{.port = 8080, .count = 2});
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 2));
  EXPECT_THAT(ListenerIn("server", 8080), AcceptQueueIs(2));
  EXPECT_THAT(CounterChanges(ns("server")), CounterIs("TcpPassiveOpens", 2));
  EXPECT_THAT(CounterChanges(ns("client")), CounterIs("TcpActiveOpens", 0));

  const std::string context = Context();
  for (const char* name : {"client", "lb", "server"}) {
    EXPECT_NE(context.find(fmt::format("netns '{}':", name)), std::string::npos) << context;
  }
  EXPECT_NE(context.find("LISTEN 198.18.1.2:8080 Recv-Q 2 Send-Q 1"), std::string::npos) << context;
}

TEST_F(ThreeInARowTest, AnUnknownNamespaceIsAnErrorWithASuggestion) {
  try {
    ns("sever");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "no namespace 'sever'; did you mean 'server'?");
  }
}

class ListenerSetTest : public NetnsTest {};

// Several listeners on one port: a SO_REUSEPORT group and an IPv6 wildcard beside it. Asking for
// "the" listener lists them; a selector picks one; ListenerGroup() sums a set.
TEST_F(ListenerSetTest, AGroupIsSelectedByIndexAndSummed) {
  ListenerOptions lo{.address = scenario().AddressOf("server"), .port = 8080, .backlog = 1};
  lo.reuseport = true;
  std::vector<uint32_t> inodes;
  for (int i = 0; i < 4; ++i) inodes.push_back(Listen(lo).inode());
  Listen(ListenerOptions{
      .address = WildcardAddress(Family::kIPv6), .port = 8080, .backlog = 3, .ipv6_only = true});
  ASSERT_TRUE(WaitForListening(server(), 8080, {.family = Family::kIPv4}, 4));
  ASSERT_TRUE(WaitForListening(server(), 8080, {.family = Family::kIPv6}, 1));
  try {
    ServerListener(8080);
    FAIL() << "five listeners, none selected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5 listening sockets ("), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("SO_REUSEPORT 3 of 4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pass a ListenerSelector"), std::string::npos) << e.what();
  }
  Connections c = ConnectToServer(8080, 64, ConnectMode::kBurst, std::chrono::milliseconds(500));
  // 64 connections over 4 members of backlog 1: each member's queue holds 2 (that one gets fewer
  // than 2 has a probability of about 1e-6).
  EXPECT_THAT(ListenerGroup("server", 8080, {.family = Family::kIPv4}), AcceptQueueIs(8));
  EXPECT_THAT(ListenerGroup("server", 8080, {.family = Family::kIPv4}), BacklogIs(4));
  for (uint32_t i = 0; i < 4; ++i) {
    ListenerQueues member = ServerListener(8080, {.family = Family::kIPv4, .index = i});
    EXPECT_THAT(member, AcceptQueueIs(2));
    EXPECT_EQ(member.inode, inodes[i]) << "index " << i << " is the test's Listen() number " << i;
  }
  EXPECT_THAT(ServerListener(8080, {.family = Family::kIPv6}), BacklogIs(3));
  EXPECT_EQ(ListenersIn("server", 8080).size(), 5u);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 8));
  const std::string context = Context();
  EXPECT_NE(context.find("SO_REUSEPORT 0 of 4"), std::string::npos) << context;
  EXPECT_NE(context.find("LISTEN [::]:8080 Recv-Q 0 Send-Q 3"), std::string::npos) << context;
}

}  // namespace
}  // namespace nstest
