// GoogleTest integration: a fixture with a server and a client namespace, and kernel-aware
// matchers. Link nstest::gtest.
//
//   class ListenTest : public nstest::NetnsTest {};
//   TEST_F(ListenTest, BacklogPlusOne) {
//     nstest::Listener& l = Listen(8080, /*backlog=*/2);
//     nstest::Connections c = ConnectToServer(8080, 3);
//     EXPECT_THAT(c, nstest::HasOutcomes(nstest::ConnectResult::kEstablished, 3));
//     EXPECT_THAT(ServerListener(8080), nstest::AcceptQueueIs(3));
//   }
//
// A failing matcher prints the listener once, as `ss` shows it (gtest adds the type), and the
// check in the words a suite's `expect` step uses (checks.h), e.g.
//   Value of: ServerListener(8080)
//   Expected: Recv-Q (accept queue) is 5
//     Actual: LISTEN 198.18.0.1:8080 Recv-Q 3 Send-Q 2 SYN-RECV 0 (of type nstest::ListenerQueues),
//   Recv-Q (accept queue): expected 5, got 3
// and on any failure the fixture adds the context a kernel engineer needs, as a failed suite case
// shows it: each namespace's effective sysctls, counter changes since SetUp() and listeners, and
// the paths of the pcap files written for its captures.
#ifndef NSTEST_GTEST_H_
#define NSTEST_GTEST_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <source_location>
#include <string>
#include <vector>

#include "nstest/capture.h"
#include "nstest/checks.h"
#include "nstest/counters.h"
#include "nstest/error.h"
#include "nstest/impair.h"
#include "nstest/peer.h"
#include "nstest/preflight.h"
#include "nstest/scenario.h"
#include "nstest/sockdiag.h"
#include "nstest/sysctl.h"
#include "nstest/topology.h"

namespace nstest {

// Skips the current test, with the reason, when the kernel lacks `feature`. Use in a test body or
// SetUp().
#define NSTEST_REQUIRE_FEATURE(feature)                                   \
  do {                                                                    \
    if (!::nstest::CachedPreflight().Has(feature)) {                      \
      GTEST_SKIP() << ::nstest::CachedPreflight().MissingReason(feature); \
    }                                                                     \
  } while (0)

// How NetnsTest::WaitForAcceptQueue() compares a queue's length with the number it waits for.
enum class QueueWait {
  kAtLeast,  // n or more: the queue has filled to n
  kExactly,  // n: what a suite's `wait.accept_queue` waits for (0: the queue has drained)
  kAtMost,   // n or fewer: the queue has drained to n
};

// How NetnsTest::StartServer() runs a server under test.
struct ServerOptions {
  std::map<std::string, std::string> env{};  // on top of the test's environment
  int stop_signal = SIGTERM;                 // what it gets when the test ends
  std::chrono::milliseconds grace{2000};     // then SIGKILL
};

// A test over a Scenario (scenario.h) built in SetUp() and destroyed after the test: by default a
// `server` and a `client` namespace joined by a veth (see PairTopology); override Topology() for
// any topology a suite can have. Skipped, with the reason, where namespaces cannot be made.
// Records the kernel release and every sysctl set through it as test properties (they land in
// gtest's XML).
//
// Order: SetUp() builds the scenario and takes the counter baselines; TearDown() records the
// properties, prints the context on failure (writing the captures), then destroys the scenario:
// holds, captures, listeners and connections first, then the filters, then the namespaces. A
// derived fixture's members are destroyed after that, so peers it owns itself must not outlive
// the test body (reset them in its own TearDown() before calling NetnsTest::TearDown()).
class NetnsTest : public ::testing::Test {
 protected:
  NetnsTest();
  ~NetnsTest() override;

  // Override to change the pair (names, MTU, IPv6, address index).
  virtual PairTopologyOptions TopologyOptions() const { return {}; }
  // Override for another topology, e.g. three namespaces in a row:
  //   ScenarioSpec Topology() const override {
  //     return {.namespaces = {"client", "lb", "server"},
  //             .links = {{.a = "client", .b = "lb"}, {.a = "lb", .b = "server"}}};
  //   }
  // Then server() and client() are the namespaces TopologyOptions() names, if the topology has
  // them (else they throw); ns("lb") reaches any.
  virtual ScenarioSpec Topology() const { return ScenarioSpec::Pair(TopologyOptions()); }

  void SetUp() override;
  void TearDown() override;

