// The SYN queue: SYNs whose handshakes never complete (sent from addresses nobody answers for)
// fill it; when it is full, tcp_syncookies decides between dropping and answering with a cookie.
#include <fmt/format.h>

#include <string>

#include "nstest/synsource.h"
#include "tests/seeds/seed_test_support.h"

namespace nstest::seeds {
namespace {

class SynQueueTest : public SeedTest {
 protected:
  void SetUp() override {
    SeedTest::SetUp();
    if (IsSkipped()) return;
    PrepareSpoofedSource(server(), client(), topology().client_v4());
  }

  int SendUnansweredSyns(int n) {
    SynOptions o;
    o.destination = topology().server_v4();
    o.port = kPort;
    o.count = n;
    o.source_addresses = n;  // distinct peers
    return SendSyns(client(), o);
  }

  void WaitForSynRecv(uint32_t n) {
    SockDiag diag(server());
    WaitUntil(
        fmt::format("{} request sockets", n), 5s,
        [&] { return diag.Listener(kPort).syn_recv == n; },
        [&] { return diag.Listener(kPort).ToString(); });
  }
};

// The SYN queue counts as full (inet_csk_reqsk_queue_is_full()) once it holds more requests than
// the listener's backlog: measured, it takes backlog+1, like the accept queue.
class SyncookiesTest : public SynQueueTest, public ::testing::WithParamInterface<int> {};

TEST_P(SyncookiesTest, SynsBeyondTheBacklogAreDroppedOrAnsweredWithCookies) {
  const int syncookies = GetParam();
  constexpr int kBacklog = 4;
  constexpr int kSyns = 2 * kBacklog;
  SetSysctl(server(), "net.ipv4.tcp_syncookies", std::to_string(syncookies));
  Listen(kPort, kBacklog);
  Capture& capture = StartCapture(server(), "tcp port 8080");
  ASSERT_EQ(SendUnansweredSyns(kSyns), kSyns);

  // 0: no cookies, SYNs beyond the backlog are dropped; 1: cookies once the queue is full;
  // 2: cookies for every SYN, no request sockets at all.
  const int queued = syncookies == 2 ? 0 : kBacklog + 1;
  const int cookies = syncookies == 0 ? 0 : kSyns - queued;
  const int dropped = kSyns - queued - cookies;
  capture.WaitFor(PacketFilterSpec::SynAcksFrom(kPort), static_cast<size_t>(queued + cookies), 5s);
  WaitForSynRecv(static_cast<uint32_t>(queued));
  CounterDelta d = CounterChanges(server());
  EXPECT_THAT(d, CounterIs("TcpExtSyncookiesSent", cookies));
  // Counted for every cookie, also when syncookies=2 sends them with room in the queue.
  EXPECT_THAT(d, CounterIs("TcpExtTCPReqQFullDoCookies", cookies));
  EXPECT_THAT(d, CounterIs("TcpExtTCPReqQFullDrop", dropped));
  EXPECT_THAT(d, CounterIs("TcpExtListenDrops", dropped));
  EXPECT_THAT(d, CounterIs("TcpExtListenOverflows", 0));  // the accept queue was never full
  EXPECT_THAT(capture, HasPackets(PacketFilterSpec::SynAcksFrom(kPort), queued + cookies));
  EXPECT_THAT(ServerListener(kPort), AcceptQueueIs(0));
}

INSTANTIATE_TEST_SUITE_P(Modes, SyncookiesTest, ::testing::Values(0, 1, 2),
                         [](const auto& p) { return "Syncookies" + std::to_string(p.param); });

// Without cookies a listener also stops taking unproven peers' SYNs once its SYN queue holds more
// than three quarters of net.ipv4.tcp_max_syn_backlog (tcp_conn_request()), whatever the backlog.
TEST_F(SynQueueTest, MaxSynBacklogLimitsTheQueueWithoutCookies) {
  SetSysctl(server(), "net.ipv4.tcp_syncookies", "0");
  SetSysctl(server(), "net.ipv4.tcp_max_syn_backlog", "16");
  const long max_syn_backlog = SysctlNumber(server(), "net.ipv4.tcp_max_syn_backlog");
  Listen(kPort, 64);
  // A SYN is dropped when max_syn_backlog - queued < max_syn_backlog / 4.
  const long admitted = max_syn_backlog - (max_syn_backlog >> 2) + 1;
  const int syns = static_cast<int>(max_syn_backlog);
  ASSERT_EQ(SendUnansweredSyns(syns), syns);
  WaitForSynRecv(static_cast<uint32_t>(admitted));
  WaitForCounter(server(), "TcpExtListenDrops", syns - admitted);
  CounterDelta d = CounterChanges(server());
  EXPECT_THAT(d, CounterIs("TcpExtListenDrops", syns - admitted));
  EXPECT_THAT(d, CounterIs("TcpExtSyncookiesSent", 0));
  EXPECT_THAT(ServerListener(kPort), SynRecvIs(admitted));
}

// A SYN queue full of unanswered requests does not stop a real client while cookies are on.
TEST_F(SynQueueTest, RealClientGetsThroughAFullSynQueueWithCookies) {
  SetSysctl(server(), "net.ipv4.tcp_syncookies", "1");
  constexpr int kBacklog = 4;
  Listen(kPort, kBacklog);
  constexpr int kFull = kBacklog + 1;
  ASSERT_EQ(SendUnansweredSyns(kFull), kFull);
  WaitForSynRecv(kFull);
  Connections c = ConnectToServer(kPort, 1);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 1));
  WaitForAcceptQueue(kPort, 1);
  EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtSyncookiesRecv", 1));
}

}  // namespace
}  // namespace nstest::seeds
