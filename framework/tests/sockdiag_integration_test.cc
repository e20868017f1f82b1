#include <vector>

#include "nstest/counters.h"
#include "nstest/error.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/sockdiag.h"
#include "nstest/sysctl.h"
#include "nstest/tcp.h"
#include "nstest/topology.h"
#include "nstest/wait.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using testing_support::AcceptOne;
using testing_support::kTimeout;
using testing_support::NamespaceTest;

constexpr uint16_t kPort = 8080;

class ListenerQueueTest : public NamespaceTest, public ::testing::WithParamInterface<int> {};

// On Linux a listener with backlog B completes B+1 handshakes without accept(): the accept queue
// is full only when its length exceeds the backlog (sk_acceptq_is_full()).
TEST_P(ListenerQueueTest, BacklogPlusOneHandshakesCompleteWithoutAccept) {
  const int backlog = GetParam();
  PairTopology t = PairTopology::Create();
  SockDiag diag(t.server());
  Fd listener = TcpListen(t.server(), t.server_v4(), kPort, backlog);
  ListenerQueues q = diag.Listener(kPort);
  EXPECT_EQ(q.accept_queue, 0u);
  EXPECT_EQ(q.max_accept_queue, static_cast<uint32_t>(backlog));

  std::vector<Fd> clients;
  for (int i = 1; i <= backlog + 1; ++i) {
    clients.push_back(TcpConnectStart(t.client(), t.server_v4(), kPort));
    ASSERT_EQ(TcpConnectWait(clients.back(), kTimeout), ConnectResult::kEstablished) << i;
    WaitUntil(
        "accept queue to grow", kTimeout,
        [&] { return diag.Listener(kPort).accept_queue == static_cast<uint32_t>(i); },
        [&] { return diag.Listener(kPort).ToString(); });
  }
  Counters server_before = Counters::Read(t.server());
  Counters client_before = Counters::Read(t.client());
  clients.push_back(TcpConnectStart(t.client(), t.server_v4(), kPort));
  WaitUntil("the next SYN to be dropped", kTimeout, [&] {
    return Counters::Read(t.server()).Since(server_before).Get("TcpExtListenOverflows") >= 1;
  });
  EXPECT_EQ(TcpConnectWait(clients.back(), std::chrono::milliseconds(0)), ConnectResult::kPending);
  q = diag.Listener(kPort);
  EXPECT_EQ(q.accept_queue, static_cast<uint32_t>(backlog + 1)) << q.ToString();
  EXPECT_EQ(q.max_accept_queue, static_cast<uint32_t>(backlog)) << q.ToString();
  CounterDelta server = Counters::Read(t.server()).Since(server_before);
  EXPECT_GE(server.Get("TcpExtListenDrops"), server.Get("TcpExtListenOverflows"));
  CounterDelta client = Counters::Read(t.client()).Since(client_before);
  EXPECT_EQ(client.Get("TcpExtListenOverflows"), 0) << client.ToString();
}

INSTANTIATE_TEST_SUITE_P(Backlogs, ListenerQueueTest, ::testing::Values(0, 1, 2, 3, 4));

class SockDiagTest : public NamespaceTest {};

TEST_F(SockDiagTest, SendQIsBacklogClampedBySomaxconn) {
  Netns ns = Netns::Create("server");
  SetSysctl(ns, "net.core.somaxconn", "5");
  IpAddress lo = IpAddress::Parse("127.0.0.1");
  SockDiag diag(ns);
  for (int backlog : {-1, 3, 5, 100}) {
    uint16_t port = static_cast<uint16_t>(9000 + backlog + 1);
    Fd l = TcpListen(ns, lo, port, backlog);
    uint32_t expected = backlog < 0 || backlog > 5 ? 5u : static_cast<uint32_t>(backlog);
    EXPECT_EQ(diag.Listener(port).max_accept_queue, expected) << "listen(" << backlog << ")";
  }
}

