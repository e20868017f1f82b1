#include <barrier>
#include <thread>

#include "nstest/counters.h"
#include "nstest/error.h"
#include "nstest/tcp.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using testing_support::AcceptOne;
using testing_support::kTimeout;
using testing_support::NamespaceTest;

class CountersTest : public NamespaceTest {};

// Makes `n` loopback connections inside `ns`.
void Connect(const Netns& ns, int n) {
  IpAddress lo = IpAddress::Parse("127.0.0.1");
  Fd listener = TcpListen(ns, lo, 9000, n);
  for (int i = 0; i < n; ++i) {
    Fd c = TcpConnectStart(ns, lo, 9000);
    ASSERT_EQ(TcpConnectWait(c, kTimeout), ConnectResult::kEstablished);
    AcceptOne(listener);
  }
}

TEST_F(CountersTest, DeltaCountsOnlyThisNamespace) {
  Netns a = Netns::Create("a");
  Netns b = Netns::Create("b");
  Counters a0 = Counters::Read(a);
  Counters b0 = Counters::Read(b);
  Connect(a, 3);
  EXPECT_EQ(Counters::Read(a).Since(a0).Get("TcpActiveOpens"), 3);
  EXPECT_EQ(Counters::Read(a).Since(a0).Get("TcpPassiveOpens"), 3);
  EXPECT_EQ(Counters::Read(b).Since(b0).Get("TcpActiveOpens"), 0);
}

// Two threads, each in its own namespace, read counters at the same time while the other makes
// connections. Reading /proc/self/net would give both threads the main thread's namespace.
TEST_F(CountersTest, TwoThreadsObserveTwoNamespacesAtOnce) {
  Netns a = Netns::Create("a");
  Netns b = Netns::Create("b");
  constexpr int kRounds = 5;
  std::barrier sync(2);
  int64_t seen_a = 0;
  int64_t seen_b = 0;
  auto worker = [&](const Netns& ns, int per_round, int64_t* seen) {
    Counters start = Counters::Read(ns);
    for (int r = 0; r < kRounds; ++r) {
      sync.arrive_and_wait();
      Connect(ns, per_round);
      sync.arrive_and_wait();
      *seen = Counters::Read(ns).Since(start).Get("TcpActiveOpens");
    }
  };
  std::thread ta(worker, std::cref(a), 2, &seen_a);
  std::thread tb(worker, std::cref(b), 5, &seen_b);
  ta.join();
  tb.join();
  EXPECT_EQ(seen_a, 2 * kRounds);
  EXPECT_EQ(seen_b, 5 * kRounds);
}

TEST_F(CountersTest, UnknownCounterSuggestsTheNstatName) {
  Netns ns = Netns::Create("server");
  Counters c = Counters::Read(ns);
  EXPECT_TRUE(c.Has("TcpExtListenOverflows"));
  EXPECT_TRUE(c.Has("TcpExtTCPReqQFullDrop"));
  EXPECT_TRUE(c.Has("Ip6InReceives"));
  try {
    c.Get("ListenOverflows");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "read counter 'ListenOverflows' in netns 'server': no such counter; did you mean "
                 "'TcpExtListenOverflows'?");
  }
}

}  // namespace
}  // namespace nstest
