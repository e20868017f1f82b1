// The accept queue: listen(backlog) completes backlog+1 handshakes on Linux, the backlog is capped
// at net.core.somaxconn, `ss` shows the queue, and accept() frees a slot.
#include <string>

#include "tests/seeds/seed_test_support.h"

namespace nstest::seeds {
namespace {

class BacklogPlusOneTest : public SeedTest, public ::testing::WithParamInterface<int> {};

TEST_P(BacklogPlusOneTest, CompletesBacklogPlusOneHandshakesThenDropsTheNextSyn) {
  const int backlog = GetParam();
  Listen(kPort, backlog);
  std::vector<Connections> queued = FillAcceptQueue(kPort, backlog + 1);
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(backlog + 1));
  EXPECT_THAT(ServerListener(kPort), BacklogIs(backlog));

  ResetCounters();
  Connections next = ConnectExpectingDrop(kPort);
  EXPECT_THAT(next, HasOutcomes(ConnectResult::kPending, 1));
  WaitForCounter(server(), "TcpExtListenOverflows", 1);
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(backlog + 1));
}

INSTANTIATE_TEST_SUITE_P(Backlogs, BacklogPlusOneTest, ::testing::Range(0, 5),
                         [](const auto& p) { return "Backlog" + std::to_string(p.param); });

// -1 and anything above net.core.somaxconn are clamped to somaxconn (set small per namespace).
class SomaxconnClampTest : public SeedTest, public ::testing::WithParamInterface<int> {};

TEST_P(SomaxconnClampTest, BacklogIsClampedToSomaxconn) {
  SetSysctl(server(), "net.core.somaxconn", "6");
  const long somaxconn = SysctlNumber(server(), "net.core.somaxconn");
  const int backlog = GetParam();
  const long effective = backlog < 0 || backlog > somaxconn ? somaxconn : backlog;
  Listen(kPort, backlog);
  EXPECT_THAT(ServerListener(kPort), BacklogIs(effective));
  std::vector<Connections> queued = FillAcceptQueue(kPort, static_cast<int>(effective + 1));
  Connections next = ConnectExpectingDrop(kPort);
  EXPECT_THAT(next, HasOutcomes(ConnectResult::kPending, 1));
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(effective + 1));
}

INSTANTIATE_TEST_SUITE_P(Backlogs, SomaxconnClampTest, ::testing::Values(-1, 3, 6, 7, 100, 65535),
                         [](const auto& p) {
                           return p.param < 0 ? std::string("BacklogMinus1")
                                              : "Backlog" + std::to_string(p.param);
                         });

// The seed's own experiment: listen(-1) with the kernel's default somaxconn (4096 in a new
// namespace, whatever the host has) accepts somaxconn+1 connections, then the next one fails.
class DefaultSomaxconnTest : public SeedTest {};

TEST_F(DefaultSomaxconnTest, ListenMinusOneAcceptsSomaxconnPlusOne) {
  RaiseFileLimit();  // thousands of sockets
  const long somaxconn = SysctlNumber(server(), "net.core.somaxconn");
  Listen(kPort, -1);
  ConnectOptions o;
  o.port = kPort;
  o.count = static_cast<int>(somaxconn + 2);
  o.deadline = 300ms;
  o.stop_at_first_failure = true;
  Connections c = Connect(o);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, somaxconn + 1));
  EXPECT_EQ(c.results().size(), static_cast<size_t>(somaxconn + 2)) << c.Summary();
  EXPECT_THAT(ServerListener(kPort), BacklogIs(somaxconn));
}

// `ss -ltn`: Recv-Q is the accept queue, Send-Q the effective backlog; connections still in
// SYN-RECV (their final ACK held back in the client) are not in Recv-Q.
class SsViewTest : public SeedTest {};

TEST_F(SsViewTest, RecvQIsTheAcceptQueueAndSynRecvIsNotInIt) {
  NSTEST_REQUIRE_FEATURE(Feature::kNftables);
  NSTEST_REQUIRE_FEATURE(Feature::kNfqueue);
  constexpr int kBacklog = 5;
  constexpr int kHeld = 2;
  constexpr int kCompleted = 3;
  Listen(kPort, kBacklog);
  PacketHold hold(Filter(client()), HeldAcks(kPort, kHeld));
  Connections held = ConnectHeld(hold, kPort, kHeld);
  WaitForSockets(server(), TcpState::kSynRecv, kHeld);
  std::vector<Connections> done = FillAcceptQueue(kPort, kCompleted);
  ListenerQueues q = ServerListener(kPort);
  EXPECT_THAT(q, AcceptQueueIs(kCompleted));
  EXPECT_THAT(q, SynRecvIs(kHeld));
  EXPECT_THAT(q, BacklogIs(kBacklog));

  hold.Release();
  WaitForAcceptQueue(kPort, kCompleted + kHeld);
  EXPECT_THAT(ServerListener(kPort), SynRecvIs(0));
}

// accept() takes one connection off the queue, which lets exactly one more complete.
class AcceptFreesASlotTest : public SeedTest {};

TEST_F(AcceptFreesASlotTest, AcceptingOneLetsExactlyOneMoreComplete) {
  constexpr int kBacklog = 2;
  Listener& listener = Listen(kPort, kBacklog, AcceptPolicy::kOnDemand);
  std::vector<Connections> queued = FillAcceptQueue(kPort, kBacklog + 1);
  {
    Connections dropped = ConnectExpectingDrop(kPort);
    EXPECT_THAT(dropped, HasOutcomes(ConnectResult::kPending, 1));
  }  // closed, so its SYN retransmission cannot take the freed slot
  ASSERT_EQ(listener.Accept(1, 5s), 1);
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(kBacklog));

  std::vector<Connections> one_more = FillAcceptQueue(kPort, 1);
  Connections then_full = ConnectExpectingDrop(kPort);
  EXPECT_THAT(then_full, HasOutcomes(ConnectResult::kPending, 1));
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(kBacklog + 1));
  EXPECT_EQ(listener.accepted_count(), 1u);
}

}  // namespace
}  // namespace nstest::seeds
