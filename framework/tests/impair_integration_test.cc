#include <arpa/inet.h>

#include <atomic>
#include <thread>

#include "nstest/capture.h"
#include "nstest/error.h"
#include "nstest/impair.h"
#include "nstest/peer.h"
#include "nstest/sockdiag.h"
#include "nstest/synsource.h"
#include "nstest/topology.h"
#include "nstest/wait.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using namespace std::chrono_literals;
using testing_support::kTimeout;
using testing_support::NamespaceTest;

class ImpairTest : public NamespaceTest {
 protected:
  void SetUp() override {
    NamespaceTest::SetUp();
    if (IsSkipped()) return;
    if (!CachedPreflight().Has(Feature::kNftables)) {
      GTEST_SKIP() << CachedPreflight().MissingReason(Feature::kNftables);
    }
    t_.emplace(PairTopology::Create());
    ListenerOptions lo;
    lo.address = t_->server_v4();
    lo.port = 8080;
    lo.backlog = 8;
    listener_.emplace(t_->server(), lo);
  }
  Connections ConnectN(int n) {
    ConnectOptions o;
    o.address = t_->server_v4();
    o.port = 8080;
    o.count = n;
    return Connect(t_->client(), o);
  }
  void TearDown() override {
    listener_.reset();
    t_.reset();
  }
  std::optional<PairTopology> t_;
  std::optional<Listener> listener_;
};

TEST_F(ImpairTest, DroppedHandshakeAcksLeaveRequestsInSynRecv) {
  PacketFilter filter(t_->client());
  filter.Drop(TcpMatch::HandshakeAck(8080));
  EXPECT_NE(filter.Ruleset().find("tcp dport 8080"), std::string::npos) << filter.Ruleset();
  Connections c = ConnectN(2);
  EXPECT_EQ(c.Count(ConnectResult::kEstablished), 2);  // the client saw the SYN-ACK
  SockDiag diag(t_->server());
  WaitUntil("2 requests", kTimeout, [&] { return diag.Listener(8080).syn_recv == 2; });
  EXPECT_EQ(diag.Listener(8080).accept_queue, 0u);
}

TEST_F(ImpairTest, RemovedRuleStopsDropping) {
  PacketFilter filter(t_->client());
  int rule = filter.Drop(TcpMatch::HandshakeAck(8080));
  filter.RemoveRule(rule);
  Connections c = ConnectN(1);
  SockDiag diag(t_->server());
  WaitUntil("1 queued", kTimeout, [&] { return diag.Listener(8080).accept_queue == 1; });
}

TEST_F(ImpairTest, HeldPacketsWaitUntilReleased) {
  if (!CachedPreflight().Has(Feature::kNfqueue)) {
    GTEST_SKIP() << CachedPreflight().MissingReason(Feature::kNfqueue);
  }
  PacketFilter filter(t_->client());
  PacketHold hold(filter, TcpMatch::HandshakeAck(8080), 3);
  Connections c = ConnectN(3);
  hold.WaitHeld(3, kTimeout);
  EXPECT_EQ(hold.seen(), 3u);
  SockDiag diag(t_->server());
  EXPECT_EQ(diag.Listener(8080).syn_recv, 3u);
  EXPECT_EQ(hold.Release(2), 2u);
  WaitUntil("2 queued", kTimeout, [&] { return diag.Listener(8080).accept_queue == 2; });
  EXPECT_EQ(hold.held(), 1u);
  EXPECT_EQ(hold.DropHeld(), 1u);
  EXPECT_EQ(diag.Listener(8080).syn_recv, 1u);  // its ACK is gone; the request waits on
}

TEST_F(ImpairTest, RulesExistOnlyInTheirNamespace) {
  PacketFilter filter(t_->client());
  filter.Drop(TcpMatch::HandshakeAck(8080));
  PacketFilter other(t_->server());
  EXPECT_EQ(other.Ruleset().find("dport 8080"), std::string::npos);
}

// netem exists only on some kernels (not on the development machine's): probed, else skipped.
TEST_F(ImpairTest, NetemDelaysTheHandshake) {
  if (!CachedPreflight().Has(Feature::kNetem)) {
    GTEST_SKIP() << CachedPreflight().MissingReason(Feature::kNetem);
  }
  NetemOptions o;
  o.delay = 100ms;
  SetNetem(t_->server(), "eth0", o);
  Connections c = ConnectN(1);
  ASSERT_EQ(c.Count(ConnectResult::kEstablished), 1);
  EXPECT_GE(c.results()[0].milliseconds(), 100.0);  // the SYN-ACK waited in netem
  ClearNetem(t_->server(), "eth0");
}

TEST_F(ImpairTest, NetemRejectsAbsurdOptions) {
  NetemOptions o;
  o.loss_percent = 150;
  EXPECT_THROW(SetNetem(t_->server(), "eth0", o), Error);
  o.loss_percent = 0;
  o.delay = std::chrono::hours(1);
  EXPECT_THROW(SetNetem(t_->server(), "eth0", o), Error);
}

class CaptureTest : public ImpairTest {};

TEST_F(CaptureTest, SeesTheHandshakeAndWritesAPcap) {
  Capture cap(t_->server(), "eth0", "tcp port 8080");
  Connections c = ConnectN(1);
  uint16_t port = c.results()[0].local_port;
  PacketFilterSpec syn = PacketFilterSpec::SynsTo(8080);
  syn.sport = port;
  PacketFilterSpec synack = PacketFilterSpec::SynAcksFrom(8080);
  synack.dport = port;
  cap.WaitFor(synack, 1, kTimeout);
  EXPECT_EQ(cap.Count(syn), 1u) << cap.Dump();
  std::string path = ::testing::TempDir() + "/nstest-capture-test.pcap";
  cap.WritePcap(path);
  FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  uint32_t magic = 0;
  ASSERT_EQ(std::fread(&magic, sizeof magic, 1, f), 1u);
  std::fclose(f);
  std::remove(path.c_str());
  EXPECT_EQ(magic, 0xa1b23c4du);  // pcap with nanosecond timestamps
}