  Scenario& scenario() { return *scenario_; }
  Netns& ns(const std::string& name) { return scenario_->ns(name); }
  // The server/client pair; Error if the topology has no link between them.
  PairTopology& topology();
  Netns& server() { return ns(TopologyOptions().server_name); }
  Netns& client() { return ns(TopologyOptions().client_name); }

  // Sets a sysctl in one namespace and records it as the property "sysctl.<netns>.<key>".
  void SetSysctl(Netns& ns, const std::string& key, const std::string& value);
  // The value of a sysctl in `ns` as a number (for expectations derived from it).
  long SysctlNumber(const Netns& ns, const std::string& key) const;

  // A listener in the server namespace on the server's IPv4 address (unless options.address is
  // set), owned by the fixture.
  Listener& Listen(ListenerOptions options);
  // The same in namespace `name`, on its address (that of its first link) unless set.
  Listener& Listen(const std::string& name, ListenerOptions options);
  Listener& Listen(uint16_t port, int backlog, AcceptPolicy accept = AcceptPolicy::kNever,
                   Family family = Family::kIPv4);
  // Connects from the client namespace to the server's IPv4 address, or its IPv6 one.
  Connections ConnectToServer(uint16_t port, int count, ConnectMode mode = ConnectMode::kSequential,
                              std::chrono::milliseconds deadline = std::chrono::seconds(5),
                              Family family = Family::kIPv4);
  Connections Connect(ConnectOptions options);
  // Connects from namespace `from` to options.address (the address of namespace `to` if unset).
  Connections Connect(const std::string& from, const std::string& to, ConnectOptions options);
  // The server's listener on `port`, as `ss -ltn` shows it, plus its SYN-RECV count. Where
  // several listen on the port (IPv4 and IPv6, a SO_REUSEPORT group), `which` picks one by
  // address, family and index in the group (0: the first the test's Listen() made); without it
  // the call throws Error listing every candidate.
  ListenerQueues ServerListener(uint16_t port, const ListenerSelector& which = {});
  // The same for namespace `name`.
  ListenerQueues ListenerIn(const std::string& name, uint16_t port,
                            const ListenerSelector& which = {});
  // Every listener on `port` in namespace `name` (those `which` selects), members of a group in
  // index order.
  std::vector<ListenerQueues> ListenersIn(const std::string& name, uint16_t port,
                                          const ListenerSelector& which = {});
  // Those listeners as one: queues summed, `group` the number of sockets (SumListeners()); the
  // ListenerQueues matchers apply, e.g. EXPECT_THAT(ListenerGroup("server", 8080),
  // AcceptQueueIs(8)) for a SO_REUSEPORT group of 4 with backlog 1.
  ListenerQueues ListenerGroup(const std::string& name, uint16_t port,
                               const ListenerSelector& which = {});
  // The waits return true once their condition holds. When the timeout passes, or the wait
  // cannot go on (an Error: several listeners and no selector, a started server that ended),
  // they record an ordinary (non-fatal) gtest failure at the caller's file and line, saying what
  // was awaited and what was last seen, and return false; ASSERT_TRUE(Wait...(...)) stops the
  // test there:
  //   slowecho_test.cc:42: Failure
  //   wait for accept queue of port 8080 to reach 3: timed out after 5000 ms; last seen:
  //   LISTEN 198.18.0.1:8080 Recv-Q 2 Send-Q 2 SYN-RECV 0
  //
  // Waits until the accept queue (Recv-Q) of the server's listener on `port` holds AT LEAST `n`
  // connections ("to reach 3"). A suite's `wait.accept_queue` waits for exactly `value`: pass
  // QueueWait::kExactly for that.
  bool WaitForAcceptQueue(uint16_t port, uint32_t n,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5),
                          std::source_location where = std::source_location::current());
  // Waits until it holds `n` as `how` compares: kAtLeast ("to reach 3"), kExactly ("to be
  // exactly 0": drained) or kAtMost ("to be at most 1").
  bool WaitForAcceptQueue(uint16_t port, uint32_t n, QueueWait how,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5),
                          std::source_location where = std::source_location::current());
  // The same for the listener `which` selects in `ns`, e.g. {.family = Family::kIPv6} or
  // {.index = 1} in a SO_REUSEPORT group (indices as ListenersIn() gives them); " in netns 'lb'"
  // follows the port in the message for a namespace other than the server's. As a suite's wait:
  // while no listener it selects exists, it goes on waiting ("no listener on port 8080 yet"), but
  // fails at once when a started server has ended, with its exit status and last output
  // ("a started process ended: process 'srv' (...) exited with status 1; its last output: ...");
  // when it selects several (IPv4 and IPv6, a group), it fails at once listing them:
  //   read listener on port 8080 in netns 'server': 2 listening sockets (...); pass a
  //   ListenerSelector (address, family, index within a SO_REUSEPORT group), or take them
  //   together with ListenerGroup()
  // The forms without `which` behave the same with an empty selector.
  bool WaitForAcceptQueue(const Netns& ns, uint16_t port, const ListenerSelector& which, uint32_t n,
                          QueueWait how,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5),
                          std::source_location where = std::source_location::current());
  // Waits until `ns` has exactly `n` TCP sockets in `state` (as `ss -s` would count them).
  bool WaitForSockets(const Netns& ns, TcpState state, int n,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5),
                      std::source_location where = std::source_location::current());
  // Any condition, as nstest::WaitUntil() (wait.h) polls it, with its timeout recorded as a
  // failure at the caller's line instead of a thrown TimeoutError (which gtest would report as
  // "unknown file: C++ exception thrown in the test body"); an nstest::Error the condition throws
  // is recorded there too. Inside a fixture this member hides nstest::WaitUntil(); call that by
  // its full name for the throwing form.
  //   my_test.cc:57: Failure
  //   wait for the request sockets to expire: timed out after 3000 ms; last seen: LISTEN ...
  bool WaitUntil(const std::string& what, std::chrono::milliseconds timeout,
                 const std::function<bool()>& condition,
                 const std::function<std::string()>& seen = nullptr,
                 std::source_location where = std::source_location::current());
  // PacketHold::WaitHeld() (at least `n` packets held), its timeout a failure at the caller's
  // line: "wait for 3 packets held by <hold>: timed out after 5000 ms; last seen: 1 held, 1 seen".
  bool WaitHeld(const PacketHold& hold, size_t n,
                std::chrono::milliseconds timeout = std::chrono::seconds(5),
                std::source_location where = std::source_location::current());
  // Counter changes in `ns` since SetUp() (or the last ResetCounters()).
  CounterDelta CounterChanges(const Netns& ns) const;
  void ResetCounters();
  // Waits until `counter` in `ns` has grown by at least `delta` since SetUp()/ResetCounters().
  bool WaitForCounter(const Netns& ns, const std::string& counter, int64_t delta,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5),
                      std::source_location where = std::source_location::current());
  // Captures on `ns`'s veth end; written as a pcap file if the test fails. A capture that will
  // see a large burst (thousands of SYNs) needs options.buffer_bytes from
  // Capture::BufferBytesFor(); HasPackets() fails, saying so, on a capture that dropped packets.
  Capture& StartCapture(const Netns& ns, const std::string& filter = "");
  Capture& StartCapture(const Netns& ns, const CaptureOptions& options);
  // The nftables table of `ns`, created on first use and removed after the test.
  PacketFilter& Filter(const Netns& ns);

  // --- A server under test ---
  // Starts `argv` (a server, or any long-lived command) in the server namespace, or in `ns`,
  // known as `name`. It runs until StopServer() or the end of the test (then `stop_signal`,
  // SIGKILL after `grace`); no lifetime limit. Its stdout and stderr are kept: the failure context
  // shows how it ended and its last lines. Throws Error if it cannot be started.
  Process& StartServer(const std::string& name, std::vector<std::string> argv,
                       const ServerOptions& options = {});
  Process& StartServer(const std::string& name, const Netns& ns, std::vector<std::string> argv,
                       const ServerOptions& options = {});
  // Stops it (`signal`, 0 for the `stop_signal` it was started with, then SIGKILL after its
  // grace) and returns how it ended, with its output
  // (Scenario::Stop()): its stdout and stderr share one file, interleaved as written, so
  // stdout_text and stderr_text both hold the last 64 KiB of that file. Its last lines alone:
  // scenario().OutputTail(name, lines), also while it runs.
  const ProcessResult& StopServer(const std::string& name, int signal = 0);
  // Waits until `count` sockets listen on `port` in the server namespace (or `ns`): a started
  // server is ready. Fails at once, not at the timeout, when a started server has ended, with its
  // exit status and last output. Returns false after recording the failure (as the other waits).
  bool WaitForListening(uint16_t port, size_t count = 1,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        std::source_location where = std::source_location::current());
  bool WaitForListening(const Netns& ns, uint16_t port, size_t count = 1,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        std::source_location where = std::source_location::current());
  // Only sockets `which` selects count, e.g. {.family = Family::kIPv6} or
  // {.address = IpAddress::Parse("::")}.
  bool WaitForListening(const Netns& ns, uint16_t port, const ListenerSelector& which,
                        size_t count = 1,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        std::source_location where = std::source_location::current());

  // The context printed on failure (also available to tests that want to log it); writes the
  // captures' pcap files.
  std::string Context();

 private:
  std::unique_ptr<Scenario> scenario_;
  std::optional<PairTopology> pair_;
  int captures_ = 0;
};

