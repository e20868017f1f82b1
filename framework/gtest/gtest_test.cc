// Tests of nstest::gtest's own matchers and helpers. Those of the fixture's waits and servers
// that need namespaces run only where the process is privileged already (see PrivilegedTest).
#include "nstest/gtest.h"

#include <gtest/gtest-spi.h>
#include <signal.h>

#include <chrono>
#include <string>

#include "nstest/userns.h"

namespace nstest {
namespace {

using namespace std::chrono_literals;
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

// Runs `wait` with gtest's results intercepted into `results`; returns what the wait returned.
template <typename Fn>
bool Intercepted(::testing::TestPartResultArray* results, Fn&& wait) {
  ::testing::ScopedFakeTestPartResultReporter reporter(
      ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, results);
  return wait();
}

// The one failure in `results`: non-fatal, at `file`:`line`, saying `message`.
void ExpectOneFailureAt(const ::testing::TestPartResultArray& results, const char* file, int line,
                        const std::string& message) {
  ASSERT_EQ(results.size(), 1);
  const ::testing::TestPartResult& r = results.GetTestPartResult(0);
  EXPECT_TRUE(r.nonfatally_failed());
  EXPECT_STREQ(r.file_name(), file);
  EXPECT_EQ(r.line_number(), line);
  EXPECT_EQ(r.message(), message);
}

// A fixture without namespaces (SetUp() builds none): enough for the waits that need none.
class FixtureWithoutNamespacesTest : public NetnsTest {
 protected:
  void SetUp() override {}
};

// Regression: nstest::WaitUntil() in a TEST_F threw TimeoutError, which gtest reported as
// "unknown file: C++ exception thrown in the test body" instead of a failure at the test's line.
TEST_F(FixtureWithoutNamespacesTest, WaitUntilTimeoutIsAFailureAtTheCallersLine) {
  auto never = [] { return false; };
  auto seen = [] { return std::string("nothing yet"); };
  ::testing::TestPartResultArray results;
  const int line = __LINE__ + 1;
  auto wait = [&] { return WaitUntil("the impossible", 20ms, never, seen); };
  EXPECT_FALSE(Intercepted(&results, wait));
  ExpectOneFailureAt(results, __FILE__, line,
                     "wait for the impossible: timed out after 20 ms; last seen: nothing yet");
  EXPECT_TRUE(WaitUntil("the obvious", 20ms, [] { return true; }));
}

TEST_F(FixtureWithoutNamespacesTest, WaitUntilConditionErrorIsAFailureAtTheCallersLine) {
  auto broken = []() -> bool { throw Error("read listener on port 1 in netns 'x': broken"); };
  ::testing::TestPartResultArray results;
  const int line = __LINE__ + 1;
  auto wait = [&] { return WaitUntil("a broken condition", 1s, broken); };
  EXPECT_FALSE(Intercepted(&results, wait));
  ExpectOneFailureAt(results, __FILE__, line, "read listener on port 1 in netns 'x': broken");
}

// Builds the pair of namespaces, but only where the process is privileged already: NetnsTest
// would otherwise move this whole unit-test process into a user namespace of its own, under the
// tests that run after it.
class PrivilegedTest : public NetnsTest {
 protected:
  void SetUp() override {
    if (NeedsOwnUserNamespace()) {
      GTEST_SKIP() << "needs CAP_SYS_ADMIN and CAP_NET_ADMIN (the unit tests do not enter a user "
                      "namespace)";
    }
    NetnsTest::SetUp();
  }
};

// Regression: PacketHold::WaitHeld() in a TEST_F failed at "unknown file".
TEST_F(PrivilegedTest, WaitHeldTimeoutIsAFailureAtTheCallersLine) {
  NSTEST_REQUIRE_FEATURE(Feature::kNfqueue);
  PacketHold& hold = scenario().Hold("acks", "client", TcpMatch::HandshakeAck(8080));
  ::testing::TestPartResultArray results;
  const int line = __LINE__ + 1;
  auto wait = [&] { return WaitHeld(hold, 1, 50ms); };
  EXPECT_FALSE(Intercepted(&results, wait));
  ExpectOneFailureAt(results, __FILE__, line,
                     "wait for 1 packets held by hold packets 'meta l4proto tcp tcp dport 8080 tcp "
                     "flags & (fin | syn | rst | psh | ack) == ack' on NFQUEUE 1 in netns "
                     "'client': timed out after 50 ms; last seen: 0 held, 0 seen");
  Listen(8080, 1);
  EXPECT_THAT(ConnectToServer(8080, 1), HasOutcomes(ConnectResult::kEstablished, 1));
  EXPECT_TRUE(WaitHeld(hold, 1));
}

// Regression: with IPv4 and IPv6 listeners on the port, WaitForAcceptQueue() took the ambiguity
// for "no listener on port 8080 yet" and waited its whole timeout.
TEST_F(PrivilegedTest, AcceptQueueWaitOnSeveralListenersFailsAtOnceNamingThem) {
  Listen(8080, 1);
  Listen(8080, 2, AcceptPolicy::kNever, Family::kIPv6);
  const std::string several =
      "read listener on port 8080 in netns 'server': 2 listening sockets (LISTEN "
      "198.18.0.1:8080 Recv-Q 0 Send-Q 1 SYN-RECV 0; LISTEN [2001:2::1]:8080 Recv-Q 0 Send-Q 2 "
      "SYN-RECV 0); pass a ListenerSelector (address, family, index within a SO_REUSEPORT group), "
      "or take them together with ListenerGroup()";
  auto start = std::chrono::steady_clock::now();
  ::testing::TestPartResultArray results;
  const int line = __LINE__ + 1;
  auto wait = [&] { return WaitForAcceptQueue(8080, 0, QueueWait::kExactly, 10s); };
  EXPECT_FALSE(Intercepted(&results, wait));
  ExpectOneFailureAt(results, __FILE__, line, several);
  EXPECT_NONFATAL_FAILURE(WaitForAcceptQueue(8080, 1, 10s), several);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "not at the 10 s timeouts";
  // A selector picks one.
  Connections c = ConnectToServer(8080, 2, ConnectMode::kSequential, 5s, Family::kIPv6);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 2));
  EXPECT_TRUE(
      WaitForAcceptQueue(server(), 8080, {.family = Family::kIPv6}, 2, QueueWait::kExactly));
  EXPECT_TRUE(
      WaitForAcceptQueue(server(), 8080, {.family = Family::kIPv4}, 0, QueueWait::kExactly));
}