TEST_F(SockDiagTest, AcceptEmptiesRecvQAndStatesAreCounted) {
  PairTopology t = PairTopology::Create();
  SockDiag diag(t.server());
  Fd listener = TcpListen(t.server(), t.server_v6(), kPort, 8);
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(TcpConnectStart(t.client(), t.server_v6(), kPort));
    ASSERT_EQ(TcpConnectWait(clients.back(), kTimeout), ConnectResult::kEstablished);
  }
  WaitUntil("3 queued", kTimeout, [&] { return diag.Listener(kPort).accept_queue == 3u; });
  Fd accepted = AcceptOne(listener);
  EXPECT_EQ(diag.Listener(kPort).accept_queue, 2u);
  auto states = diag.CountByState();
  EXPECT_EQ(states[TcpState::kListen], 1);
  EXPECT_EQ(states[TcpState::kEstablished], 3);  // queued or accepted, they are established
  EXPECT_EQ(CountTcpStates(t.client())[TcpState::kEstablished], 3);
}

// With the client's handshake-completing ACKs dropped (by an nftables rule inside the client
// namespace), the server keeps request sockets in SYN-RECV: they are counted there, not in Recv-Q.
TEST_F(SockDiagTest, SynRecvRequestsAreNotInRecvQ) {
  if (!CachedPreflight().Has(Feature::kNftables)) {
    GTEST_SKIP() << CachedPreflight().MissingReason(Feature::kNftables);
  }
  PairTopology t = PairTopology::Create();
  ProcessOptions nft;
  nft.argv = {"nft",
              "add table inet nstest; "
              "add chain inet nstest out { type filter hook output priority 0; policy accept; }; "
              "add rule inet nstest out tcp dport 8080 tcp flags & (syn | ack) == ack drop"};
  ProcessResult r = RunProcess(&t.client(), nft);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  SockDiag diag(t.server());
  Fd listener = TcpListen(t.server(), t.server_v4(), kPort, 8);
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(TcpConnectStart(t.client(), t.server_v4(), kPort));
    // The client sees the SYN-ACK and considers itself connected; the server never sees the ACK.
    ASSERT_EQ(TcpConnectWait(clients.back(), kTimeout), ConnectResult::kEstablished);
  }
  WaitUntil(
      "3 request sockets", kTimeout, [&] { return diag.Listener(kPort).syn_recv == 3u; },
      [&] { return diag.Listener(kPort).ToString(); });
  ListenerQueues q = diag.Listener(kPort);
  EXPECT_EQ(q.accept_queue, 0u) << q.ToString();
  EXPECT_EQ(q.max_accept_queue, 8u) << q.ToString();
  EXPECT_EQ(diag.CountByState()[TcpState::kSynRecv], 3);
}

TEST_F(SockDiagTest, ListenersByPortIsListenersForEachPortFromOneDump) {
  PairTopology t = PairTopology::Create();
  SockDiag diag(t.server());
  EXPECT_TRUE(diag.ListenersByPort().empty());
  Fd a = TcpListen(t.server(), t.server_v4(), kPort, 8);
  Fd b = TcpListen(t.server(), t.server_v6(), kPort, 4);
  Fd c = TcpListen(t.server(), t.server_v4(), kPort + 1, 2);
  Fd client = TcpConnectStart(t.client(), t.server_v4(), kPort + 1);
  ASSERT_EQ(TcpConnectWait(client, kTimeout), ConnectResult::kEstablished);
  std::map<uint16_t, std::vector<ListenerQueues>> by_port = diag.ListenersByPort();
  ASSERT_EQ(by_port.size(), 2u);
  for (uint16_t port : {kPort, static_cast<uint16_t>(kPort + 1)}) {
    std::vector<ListenerQueues> one = diag.Listeners(port);
    ASSERT_EQ(by_port[port].size(), one.size()) << port;
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_EQ(by_port[port][i].ToString(), one[i].ToString());
  }
  EXPECT_EQ(by_port[kPort].size(), 2u);
  EXPECT_EQ(by_port[kPort + 1][0].accept_queue, 1u);
}

TEST_F(SockDiagTest, MissingListenerIsAnError) {
  Netns ns = Netns::Create("server");
  try {
    GetListener(ns, 4242);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "read listener on port 4242 in netns 'server': no listening socket");
  }
}

}  // namespace
}  // namespace nstest
