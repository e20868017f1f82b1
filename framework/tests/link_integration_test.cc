#include <gmock/gmock.h>

#include "nstest/counters.h"
#include "nstest/error.h"
#include "nstest/link.h"
#include "nstest/process.h"
#include "nstest/tcp.h"
#include "nstest/topology.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using ::testing::StartsWith;
using ::testing::ThrowsMessage;
using testing_support::AcceptOne;
using testing_support::kTimeout;
using testing_support::NamespaceTest;

class LinkTest : public NamespaceTest {};

void ExpectReachable(PairTopology& t, const IpAddress& server_address) {
  Fd listener = TcpListen(t.server(), server_address, 7000, 4);
  Fd client = TcpConnectStart(t.client(), server_address, 7000);
  EXPECT_EQ(TcpConnectWait(client, kTimeout), ConnectResult::kEstablished)
      << "to " << server_address.ToString();
  Fd accepted = AcceptOne(listener);
  ASSERT_TRUE(accepted.valid());
  ASSERT_EQ(::send(client.get(), "ping", 4, MSG_NOSIGNAL), 4);
  char buf[8] = {};
  EXPECT_EQ(::recv(accepted.get(), buf, sizeof buf, 0), 4);
  EXPECT_STREQ(buf, "ping");
}

TEST_F(LinkTest, TwoNamespacesWithVethReachEachOtherOverIpv4AndIpv6) {
  PairTopology t = PairTopology::Create();
  EXPECT_EQ(GetLink(t.server(), "eth0").oper_state, OperState::kUp);
  EXPECT_EQ(GetLink(t.client(), "eth0").oper_state, OperState::kUp);
  ExpectReachable(t, t.server_v4());
  ExpectReachable(t, t.server_v6());
}

// Regression: while the kernel was still destroying an earlier namespace, the server had not yet
// joined its address's solicited-node group when the topology was handed out; the client's first
// neighbour solicitation was dropped and its SYN waited for the 1 s retransmission timer.
TEST_F(LinkTest, FirstIpv6ConnectionNeedsNoRetransmission) {
  for (int round = 0; round < 3; ++round) {
    {
      // Keep the kernel's cleanup_net() busy, as an earlier test's teardown does.
      Netns busy = Netns::Create("busy");
      AddVethPair(busy, "v0", busy, "v1");
    }
    PairTopology t = PairTopology::Create();
    Counters before = Counters::Read(t.client());
    Fd listener = TcpListen(t.server(), t.server_v6(), 7000, 4);
    Fd client = TcpConnectStart(t.client(), t.server_v6(), 7000);
    ASSERT_EQ(TcpConnectWait(client, kTimeout), ConnectResult::kEstablished);
    CounterDelta d = Counters::Read(t.client()).Since(before);
    EXPECT_EQ(d.Get("TcpRetransSegs"), 0) << d.ToString();
    EXPECT_EQ(d.Get("TcpExtTCPTimeouts"), 0) << d.ToString();
  }
}

TEST_F(LinkTest, VethEndsGetDifferentIfindexes) {
  PairTopology t = PairTopology::Create();
  EXPECT_NE(t.veth().a_index, t.veth().b_index);
  EXPECT_EQ(GetLink(t.server(), "eth0").index, t.veth().a_index);
  EXPECT_EQ(GetLink(t.client(), "eth0").index, t.veth().b_index);
}

TEST_F(LinkTest, MtuIsAppliedToBothEndsAndCanChange) {
  PairTopologyOptions o;
  o.mtu = 1400;
  PairTopology t = PairTopology::Create(o);
  EXPECT_EQ(GetLink(t.server(), "eth0").mtu, 1400u);
  EXPECT_EQ(GetLink(t.client(), "eth0").mtu, 1400u);
  SetLinkMtu(t.server(), "eth0", 1280);
  EXPECT_EQ(GetLink(t.server(), "eth0").mtu, 1280u);
  EXPECT_THROW(SetLinkMtu(t.server(), "eth0", 70000), NetlinkError);
}

TEST_F(LinkTest, WaitForADownLinkTimesOutSayingWhatItSaw) {
  Netns a = Netns::Create("a");
  Netns b = Netns::Create("b");
  VethOptions down;
  down.up = false;
  AddVethPair(a, "v0", b, "v1", down);
  try {
    WaitLinkOperUp(a, "v0", std::chrono::milliseconds(100));
    FAIL() << "no timeout";
  } catch (const TimeoutError& e) {
    EXPECT_STREQ(e.what(),
                 "wait for link 'v0' in netns 'a' to be up: still DOWN (admin down) after 100 ms");
  }
  SetLinkUp(a, "v0", true);
  SetLinkUp(b, "v1", true);
  WaitLinkOperUp(a, "v0", kTimeout);
  EXPECT_EQ(GetLink(a, "v0").oper_state, OperState::kUp);
}

TEST_F(LinkTest, DuplicateNameKeepsNetlinkError) {
  Netns a = Netns::Create("a");
  AddVethPair(a, "v0", a, "v1");
  EXPECT_THAT([&] { AddVethPair(a, "v0", a, "v2"); },
              ThrowsMessage<NetlinkError>(
                  StartsWith("create veth 'v0' in netns 'a' with peer 'v2' in netns 'a': ")));
}

