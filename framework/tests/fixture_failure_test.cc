// What nstest::NetnsTest leaves when a test fails: the context on stdout and the captures as pcap
// files, and nothing else (the leak check wraps this binary, the failing child run included).
#include <dirent.h>
#include <gtest/gtest-spi.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "nstest/gtest.h"
#include "nstest/process.h"
#include "nstest/synsource.h"

namespace nstest {
namespace {

using namespace std::chrono_literals;

// Not run directly: FixtureFailureTest runs this binary with this test selected.
class FailingHelper : public NetnsTest {};

TEST_F(FailingHelper, DISABLED_FailsWithCaptureRulesAndListener) {
  SetSysctl(server(), "net.core.somaxconn", "7");
  Capture& capture = StartCapture(server(), "tcp port 8080");
  Filter(client()).Drop(TcpMatch::HandshakeAck(9999));
  Listen(8080, 2);
  Connections c = ConnectToServer(8080, 1);
  WaitForAcceptQueue(8080, 1);
  capture.WaitFor(PacketFilterSpec::SynAcksFrom(8080), 1, 5s);
  EXPECT_THAT(ServerListener(8080), AcceptQueueIs(5));  // fails on purpose: it is 1
}

// Regression: the fixture's waits threw TimeoutError, which gtest reported as "unknown file:
// C++ exception thrown in the test body" instead of a failure at the line that waited.
class FixtureWaitTest : public NetnsTest {
 protected:
  // Runs `wait` with gtest's results intercepted into `results`; returns what the wait returned.
  template <typename Fn>
  static bool Intercepted(::testing::TestPartResultArray* results, Fn&& wait) {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, results);
    return wait();
  }
};

TEST_F(FixtureWaitTest, TimeoutIsAFailureAtTheCallersLine) {
  Listen(8080, 2);
  ::testing::TestPartResultArray results;
  const int line = __LINE__ + 1;
  auto wait = [&] { return WaitForAcceptQueue(8080, 1, 100ms); };
  bool reached = Intercepted(&results, wait);
  EXPECT_FALSE(reached);
  ASSERT_EQ(results.size(), 1);
  const ::testing::TestPartResult& r = results.GetTestPartResult(0);
  EXPECT_TRUE(r.nonfatally_failed());
  EXPECT_STREQ(r.file_name(), __FILE__);
  EXPECT_EQ(r.line_number(), line);
  EXPECT_STREQ(r.message(),
               "wait for accept queue of port 8080 to reach 1: timed out after 100 ms; last seen: "
               "LISTEN 198.18.0.1:8080 Recv-Q 0 Send-Q 2 SYN-RECV 0");
  ::testing::TestPartResultArray counter_results;
  bool counted = Intercepted(
      &counter_results, [&] { return WaitForCounter(server(), "TcpExtListenDrops", 1, 50ms); });
  EXPECT_FALSE(counted);
  ASSERT_EQ(counter_results.size(), 1);
  EXPECT_STREQ(counter_results.GetTestPartResult(0).file_name(), __FILE__);
  EXPECT_THAT(counter_results.GetTestPartResult(0).message(),
              ::testing::StartsWith("wait for TcpExtListenDrops in netns 'server' to grow by 1: "
                                    "timed out after 50 ms"));
}

TEST_F(FixtureWaitTest, AcceptQueueWaitWaitsForTheListenerToExist) {
  ::testing::TestPartResultArray results;
  bool reached = Intercepted(&results, [&] { return WaitForAcceptQueue(8081, 0, 50ms); });
  EXPECT_FALSE(reached);
  ASSERT_EQ(results.size(), 1);
  EXPECT_STREQ(results.GetTestPartResult(0).message(),
               "wait for accept queue of port 8081 to reach 0: timed out after 50 ms; last seen: "
               "no listener on port 8081 yet");
  Listen(8081, 1);
  EXPECT_TRUE(WaitForAcceptQueue(8081, 0, 1s));
}

class FixtureCaptureTest : public NetnsTest {};

// A capture too small for the flood it watches: HasPackets fails with the drops, never with a
// wrong count.
TEST_F(FixtureCaptureTest, CaptureThatDroppedPacketsFailsHasPacketsWithTheReason) {
  Listen(5000, 1000);
  SetSysctl(server(), "net.ipv4.tcp_synack_retries", "0");
  Capture& capture = StartCapture(
      server(), CaptureOptions{.filter = "tcp port 5000", .snaplen = 65535, .buffer_bytes = 65536});
  PrepareSpoofedSource(server(), client(), topology().client_v4());
  SendSyns(client(),
           SynOptions{.destination = topology().server_v4(), .port = 5000, .count = 3000});
  WaitForCounter(server(), "TcpExtSyncookiesSent", 3000 - 1001);
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(capture, HasPackets(PacketFilterSpec::SynAcksFrom(5000), 3000)),
      "packets (its buffer of 64 KiB was full); its counts are not reliable: raise "
      "CaptureOptions::buffer_bytes (Capture::BufferBytesFor()) or narrow the filter");
  CaptureStats stats = capture.Sync();
  EXPECT_GT(stats.dropped, 0u);
  EXPECT_EQ(stats.received, 6000u);
}

