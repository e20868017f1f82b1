// What nstest::NetnsTest leaves when a test fails: the context on stdout and the captures as pcap
// files, and nothing else (the leak check wraps this binary, the failing child run included).
#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "nstest/gtest.h"
#include "nstest/process.h"

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
  EXPECT_NE(out.find("Expected: accept queue (Recv-Q) is 5"), std::string::npos) << out;
  EXPECT_NE(out.find("Actual: LISTEN 198.18.0.1:8080 Recv-Q 1 Send-Q 2 SYN-RECV 0"),
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