// The kernel's refusal comes back as libnl would have reported it, naming the request.
TEST_F(LinkTest, RefusedAddressKeepsTheKernelsReason) {
  Netns a = Netns::Create("a");
  IpPrefix prefix{IpAddress::Parse("198.18.0.1"), 24};
  try {
    AddAddress(a, "nosuch0", 99, prefix);
    FAIL();
  } catch (const NetlinkError& e) {
    EXPECT_STREQ(e.what(),
                 "add address '198.18.0.1/24' to link 'nosuch0' in netns 'a': No such device");
  }
  AddAddress(a, "lo", 1, prefix);
  EXPECT_THROW(AddAddress(a, "lo", 1, prefix), NetlinkError);  // exists already
}

TEST_F(LinkTest, RoutesAreAddedOrRefusedWithTheReason) {
  PairTopology t = PairTopology::Create();
  IpPrefix far = IpPrefix::Parse("203.0.113.0/24");
  AddRoute(t.server(), far, t.client_v4());
  AddBlackholeRoute(t.client(), far);
  EXPECT_THROW(AddBlackholeRoute(t.client(), far), NetlinkError);  // exists already
  EXPECT_THAT(
      [&] { AddRoute(t.server(), IpPrefix::Parse("192.0.2.0/24"), IpAddress::Parse("10.9.9.9")); },
      ThrowsMessage<NetlinkError>(
          StartsWith("add route to '192.0.2.0/24' via '10.9.9.9' in netns 'server': ")));
  // The route is used: the server reaches an address of the range through the client.
  ProcessOptions get;
  get.argv = {"ip", "-4", "route", "get", "203.0.113.7"};
  ProcessResult r = RunProcess(&t.server(), get);
  EXPECT_NE(r.stdout_text.find("via " + t.client_v4().ToString()), std::string::npos)
      << r.stdout_text << r.stderr_text;
  get.argv = {"ip", "-4", "route", "show", "type", "blackhole"};
  r = RunProcess(&t.client(), get);
  EXPECT_NE(r.stdout_text.find("blackhole 203.0.113.0/24"), std::string::npos)
      << r.stdout_text << r.stderr_text;
}

TEST_F(LinkTest, BadInterfaceNamesAreRefusedBeforeTheKernel) {
  Netns a = Netns::Create("a");
  EXPECT_THROW(AddVethPair(a, "a-name-that-is-too-long", a, "v1"), Error);
  EXPECT_THROW(AddVethPair(a, "bad/name", a, "v1"), Error);
  EXPECT_THROW(AddVethPair(a, "", a, "v1"), Error);
}

// GetLink reads its answer by hand, ListLinks through libnl's objects: the same links either way.
TEST_F(LinkTest, GetLinkSaysWhatTheListSays) {
  Netns a = Netns::Create("a");
  Netns b = Netns::Create("b");
  VethOptions o;
  o.mtu = 1400;
  AddVethPair(a, "v0", b, "v1", o);
  VethOptions down;
  down.up = false;
  AddVethPair(a, "down0", b, "down1", down);
  WaitLinkOperUp(a, "v0", kTimeout);
  std::vector<LinkInfo> links = ListLinks(a);
  std::set<std::string> names;
  for (const LinkInfo& l : links) names.insert(l.name);
  for (const char* n : {"lo", "v0", "down0"}) EXPECT_EQ(names.count(n), 1u) << n;
  for (const LinkInfo& l : links) {
    SCOPED_TRACE(l.name);
    LinkInfo got = GetLink(a, l.name);
    EXPECT_EQ(got.index, l.index);
    EXPECT_EQ(got.name, l.name);
    EXPECT_EQ(got.mtu, l.mtu);
    EXPECT_EQ(got.admin_up, l.admin_up);
    EXPECT_EQ(got.oper_state, l.oper_state);
  }
  EXPECT_EQ(GetLink(a, "v0").mtu, 1400u);
  EXPECT_TRUE(GetLink(a, "v0").admin_up);
  EXPECT_FALSE(GetLink(a, "down0").admin_up);
  EXPECT_EQ(GetLink(a, "down0").oper_state, OperState::kDown);
  EXPECT_EQ(GetLink(a, "lo").index, 1);
  try {
    GetLink(a, "nosuch0");
    FAIL() << "no error";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("read link 'nosuch0' in netns 'a': ", 0), 0u) << e.what();
  }
}

TEST_F(LinkTest, DeleteLinkRemovesBothEnds) {
  Netns a = Netns::Create("a");
  Netns b = Netns::Create("b");
  AddVethPair(a, "v0", b, "v1");
  DeleteLink(a, "v0");
  EXPECT_THROW(GetLink(a, "v0"), NetlinkError);
  EXPECT_THROW(GetLink(b, "v1"), NetlinkError);
}

TEST_F(LinkTest, AddressesAreListedByTheKernel) {
  Netns a = Netns::Create("a");
  AddVethPair(a, "v0", a, "v1");
  AddAddress(a, "v0", IpPrefix::Parse("198.18.7.1/24"));
  EXPECT_THROW(AddAddress(a, "v0", IpPrefix::Parse("198.18.7.1/24")), NetlinkError);
  EXPECT_THROW(AddAddress(a, "nosuch", IpPrefix::Parse("198.18.7.2/24")), NetlinkError);
}

}  // namespace
}  // namespace nstest
