#include <fmt/format.h>
#include <gmock/gmock.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "nstest/error.h"
#include "nstest/peer.h"
#include "nstest/sockdiag.h"
#include "nstest/sysctl.h"
#include "nstest/topology.h"
#include "nstest/wait.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using namespace std::chrono_literals;
using testing_support::kTimeout;
using testing_support::NamespaceTest;

class PeerTest : public NamespaceTest {
 protected:
  void SetUp() override {
    NamespaceTest::SetUp();
    if (IsSkipped()) return;
    t_.emplace(PairTopology::Create());
  }
  ListenerOptions At(int backlog, AcceptPolicy policy, int limit = 0) {
    ListenerOptions o;
    o.address = t_->server_v4();
    o.backlog = backlog;
    o.accept = policy;
    o.accept_limit = limit;
    return o;
  }
  ConnectOptions To(const Listener& l, int count) {
    ConnectOptions o;
    o.address = t_->server_v4();
    o.port = l.port();
    o.count = count;
    return o;
  }
  std::optional<PairTopology> t_;
};

TEST_F(PeerTest, AcceptAllTakesEveryConnection) {
  Listener l(t_->server(), At(8, AcceptPolicy::kAll));
  EXPECT_NE(l.port(), 0);
  Connections c = Connect(t_->client(), To(l, 5));
  EXPECT_EQ(c.Count(ConnectResult::kEstablished), 5) << c.Summary();
  WaitUntil("5 accepted", kTimeout, [&] { return l.accepted_count() == 5; });
  for (const AcceptedConnection& a : l.accepted()) EXPECT_EQ(a.peer, t_->client_v4());
}

TEST_F(PeerTest, AcceptFirstNLeavesTheRestQueued) {
  Listener l(t_->server(), At(8, AcceptPolicy::kFirstN, 2));
  Connections c = Connect(t_->client(), To(l, 4));
  EXPECT_EQ(c.Count(ConnectResult::kEstablished), 4);
  SockDiag diag(t_->server());
  WaitUntil("2 accepted and 2 queued", kTimeout,
            [&] { return l.accepted_count() == 2 && diag.Listener(l.port()).accept_queue == 2; });
}

TEST_F(PeerTest, AcceptOnDemandAndNever) {
  Listener on_demand(t_->server(), At(8, AcceptPolicy::kOnDemand));
  Connections c = Connect(t_->client(), To(on_demand, 3));
  EXPECT_EQ(on_demand.Accept(2, kTimeout), 2);
  EXPECT_EQ(on_demand.Accept(5, 100ms), 1);  // only one left
  Listener never(t_->server(), At(8, AcceptPolicy::kNever));
  try {
    never.Accept(1, 0ms);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              fmt::format("accept on port {} in netns 'server': the listener's accept policy is "
                          "'never', not 'on-demand'",
                          never.port()));
  }
  EXPECT_THROW(Listener(t_->server(), At(8, AcceptPolicy::kFirstN, 0)), Error);
}

TEST_F(PeerTest, SendsAndReads) {
  Listener l(t_->server(), At(8, AcceptPolicy::kAll));
  ConnectOptions o = To(l, 1);
  o.send = "hello";
  Connections c = Connect(t_->client(), o);
  ASSERT_EQ(c.Count(ConnectResult::kEstablished), 1);
  WaitUntil("the data", kTimeout, [&] { return l.accepted_count() == 1; });
  std::string got;
  WaitUntil("the data", kTimeout, [&] { return (got += l.ReadFrom(0)) == "hello"; });
}

