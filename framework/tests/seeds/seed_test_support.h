// The fixture shared by the seed behaviour tests.
#ifndef NSTEST_TESTS_SEEDS_SEED_TEST_SUPPORT_H_
#define NSTEST_TESTS_SEEDS_SEED_TEST_SUPPORT_H_

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "nstest/error.h"
#include "nstest/gtest.h"
#include "nstest/process.h"
#include "nstest/wait.h"

namespace nstest::seeds {

using namespace std::chrono_literals;

inline constexpr uint16_t kPort = 8080;
inline constexpr uint16_t kHeldPorts = 41000;  // source ports of connections whose ACKs are held

class SeedTest : public NetnsTest {
 protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped()) return;
    // A dropped SYN must fail the client in seconds, not the default two minutes.
    SetSysctl(client(), "net.ipv4.tcp_syn_retries", "1");
    // Ephemeral ports stay clear of kHeldPorts: a connection that happened to get one would have
    // its ACK held too (seen once in a few thousand runs).
    SetSysctl(client(), "net.ipv4.ip_local_port_range", "42000 60999");
  }

  // Opens `n` connections one at a time, each awaited in the server's accept queue before the
  // next SYN leaves, so no SYN meets a queue that is still about to grow.
  std::vector<Connections> FillAcceptQueue(uint16_t port, int n) {
    std::vector<Connections> out;
    uint32_t queued = ServerListener(port).accept_queue;
    for (int i = 0; i < n; ++i) {
      out.push_back(ConnectToServer(port, 1));
      EXPECT_THAT(out.back(), HasOutcomes(ConnectResult::kEstablished, 1));
      WaitForAcceptQueue(port, ++queued);
    }
    return out;
  }

  // One connection whose SYN the server is expected to drop: still pending after `wait`.
  Connections ConnectExpectingDrop(uint16_t port, std::chrono::milliseconds wait = 300ms) {
    return ConnectToServer(port, 1, ConnectMode::kSequential, wait);
  }

  // Connections from kHeldPorts on whose handshake-completing ACKs are held in the client.
  Connections ConnectHeld(PacketHold& hold, uint16_t port, int n) {
    ConnectOptions o;
    o.port = port;
    o.count = n;
    o.source_port = kHeldPorts;
    Connections c = Connect(o);
    EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, n)) << "the client sees SYN-ACKs";
    hold.WaitHeld(static_cast<size_t>(n), 5s);
    return c;
  }

  static TcpMatch HeldAcks(uint16_t port, int n) {
    TcpMatch m = TcpMatch::HandshakeAck(port);
    m.sport_min = kHeldPorts;
    m.sport_max = static_cast<uint16_t>(kHeldPorts + n - 1);
    return m;
  }
};

// How many SYNs a connect that is never answered sends before it fails with ETIMEDOUT, and when
// it fails. The kernel gives a SYN_SENT socket the time an exponential backoff from 1 s would take
// for tcp_syn_retries retransmissions, (2^(retries+1) - 1) s (tcp_model_timeout()), and checks it
// each time the retransmission timer fires; the first tcp_syn_linear_timeouts retransmissions keep
// the 1 s timeout instead of doubling it (tcp_retransmit_timer()), so more SYNs fit in that time.
struct SynSchedule {
  int syns = 1;
  std::chrono::milliseconds gives_up_after{0};
  int timer_fires = 0;
};
inline SynSchedule FailingConnectSchedule(int retries, int linear_timeouts) {
  const auto budget = std::chrono::milliseconds(((2 << retries) - 1) * 1000);
  SynSchedule s;
  std::chrono::milliseconds t{0};
  std::chrono::milliseconds rto{1000};
  int retransmissions = 0;
  for (;;) {
    t += rto;
    ++s.timer_fires;
    if (retransmissions > 0 && t >= budget) break;
    ++s.syns;
    ++retransmissions;
    if (retransmissions > linear_timeouts)
      rto = std::min(rto * 2, std::chrono::milliseconds(120000));
  }
  s.gives_up_after = t;
  return s;
}

// Whether `key` exists in `ns` (newer kernels add keys, e.g. tcp_syn_linear_timeouts in 6.5).
inline bool HasSysctl(const Netns& ns, const std::string& key) {
  return FindSysctl(ns, key).has_value();
}

// Waits up to `timeout` for an established socket to fail and returns recv()'s errno
// (ECONNRESET after a RST), or 0 if it is still healthy then.
inline int WaitForSocketError(const Fd& fd, std::chrono::milliseconds timeout) {
  int err = 0;
  try {
    WaitUntil("a socket error", timeout, [&] {
      char b;
      ssize_t n = ::recv(fd.get(), &b, 1, MSG_DONTWAIT | MSG_PEEK);
      if (n < 0 && errno != EAGAIN) err = errno;
      return n == 0 || err != 0;
    });
  } catch (const TimeoutError&) {
    // Nothing arrived: the connection looks established to the client.
  }
  return err;
}

}  // namespace nstest::seeds

#endif  // NSTEST_TESTS_SEEDS_SEED_TEST_SUPPORT_H_
