// What the kernel does when the accept queue is full: a new SYN is dropped (and counted in the
// server only), and a final handshake ACK is either dropped, with the SYN-ACK retransmitted
// tcp_synack_retries times (tcp_abort_on_overflow=0), or answered with a RST (=1).
#include <optional>
#include <string>

#include "tests/seeds/seed_test_support.h"

namespace nstest::seeds {
namespace {

// Parameter: net.ipv4.tcp_syn_linear_timeouts in the client (-1: the kernel's default).
class SynDropTest : public SeedTest, public ::testing::WithParamInterface<int> {};

TEST_P(SynDropTest, EachDroppedSynCountsInTheServerOnlyAndTheClientTimesOut) {
  const bool has_linear = HasSysctl(client(), "net.ipv4.tcp_syn_linear_timeouts");
  if (GetParam() >= 0) {
    if (!has_linear) GTEST_SKIP() << "this kernel has no net.ipv4.tcp_syn_linear_timeouts";
    SetSysctl(client(), "net.ipv4.tcp_syn_linear_timeouts", std::to_string(GetParam()));
  }
  const int retries = static_cast<int>(SysctlNumber(client(), "net.ipv4.tcp_syn_retries"));
  const int linear =
      has_linear ? static_cast<int>(SysctlNumber(client(), "net.ipv4.tcp_syn_linear_timeouts")) : 0;
  const SynSchedule schedule = FailingConnectSchedule(retries, linear);

  constexpr int kBacklog = 1;
  Listen(kPort, kBacklog);
  std::vector<Connections> queued = FillAcceptQueue(kPort, kBacklog + 1);
  Capture& capture = StartCapture(server(), "tcp port 8080");
  ResetCounters();

  Connections c = ConnectToServer(kPort, 1, ConnectMode::kSequential, 60s);
  ASSERT_THAT(c, HasOutcomes(ConnectResult::kTimedOut, 1));
  // Never before the kernel's deadline; after it by at most the timer wheel's slack per firing.
  const auto slack = TimerWheelSlack(1000ms, KernelHz()) * schedule.timer_fires + 200ms;
  EXPECT_GE(c.results()[0].milliseconds(),
            static_cast<double>(schedule.gives_up_after.count()) - 2);
  EXPECT_LE(c.results()[0].milliseconds(),
            static_cast<double>((schedule.gives_up_after + slack).count()));

  PacketFilterSpec client_syns = PacketFilterSpec::SynsTo(kPort);
  client_syns.sport = c.results()[0].local_port;
  capture.WaitFor(client_syns, static_cast<size_t>(schedule.syns), 5s);
  EXPECT_THAT(capture, HasPackets(client_syns, schedule.syns));
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtListenOverflows", schedule.syns));
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtListenDrops", schedule.syns));
  EXPECT_THAT(CounterChanges(client()), CounterIs("TcpExtListenOverflows", 0));
  EXPECT_THAT(CounterChanges(client()), CounterIs("TcpExtListenDrops", 0));
  PacketFilterSpec answers = PacketFilterSpec::SynAcksFrom(kPort);
  answers.dport = c.results()[0].local_port;
  EXPECT_THAT(capture, HasPackets(answers, 0));
}

INSTANTIATE_TEST_SUITE_P(LinearTimeouts, SynDropTest, ::testing::Values(-1, 0, 4),
                         [](const auto& p) {
                           return p.param < 0 ? std::string("KernelDefault")
                                              : "SynLinearTimeouts" + std::to_string(p.param);
                         });

// The final ACK of a connection whose SYN was answered while there was room, arriving when the
// accept queue is full. To get there, the client's ACKs of kHeld connections are held back in the
// client, the queue is filled by other connections, then the ACKs are released. kHeld stays below
// the backlog: a SYN queue at the backlog would answer with SYN cookies instead.
constexpr int kBacklog = 2;
constexpr int kHeld = 2;

class AbortOnOverflowTest : public SeedTest {
 protected:
  void SetUp() override {
    SeedTest::SetUp();
    if (IsSkipped()) return;
    NSTEST_REQUIRE_FEATURE(Feature::kNftables);
    NSTEST_REQUIRE_FEATURE(Feature::kNfqueue);
  }

  // Listens with kBacklog, opens kHeld connections whose final ACKs are held in the client, fills
  // the accept queue with other connections, and resets the counters: releasing the hold then
  // delivers kHeld final ACKs to a full accept queue.
  void HoldAcksThenFillTheQueue() {
    Listen(kPort, kBacklog);
    capture_ = &StartCapture(server(), "tcp port 8080");
    hold_.emplace(Filter(client()), HeldAcks(kPort, kHeld));
    held_ = ConnectHeld(*hold_, kPort, kHeld);
    queued_ = FillAcceptQueue(kPort, kBacklog + 1);
    ResetCounters();
  }

  void TearDown() override {
    hold_.reset();
    SeedTest::TearDown();
  }