TEST_F(PeerTest, SendAfterThePeerResetIsAReset) {
  std::optional<Listener> l(std::in_place, t_->server(), At(4, AcceptPolicy::kNever));
  Connections c = Connect(t_->client(), To(*l, 2));
  ASSERT_EQ(c.Count(ConnectResult::kEstablished), 2) << c.Summary();
  EXPECT_EQ(c.Send("hello"), 2);  // queued in the server's unaccepted sockets
  EXPECT_EQ(c.Count(ConnectResult::kEstablished), 2) << c.Summary();
  // Closing the listener resets the connections still in its accept queue (they have unread data).
  l.reset();
  for (size_t i = 0; i < 2; ++i) {
    pollfd p{c.socket(i).get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no RST for connection " << i;
  }
  EXPECT_EQ(c.Send("again"), 0);
  EXPECT_EQ(c.Count(ConnectResult::kReset), 2) << c.Summary();
  for (const ConnectionResult& r : c.results()) EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(c.Send("and again"), 0) << "a reset connection is not written again";
}

// A connection established and reset later counts as reset, and its time runs to the reset
// (it used to stay the handshake's, 0.0 ms for a connection reset 300 ms later).
TEST_F(PeerTest, ResetConnectionsTimeRunsToTheReset) {
  std::optional<Listener> l(std::in_place, t_->server(), At(4, AcceptPolicy::kNever));
  Connections c = Connect(t_->client(), To(*l, 1));
  ASSERT_EQ(c.Count(ConnectResult::kEstablished), 1) << c.Summary();
  EXPECT_LT(c.results()[0].milliseconds(), 250.0);
  EXPECT_EQ(c.Send("hello"), 1);
  ::usleep(300 * 1000);
  l.reset();  // resets the unaccepted connection, which holds unread data
  WaitUntil(
      "the reset", kTimeout,
      [&] {
        c.Update();
        return c.Count(ConnectResult::kReset) == 1;
      },
      [&] { return c.Summary(); });
  EXPECT_GE(c.results()[0].milliseconds(), 300.0) << c.Summary();
}

TEST_F(PeerTest, RefusedWhenNothingListens) {
  ConnectOptions o;
  o.address = t_->server_v4();
  o.port = 9;
  o.count = 2;
  Connections c = Connect(t_->client(), o);
  EXPECT_EQ(c.Count(ConnectResult::kRefused), 2) << c.Summary();
  EXPECT_EQ(c.Summary(), "2 connections: 2 refused");
}

TEST_F(PeerTest, BurstStartsEveryConnectFirst) {
  Listener l(t_->server(), At(64, AcceptPolicy::kNever));
  ConnectOptions o = To(l, 20);
  o.mode = ConnectMode::kBurst;
  Connections c = Connect(t_->client(), o);
  EXPECT_EQ(c.Count(ConnectResult::kEstablished), 20) << c.Summary();
  for (const ConnectionResult& r : c.results()) EXPECT_NE(r.local_port, 0);
}

TEST_F(PeerTest, DeadlineReportsPendingAndSourcePortsAreUsed) {
  Listener l(t_->server(), At(0, AcceptPolicy::kNever));
  ConnectOptions o = To(l, 2);
  o.source_port = 42000;
  o.deadline = 200ms;
  Connections c = Connect(t_->client(), o);
  // backlog 0 takes one connection; the second SYN is dropped.
  EXPECT_EQ(c.results()[0].outcome, ConnectResult::kEstablished);
  EXPECT_EQ(c.results()[1].outcome, ConnectResult::kPending);
  EXPECT_EQ(c.results()[0].local_port, 42000);
  EXPECT_EQ(c.results()[1].local_port, 42001);
  EXPECT_GE(c.results()[1].milliseconds(), 190.0);
}

// A connect pending at its deadline goes on in the kernel; Update() sees its final outcome: here
// the retransmitted SYN (1 s) meets a closed port and is refused.
TEST_F(PeerTest, PendingConnectGetsItsFinalOutcomeLater) {
  auto l = std::make_unique<Listener>(t_->server(), At(0, AcceptPolicy::kNever));
  ConnectOptions o = To(*l, 2);
  o.deadline = 200ms;
  Connections c = Connect(t_->client(), o);
  ASSERT_EQ(c.results()[1].outcome, ConnectResult::kPending) << c.Summary();
  EXPECT_EQ(c.Unsettled(), 1);
  l.reset();  // the queued connection is reset, the next SYN is refused
  WaitUntil(
      "the pending connect's outcome", 5s,
      [&] {
        c.Update();
        return c.Unsettled() == 0 && c.Count(ConnectResult::kReset) == 1;
      },
      [&] { return c.Summary(); });
  EXPECT_EQ(c.results()[1].outcome, ConnectResult::kRefused) << c.Summary();
  EXPECT_GE(c.results()[1].milliseconds(), 900.0);
  EXPECT_EQ(c.results()[0].outcome, ConnectResult::kReset) << c.Summary();
  EXPECT_EQ(c.Update(), 0);
}

// Sockets of a SO_REUSEPORT group are told apart by index; asking for "the" listener lists them.
TEST_F(PeerTest, ReuseportGroupMembersAreSelectedByIndexAndSummed) {
  ListenerOptions lo = At(2, AcceptPolicy::kNever);
  lo.reuseport = true;
  Listener a(t_->server(), lo);
  lo.port = a.port();
  lo.backlog = 3;
  Listener b(t_->server(), lo);
  SockDiag diag(t_->server());
  std::vector<ListenerQueues> all = diag.Listeners(a.port());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].group, 2u);
  EXPECT_EQ(all[0].index + all[1].index, 1u);
  try {
    diag.Listener(a.port());
    FAIL() << "two listeners, none selected";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("2 listening sockets ("));
    EXPECT_THAT(e.what(), ::testing::HasSubstr(", SO_REUSEPORT 1 of 2"));
    EXPECT_THAT(e.what(), ::testing::EndsWith("and by index within a SO_REUSEPORT group"));
  }
  ListenerQueues one = diag.Listener(a.port(), {.index = all[0].index});
  EXPECT_EQ(one.inode, all[0].inode);
  EXPECT_TRUE(one.inode == a.inode() || one.inode == b.inode());
  EXPECT_EQ(SumListeners(all).max_accept_queue, 5u);
  EXPECT_THROW(diag.Listener(a.port(), {.family = Family::kIPv6}), Error);
}