// Regression: WaitForAcceptQueue() waited only for "at least n", so it could not wait for a queue
// to drain (at least 0 holds at once).
TEST_F(PrivilegedTest, AcceptQueueWaitForExactlyOrAtMostWaitsForTheQueueToDrain) {
  Listener& l =
      Listen(ListenerOptions{.port = 8080, .backlog = 4, .accept = AcceptPolicy::kOnDemand});
  EXPECT_THAT(ConnectToServer(8080, 2), HasOutcomes(ConnectResult::kEstablished, 2));
  EXPECT_TRUE(WaitForAcceptQueue(8080, 2, QueueWait::kExactly));
  EXPECT_TRUE(WaitForAcceptQueue(8080, 1));  // at least
  ::testing::TestPartResultArray results;
  const int line = __LINE__ + 1;
  auto wait = [&] { return WaitForAcceptQueue(8080, 0, QueueWait::kExactly, 100ms); };
  EXPECT_FALSE(Intercepted(&results, wait));
  ExpectOneFailureAt(results, __FILE__, line,
                     "wait for accept queue of port 8080 to be exactly 0: timed out after 100 ms; "
                     "last seen: LISTEN 198.18.0.1:8080 Recv-Q 2 Send-Q 4 SYN-RECV 0");
  EXPECT_NONFATAL_FAILURE(WaitForAcceptQueue(8080, 1, QueueWait::kAtMost, 50ms),
                          "wait for accept queue of port 8080 to be at most 1: timed out after "
                          "50 ms; last seen: LISTEN 198.18.0.1:8080 Recv-Q 2");
  EXPECT_EQ(l.Accept(1, 1s), 1);
  EXPECT_TRUE(WaitForAcceptQueue(8080, 1, QueueWait::kAtMost));
  EXPECT_EQ(l.Accept(1, 1s), 1);
  EXPECT_TRUE(WaitForAcceptQueue(8080, 0, QueueWait::kExactly));
}

TEST_F(PrivilegedTest, AcceptQueueWaitNamesANamespaceOtherThanTheServers) {
  EXPECT_NONFATAL_FAILURE(WaitForAcceptQueue(client(), 9000, {}, 0, QueueWait::kExactly, 50ms),
                          "wait for accept queue of port 9000 in netns 'client' to be exactly 0: "
                          "timed out after 50 ms; last seen: no listener on port 9000 yet");
}

// Regression: a started server that died left WaitForAcceptQueue() waiting its whole timeout for
// a listener that would never come.
TEST_F(PrivilegedTest, AcceptQueueWaitFailsAtOnceWhenAStartedServerDied) {
  StartServer("broken", {"sh", "-c", "echo bad config >&2; exit 3"});
  auto start = std::chrono::steady_clock::now();
  EXPECT_NONFATAL_FAILURE(WaitForAcceptQueue(8080, 1, 10s),
                          "a started process ended: process 'broken' (sh -c 'echo bad config >&2; "
                          "exit 3') exited with status 3; its last output:\n  bad config\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "not at the 10 s timeout";
}

// Regression: StopServer()'s result had empty stdout_text and stderr_text.
TEST_F(PrivilegedTest, StopServerResultCarriesTheServersOutput) {
  StartServer("srv", {"sh", "-c", "echo out; echo err >&2; exec sleep 600"});
  // More than the 64 KiB kept, then a last line.
  StartServer("chatty", {"sh", "-c",
                         "head -c 100000 /dev/zero | tr '\\0' x; echo; echo end; "
                         "exec sleep 600"});
  auto tail = [this](const char* name) { return scenario().OutputTail(name, 2); };
  ASSERT_TRUE(WaitUntil(
      "srv's two lines", 5s, [&] { return tail("srv") == "  out\n  err\n"; },
      [&] { return tail("srv"); }));
  ASSERT_TRUE(WaitUntil(
      "chatty's last line", 5s, [&] { return tail("chatty").ends_with("  end\n"); },
      [&] { return tail("chatty"); }));
  const ProcessResult& r = StopServer("srv");
  EXPECT_EQ(r.signal, SIGTERM) << r.Describe();
  EXPECT_EQ(r.stdout_text, "out\nerr\n");
  EXPECT_EQ(r.stderr_text, "out\nerr\n");  // one file: both streams, as written
  const ProcessResult& chatty = StopServer("chatty");
  EXPECT_EQ(chatty.stdout_text.size(), 64u * 1024);
  EXPECT_TRUE(chatty.stdout_text.ends_with("xxx\nend\n"));
  EXPECT_EQ(chatty.stderr_text, chatty.stdout_text);
  EXPECT_EQ(scenario().Ended("chatty").stdout_text, chatty.stdout_text);
}

}  // namespace
}  // namespace nstest