// Regression: the capture thread took its ticket before emptying the wake counter, so a Sync()
// from a second thread in between could wait for a pass that never came (on a quiet interface).
TEST_F(CaptureTest, ConcurrentSyncsAllReturn) {
  Capture capture(t_->server(), "eth0", "tcp port 9");
  std::atomic<int> timeouts{0};
  for (int round = 0; round < 300; ++round) {
    std::thread other([&] {
      try {
        capture.Sync(std::chrono::seconds(2));
      } catch (const TimeoutError&) {
        ++timeouts;
      }
    });
    EXPECT_NO_THROW(capture.Sync(std::chrono::seconds(2))) << "round " << round;
    other.join();
  }
  EXPECT_EQ(timeouts.load(), 0);
}

// Regression: `received` was libpcap's ps_recv, which also counts what the socket took in before
// the filter was attached (libpcap then drops those itself). With other traffic on the interface
// a capture of nothing reported packets received. And `dropped` was ps_drop, which also counts
// the packets that found the ring full before the filter was attached: a small ring fills then.
TEST_F(CaptureTest, ReceivedCountsOnlyPacketsThatPassTheFilter) {
  Fd udp = t_->client().Socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_TRUE(udp.valid());
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  ASSERT_EQ(::inet_pton(AF_INET, t_->server_v4().ToString().c_str(), &to.sin_addr), 1);
  std::atomic<bool> done{false};
  std::thread flood([&] {
    while (!done) {
      (void)::sendto(udp.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
  });
  uint64_t received = 0;
  uint64_t dropped = 0;
  for (int round = 0; round < 40; ++round) {
    // Half the rounds with the smallest ring libpcap makes, which the flood fills at once.
    Capture capture(
        t_->server(), "eth0",
        CaptureOptions{.filter = "tcp port 5000",
                       .buffer_bytes = round % 2 == 0 ? 4096 : CaptureOptions{}.buffer_bytes});
    CaptureStats stats = capture.Sync();
    received += stats.received;
    dropped += stats.dropped;
  }
  done = true;
  flood.join();
  EXPECT_EQ(received, 0u);
  EXPECT_EQ(dropped, 0u);
}

TEST_F(CaptureTest, BadFilterAndDeviceAreErrors) {
  EXPECT_THROW(Capture(t_->server(), "eth0", "tcp port banana"), Error);
  EXPECT_THROW(Capture(t_->server(), "nosuch0", ""), Error);
}

class SynSourceTest : public ImpairTest {};

TEST_F(SynSourceTest, UnansweredSynsFillTheSynQueueWithoutResets) {
  PrepareSpoofedSource(t_->server(), t_->client(), t_->client_v4());
  Capture cap(t_->server(), "eth0", "tcp port 8080");
  SynOptions o;
  o.destination = t_->server_v4();
  o.port = 8080;
  o.count = 4;
  o.source_addresses = 4;
  EXPECT_EQ(SendSyns(t_->client(), o), 4);
  SockDiag diag(t_->server());
  WaitUntil("4 requests", kTimeout, [&] { return diag.Listener(8080).syn_recv == 4; });
  cap.WaitFor(PacketFilterSpec::SynAcksFrom(8080), 4, kTimeout);
  EXPECT_EQ(cap.Count(PacketFilterSpec::Rsts()), 0u) << cap.Dump();
  for (const Packet& p : cap.Packets(PacketFilterSpec::SynsTo(8080))) {
    EXPECT_TRUE(DefaultSpoofedRange().address.bytes()[1] == p.src.bytes()[1]) << p.ToString();
  }
}

TEST_F(SynSourceTest, UnansweredSynsOverIPv6FillTheSynQueueWithoutResets) {
  Fd listener = TcpListen(t_->server(), t_->server_v6(), 8081, 8);
  PrepareSpoofedSource(t_->server(), t_->client(), t_->client_v6(), DefaultSpoofedRange6());
  Capture cap(t_->server(), "eth0", "tcp port 8081");
  SynOptions o;
  o.destination = t_->server_v6();
  o.port = 8081;
  o.count = 3;
  EXPECT_EQ(SendSyns(t_->client(), o), 3);
  SockDiag diag(t_->server());
  WaitUntil("3 requests", kTimeout, [&] { return diag.Listener(8081).syn_recv == 3; });
  cap.WaitFor(PacketFilterSpec::SynAcksFrom(8081), 3, kTimeout);
  EXPECT_EQ(cap.Count(PacketFilterSpec::Rsts()), 0u) << cap.Dump();
  for (const Packet& p : cap.Packets(PacketFilterSpec::SynsTo(8081))) {
    EXPECT_EQ(p.src.ToString().rfind("2001:2:0:fffe::", 0), 0u) << p.ToString();
  }
}

TEST_F(SynSourceTest, BadOptionsAreErrors) {
  SynOptions o;
  o.destination = t_->server_v6();
  o.first_source = SpoofedSource(1);  // IPv4 to an IPv6 destination
  o.port = 8080;
  EXPECT_THROW(SendSyns(t_->client(), o), Error);
  o.first_source = IpAddress();
  o.destination = t_->server_v4();
  o.count = 0;
  EXPECT_THROW(SendSyns(t_->client(), o), Error);
}

}  // namespace
}  // namespace nstest
