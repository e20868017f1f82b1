#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <string>
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

// Regression: two threads reading one namespace's counters (a case and its timeline) shared the
// descriptors' read position; a read that went on where its first part ended got the tail of a
// text the other thread had made afresh, with other lengths: "parse snmp6: malformed line".
TEST_F(CountersTest, ThreadsReadingOneNamespaceAtOnceGetWholeTexts) {
  Netns a = Netns::Create("a");
  std::atomic<bool> done{false};
  // Traffic, so that counters change (and their printed lengths) between reads.
  std::thread traffic([&] {
    Fd s = a.Socket(AF_INET6, SOCK_DGRAM, 0);
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    to.sin6_port = htons(9);
    to.sin6_addr = in6addr_loopback;
    while (!done) {
      (void)::sendto(s.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
  });
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex mu;
  auto reader = [&] {
    for (int i = 0; i < 1500; ++i) {
      try {
        (void)Counters::Read(a);
      } catch (const Error& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (failures++ == 0) first_failure = e.what();
      }
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  r1.join();
  r2.join();
  done = true;
  traffic.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
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