TEST_F(PeerTest, BadOptionsAreErrors) {
  ConnectOptions o;
  o.address = t_->server_v4();
  o.port = 80;
  o.count = 0;
  try {
    Connect(t_->client(), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "connect to 198.18.0.1:80 from netns 'client': count must be 1-100000, not 0");
  }
  o.count = 10;
  o.source_port = 65530;
  EXPECT_THROW(Connect(t_->client(), o), Error);
}

// Lowers this process's soft RLIMIT_NOFILE for one test and restores it.
class FileLimit {
 public:
  explicit FileLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit r = saved_;
    r.rlim_cur = soft;
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &r), 0);
  }
  ~FileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  FileLimit(const FileLimit&) = delete;
  FileLimit& operator=(const FileLimit&) = delete;

  // The number the next descriptor would get: with the limit there, none can be opened.
  static rlim_t LowestFree() {
    int probe = ::dup(0);
    ::close(probe);
    return static_cast<rlim_t>(probe);
  }

 private:
  rlimit saved_{};
};

TEST_F(PeerTest, ConnectRefusesMoreConnectionsThanDescriptors) {
  Listener l(t_->server(), At(8, AcceptPolicy::kNever));
  FileLimit limit(FileLimit::LowestFree() + 100);
  try {
    Connect(t_->client(), To(l, 1000));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(
                              "1000 connections need 1000 descriptors, but this process may open "
                              "only "));
    EXPECT_THAT(e.what(),
                ::testing::HasSubstr(
                    " more (RLIMIT_NOFILE); lower the count or raise the limit (ulimit -n)"));
  }
}

TEST_F(PeerTest, AcceptorOutOfDescriptorsStopsAndSaysWhy) {
  Listener l(t_->server(), At(8, AcceptPolicy::kAll));
  // The acceptor is running (and has done its first accept) before descriptors run out.
  Connections first = Connect(t_->client(), To(l, 1));
  WaitUntil("the first connection accepted", kTimeout, [&] { return l.accepted_count() == 1; });
  std::vector<Fd> sockets;
  {
    NetnsGuard in(t_->client());
    for (int i = 0; i < 3; ++i)
      sockets.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  sockaddr_storage to{};
  socklen_t len = t_->server_v4().ToSockaddr(l.port(), &to);
  {
    // connect() needs no new descriptor; the acceptor's accept4() does, and gets EMFILE.
    FileLimit limit(FileLimit::LowestFree());
    for (const Fd& s : sockets) {
      EXPECT_EQ(::connect(s.get(), reinterpret_cast<sockaddr*>(&to), len), 0)
          << std::strerror(errno);
    }
    WaitUntil("the acceptor to stop", kTimeout, [&] { return !l.error().empty(); });
  }
  EXPECT_EQ(l.error(), "accepting stopped after 1 connections: Too many open files");
  EXPECT_EQ(l.accepted_count(), 1u);
}

}  // namespace
}  // namespace nstest