// Matchers on ListenerQueues (ServerListener(port), SockDiag::Listener(port)).
// gtest prints the listener itself (PrintTo below); the matchers add the check's sentence.
MATCHER_P(AcceptQueueIs, n, "Recv-Q (accept queue) is " + ::testing::PrintToString(n)) {
  ::nstest::CheckResult c = ::nstest::CheckAcceptQueue(arg, static_cast<int64_t>(n));
  if (!c.ok) *result_listener << c.Failure();
  return c.ok;
}
MATCHER_P(BacklogIs, n, "Send-Q (backlog) is " + ::testing::PrintToString(n)) {
  ::nstest::CheckResult c = ::nstest::CheckBacklog(arg, static_cast<int64_t>(n));
  if (!c.ok) *result_listener << c.Failure();
  return c.ok;
}
MATCHER_P(SynRecvIs, n, "SYN-RECV is " + ::testing::PrintToString(n)) {
  ::nstest::CheckResult c = ::nstest::CheckSynRecv(arg, static_cast<int64_t>(n));
  if (!c.ok) *result_listener << c.Failure();
  return c.ok;
}

// Matchers on CounterDelta: EXPECT_THAT(CounterChanges(server()), CounterIs("TcpExtListenDrops",
// 2)).
MATCHER_P2(CounterIs, name, n, std::string(name) + " changed by " + ::testing::PrintToString(n)) {
  ::nstest::CheckResult c =
      ::nstest::CheckCounter(arg, name, static_cast<int64_t>(n), static_cast<int64_t>(n));
  *result_listener << c.Failure();
  return c.ok;
}
MATCHER_P2(CounterAtLeast, name, n,
           std::string(name) + " grew by at least " + ::testing::PrintToString(n)) {
  ::nstest::CheckResult c =
      ::nstest::CheckCounter(arg, name, static_cast<int64_t>(n), std::nullopt);
  *result_listener << c.Failure();
  return c.ok;
}

