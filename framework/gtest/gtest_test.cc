// Tests of nstest::gtest's own matchers and helpers, without namespaces.
#include "nstest/gtest.h"

#include <gtest/gtest-spi.h>

namespace nstest {
namespace {

using ::testing::Not;

ListenerQueues Queues(uint32_t recv_q, uint32_t send_q, uint32_t syn_recv) {
  ListenerQueues q;
  q.address = IpAddress::Parse("198.18.0.1");
  q.port = 8080;
  q.accept_queue = recv_q;
  q.max_accept_queue = send_q;
  q.syn_recv = syn_recv;
  return q;
}

TEST(ListenerMatchersTest, MatchAndExplainWithTheSsView) {
  ListenerQueues q = Queues(3, 2, 1);
  EXPECT_THAT(q, AcceptQueueIs(3));
  EXPECT_THAT(q, BacklogIs(2));
  EXPECT_THAT(q, SynRecvIs(1));
  EXPECT_THAT(q, Not(AcceptQueueIs(5)));
  // The listener once, then the check in the words a suite's `expect.listener` fails with.
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(q, AcceptQueueIs(5)),
                          "Expected: Recv-Q (accept queue) is 5\n"
                          "  Actual: LISTEN 198.18.0.1:8080 Recv-Q 3 Send-Q 2 SYN-RECV 1 (of type "
                          "nstest::ListenerQueues), Recv-Q (accept queue): expected 5, got 3");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(q, BacklogIs(4)), "Send-Q (backlog): expected 4, got 2");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(q, SynRecvIs(0)), "SYN-RECV: expected 0, got 1");
}

TEST(CounterMatchersTest, ShowEveryChangedCounter) {
  Counters before =
      Counters::Parse("server", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1 1\n", "", "");
  Counters after =
      Counters::Parse("server", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 3 4\n", "", "");
  CounterDelta d = after.Since(before);
  EXPECT_THAT(d, CounterIs("TcpExtListenOverflows", 2));
  EXPECT_THAT(d, CounterAtLeast("TcpExtListenDrops", 3));
  // Every change, then the check in the words a suite's `expect.counters` fails with.
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(d, CounterIs("TcpExtListenOverflows", 1)),
                          "counter changes in netns 'server': TcpExtListenDrops +3, "
                          "TcpExtListenOverflows +2 (of type nstest::CounterDelta), "
                          "TcpExtListenOverflows in netns 'server': expected 1, got 2");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(d, CounterAtLeast("TcpExtListenDrops", 4)),
                          "Expected: TcpExtListenDrops grew by at least 4\n  Actual: counter "
                          "changes in netns 'server': TcpExtListenDrops +3, TcpExtListenOverflows "
                          "+2 (of type nstest::CounterDelta), TcpExtListenDrops in netns 'server': "
                          "expected at least 4, got 3");
}

TEST(ConnectionMatchersTest, SummariseOutcomes) {
  Connections none;
  EXPECT_THAT(none, HasOutcomes(ConnectResult::kEstablished, 0));
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(none, HasOutcomes(ConnectResult::kEstablished, 1)),
                          "has 1 connections established");
}

TEST(TimerWheelSlackTest, FollowsTheWheelLevels) {
  using std::chrono::milliseconds;
  // HZ=250: 1 s and 2 s are 250 and 500 jiffies (level 1, 8 jiffies = 32 ms);
  // 4 s is 1000 jiffies (level 2, 64 jiffies = 256 ms); 100 ms is 25 jiffies (level 0).
  EXPECT_EQ(TimerWheelSlack(milliseconds(1000), 250), milliseconds(32));
  EXPECT_EQ(TimerWheelSlack(milliseconds(2000), 250), milliseconds(32));
  EXPECT_EQ(TimerWheelSlack(milliseconds(4000), 250), milliseconds(256));
  EXPECT_EQ(TimerWheelSlack(milliseconds(100), 250), milliseconds(4));
  // HZ=1000: 1 s is 1000 jiffies (level 2, 64 ms).
  EXPECT_EQ(TimerWheelSlack(milliseconds(1000), 1000), milliseconds(64));
  EXPECT_GT(KernelHz(), 0);
}

}  // namespace
}  // namespace nstest