  Capture* capture_ = nullptr;
  std::optional<PacketHold> hold_;
  Connections held_;
  std::vector<Connections> queued_;
};

TEST_F(AbortOnOverflowTest, OneAnswersTheFinalAckWithRstAndTheClientReadFails) {
  SetSysctl(server(), "net.ipv4.tcp_abort_on_overflow", "1");
  HoldAcksThenFillTheQueue();
  hold_->StopHolding();
  hold_->Release();
  for (size_t i = 0; i < static_cast<size_t>(kHeld); ++i) {
    EXPECT_EQ(WaitForSocketError(held_.socket(i), 5s), ECONNRESET)
        << "connection from port " << held_.results()[i].local_port;
  }
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtListenOverflows", kHeld));
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpOutRsts", kHeld));
  PacketFilterSpec rsts = PacketFilterSpec::Rsts();
  rsts.sport = kPort;
  capture_->WaitFor(rsts, kHeld, 5s);
  EXPECT_THAT(*capture_, HasPackets(rsts, kHeld));
  EXPECT_THAT(ServerListener(kPort), SynRecvIs(0));
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(kBacklog + 1));
}

class SynAckRetriesTest : public AbortOnOverflowTest, public ::testing::WithParamInterface<int> {};

TEST_P(SynAckRetriesTest, ZeroDropsTheAckAndRetransmitsTheSynAckWithBackoffThenForgets) {
  const int retries = GetParam();
  SetSysctl(server(), "net.ipv4.tcp_abort_on_overflow", "0");
  SetSysctl(server(), "net.ipv4.tcp_synack_retries", std::to_string(retries));
  HoldAcksThenFillTheQueue();
  hold_->StopHolding();
  hold_->Release();

  // The request lives through the initial timeout and each doubled one: 1 s, 2 s, 4 s, ...
  // (TCP_TIMEOUT_INIT), plus the timer wheel's slack for each.
  std::chrono::milliseconds lifetime{0};
  for (int i = 0; i <= retries; ++i) {
    auto timeout = std::chrono::milliseconds(1000 << i);
    lifetime += timeout + TimerWheelSlack(timeout, KernelHz());
  }
  SockDiag diag(server());
  WaitUntil(
      "the request sockets to expire", lifetime + 2s,
      [&] { return diag.Listener(kPort).syn_recv == 0; },
      [&] { return diag.Listener(kPort).ToString(); });

  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtTCPSynRetrans", kHeld * retries));
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpOutRsts", 0));
  for (size_t i = 0; i < static_cast<size_t>(kHeld); ++i) {
    PacketFilterSpec synacks = PacketFilterSpec::SynAcksFrom(kPort);
    synacks.dport = held_.results()[i].local_port;
    EXPECT_THAT(*capture_, HasPackets(synacks, 1 + retries));
    std::vector<double> gaps = capture_->IntervalsMs(synacks);
    for (size_t k = 0; k < gaps.size(); ++k) {
      auto expected = std::chrono::milliseconds(1000 << k);
      // A timer counts whole jiffies from the one it was armed in, so it can fire up to a jiffy
      // before the time asked for (4 ms at HZ=250); the first SYN-ACK leaves just after the timer
      // is armed (1 ms more). Late by at most the timer wheel's granularity, plus scheduling.
      double jiffy = 1000.0 / KernelHz();
      double low = static_cast<double>(expected.count()) - jiffy - 1.0;
      double high =
          static_cast<double>((expected + TimerWheelSlack(expected, KernelHz())).count()) + 100.0;
      EXPECT_GE(gaps[k], low) << "retransmission " << k + 1 << " to port " << *synacks.dport;
      EXPECT_LE(gaps[k], high) << "retransmission " << k + 1 << " to port " << *synacks.dport;
    }
    // The client was never told: to it the connection looks established.
    EXPECT_EQ(WaitForSocketError(held_.socket(i), 0ms), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Retries, SynAckRetriesTest, ::testing::Values(1, 2),
                         [](const auto& p) { return "SynAckRetries" + std::to_string(p.param); });

// When every SYN arrives before any ACK, the SYN queue fills and the surplus SYNs are answered
// with SYN cookies. Measured here: like the accept queue, the SYN queue holds backlog+1 requests
// before it counts as full. A cookie ACK that meets a full accept queue takes the cookie path
// (tcp_get_cookie_sock), which never consults tcp_abort_on_overflow: no RST, only the counter.
TEST_F(AbortOnOverflowTest, CookieAcksMeetingAFullQueueGetNoRstEvenWithAbortOnOverflow) {
  SetSysctl(server(), "net.ipv4.tcp_abort_on_overflow", "1");
  SetSysctl(server(), "net.ipv4.tcp_syncookies", "1");
  constexpr int kRequests = kBacklog + 1;
  constexpr int kCookies = 3;
  constexpr int kConnections = kRequests + kCookies;
  Listen(kPort, kBacklog);
  PacketHold hold(Filter(client()), HeldAcks(kPort, kConnections));
  Connections c = ConnectHeld(hold, kPort, kConnections);
  EXPECT_THAT(ServerListener(kPort), SynRecvIs(kRequests));
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtSyncookiesSent", kCookies));
  ResetCounters();

  // Released in order: the requests' ACKs fill the accept queue (backlog+1), then every cookie
  // ACK meets a full queue.
  hold.Release();
  WaitForAcceptQueue(kPort, kBacklog + 1);
  WaitForCounter(server(), "TcpExtListenOverflows", kCookies);
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtSyncookiesRecv", kCookies));
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpOutRsts", 0));
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(kBacklog + 1));
  for (size_t i = kRequests; i < static_cast<size_t>(kConnections); ++i) {
    EXPECT_EQ(WaitForSocketError(c.socket(i), 300ms), 0) << "connection " << i << " was reset";
  }
}

}  // namespace
}  // namespace nstest::seeds