// Matcher on Connections: EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 3)).
MATCHER_P2(HasOutcomes, outcome, n,
           "has " + ::testing::PrintToString(n) + " connections " +
               ::nstest::ConnectResultName(outcome)) {
  return arg.Count(outcome) == static_cast<int>(n);
}

// Matcher on Capture: EXPECT_THAT(capture, HasPackets(PacketFilterSpec::SynAcksFrom(80), 3)).
// It first lets the capture decode every packet it took (Capture::Sync()), and fails on a capture
// that dropped packets, whatever the count: that count would blame the kernel for what the
// capture missed.
MATCHER_P2(HasPackets, spec, n,
           "has " + ::testing::PrintToString(n) + " packets matching '" + spec.ToString() + "'") {
  arg.Sync();
  if (std::string dropped = arg.DropProblem(); !dropped.empty()) {
    *result_listener << dropped
                     << ": raise CaptureOptions::buffer_bytes (Capture::BufferBytesFor()) or "
                        "narrow the filter";
    return false;
  }
  size_t got = arg.Count(spec);
  *result_listener << got << " match; captured:\n" << arg.Dump();
  return got == static_cast<size_t>(n);
}

// Printers, so gtest shows these values readably.
void PrintTo(const ListenerQueues& q, std::ostream* os);
void PrintTo(const CounterDelta& d, std::ostream* os);
void PrintTo(const Connections& c, std::ostream* os);
void PrintTo(const Capture& c, std::ostream* os);
void PrintTo(ConnectResult r, std::ostream* os);

// The most a kernel timer of `timeout` can fire late on a kernel with CONFIG_HZ `hz`: timers
// expire on the timer wheel's granularity for their level (kernel/time/timer.c), 8^level jiffies.
// Used to derive tolerances for retransmission intervals instead of guessing them.
std::chrono::milliseconds TimerWheelSlack(std::chrono::milliseconds timeout, int hz);
// CONFIG_HZ of the running kernel from /proc/config.gz, or 100 (the coarsest common value) when
// the configuration is not exposed.
int KernelHz();

}  // namespace nstest

#endif  // NSTEST_GTEST_H_
