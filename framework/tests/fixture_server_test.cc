// A server under test in nstest::NetnsTest: started, awaited until it listens, stopped.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>

#include "nstest/gtest.h"

namespace nstest {
namespace {

using namespace std::chrono_literals;

// Listens on 8080 with the backlog it is given; exits 0 on SIGTERM.
constexpr const char* kServer = R"(
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket()
s.bind(("0.0.0.0", 8080))
s.listen(int(sys.argv[1]))
print("listening", flush=True)
while True:
    time.sleep(1)
)";

class ServerUnderTestTest : public NetnsTest {};

TEST_F(ServerUnderTestTest, StartedServerIsAwaitedCheckedAndStopped) {
  StartServer("srv", {"python3", "-c", kServer, "3"});
  ASSERT_TRUE(WaitForListening(8080));
  Connections c = ConnectToServer(8080, 4);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 4));
  ASSERT_TRUE(WaitForAcceptQueue(8080, 4));
  EXPECT_THAT(ServerListener(8080), BacklogIs(3));
  const ProcessResult& r = StopServer("srv");
  EXPECT_EQ(r.exit_code, 0) << r.Describe();  // its SIGTERM handler ran
  EXPECT_NE(scenario().Processes().find("process 'srv' (python3 -c"), std::string::npos);
  EXPECT_NE(scenario().OutputTail("srv", 5).find("  listening\n"), std::string::npos);
}

// StopServer() sends the stop_signal the server was started with (it sent SIGTERM).
TEST_F(ServerUnderTestTest, StopServerSendsItsStopSignal) {
  StartServer("usr1",
              {"python3", "-c",
               "import signal, socket, sys\n"
               "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(7))\n"
               "s = socket.socket(); s.bind(('0.0.0.0', 8081)); s.listen(1)\n"
               "while True: signal.pause()\n"},
              ServerOptions{.stop_signal = SIGUSR1});
  ASSERT_TRUE(WaitForListening(8081));
  const ProcessResult& r = StopServer("usr1");
  EXPECT_EQ(r.exit_code, 7) << r.Describe();
}

TEST_F(ServerUnderTestTest, ADeadServerFailsTheWaitAtOnceWithItsOutput) {
  StartServer("broken", {"python3", "-c",
                         "import sys; print('bad config', file=sys.stderr, flush=True); "
                         "sys.exit(3)"});
  auto start = std::chrono::steady_clock::now();
  EXPECT_NONFATAL_FAILURE(WaitForListening(8080, 1, 30s),
                          "process 'broken' (python3 -c 'import sys; print('\\''bad config'\\'', "
                          "file=sys.stderr, flush=True); sys.exit(3)') exited with status 3; its "
                          "last output:\n  bad config");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "not at the 30 s timeout";
}

TEST_F(ServerUnderTestTest, AServerLeftRunningIsStoppedWithTheTest) {
  Process& p = StartServer("sleeper", {"sleep", "600"}, ServerOptions{.grace = 500ms});
  EXPECT_TRUE(p.Running());
  EXPECT_TRUE(scenario().Running("sleeper"));
  // TearDown() stops it (SIGTERM); a leftover would fail the leak check of this binary.
}

// The pair's IPv6 addresses, without building a ListenerOptions by hand.
TEST_F(ServerUnderTestTest, ListenAndConnectOverIPv6) {
  Listen(8081, /*backlog=*/1, AcceptPolicy::kNever, Family::kIPv6);
  Connections c = ConnectToServer(8081, 2, ConnectMode::kSequential, 5s, Family::kIPv6);
  EXPECT_THAT(c, HasOutcomes(ConnectResult::kEstablished, 2));
  ASSERT_TRUE(WaitForAcceptQueue(8081, 2));
  ListenerQueues q = ServerListener(8081);
  EXPECT_THAT(q, AcceptQueueIs(2));
  EXPECT_EQ(q.address, topology().server_v6()) << q.ToString();
}

}  // namespace
}  // namespace nstest