// The same flood with the buffer BufferBytesFor() gives: every SYN-ACK counted.
TEST_F(FixtureCaptureTest, CaptureSizedForTheBurstCountsEverySynAck) {
  Listen(5000, 1000);
  SetSysctl(server(), "net.ipv4.tcp_synack_retries", "0");
  Capture& capture =
      StartCapture(server(), CaptureOptions{.filter = "tcp port 5000",
                                            .buffer_bytes = Capture::BufferBytesFor(6000, 256)});
  PrepareSpoofedSource(server(), client(), topology().client_v4());
  SendSyns(client(),
           SynOptions{.destination = topology().server_v4(), .port = 5000, .count = 3000});
  WaitForCounter(server(), "TcpExtSyncookiesSent", 3000 - 1001);
  capture.WaitFor(PacketFilterSpec::SynAcksFrom(5000), 3000, 5s);
  EXPECT_THAT(capture, HasPackets(PacketFilterSpec::SynAcksFrom(5000), 3000));
  EXPECT_EQ(capture.Sync().dropped, 0u);
}

class FixtureFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = CachedPreflight().NamespaceSkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  return out;
}

TEST_F(FixtureFailureTest, FailureReportsContextAndKeepsThePcap) {
  char exe[4096] = {};
  ASSERT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
  std::string dir = ::testing::TempDir() + "nstest-artifacts-" + std::to_string(::getpid());
  ProcessOptions o;
  o.argv = {exe, "--gtest_also_run_disabled_tests",
            "--gtest_filter=FailingHelper.DISABLED_FailsWithCaptureRulesAndListener"};
  o.env["NSTEST_ARTIFACTS_DIR"] = dir;
  o.timeout = 30s;
  ProcessResult r = RunProcess(nullptr, o);
  EXPECT_EQ(r.exit_code, 1) << r.Describe() << "\n" << r.stdout_text;
  const std::string& out = r.stdout_text;
  EXPECT_NE(out.find("Expected: Recv-Q (accept queue) is 5"), std::string::npos) << out;
  // The listener once, as gtest's PrintTo shows it (it used to be printed twice), then the check
  // as a suite words it.
  EXPECT_NE(out.find("  Actual: LISTEN 198.18.0.1:8080 Recv-Q 1 Send-Q 2 SYN-RECV 0 (of type "
                     "nstest::ListenerQueues), Recv-Q (accept queue): expected 5, got 1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("nstest context:"), std::string::npos) << out;
  EXPECT_NE(out.find("net.core.somaxconn = 7"), std::string::npos) << out;
  EXPECT_NE(out.find("TcpPassiveOpens +1"), std::string::npos) << out;
  std::vector<std::string> files = FilesIn(dir);
  ASSERT_EQ(files.size(), 1u) << out;
  EXPECT_EQ(files[0], "FailingHelper.DISABLED_FailsWithCaptureRulesAndListener.server-0.pcap");
  EXPECT_NE(out.find(dir + "/" + files[0]), std::string::npos) << out;
  for (const std::string& f : files) std::remove((dir + "/" + f).c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace nstest
