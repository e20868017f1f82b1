// nstest::NetnsTest over any topology a suite can have: here three namespaces in a row.
#include <fmt/format.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace nstest
