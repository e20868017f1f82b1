// RunPlan() driven by a fake launcher: planning, tallying, the console, the exit code and the
// report, with no process or namespace.
#include "nstest/runner.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "runner/launcher.h"

namespace nstest {
namespace {

class FakeLauncher : public CaseLauncher {
 public:
  FakeLauncher(const Plan& plan, std::map<std::string, CaseResult> results)
      : plan_(plan), results_(std::move(results)) {}

  CaseResult Run(size_t index) override {
    const std::string name = plan_.cases[index].FullName();
    std::lock_guard<std::mutex> lock(mu_);
    ran_.push_back(name);
    auto it = results_.find(name);
    return it == results_.end() ? CaseResult{} : it->second;
  }
  void KillAll() override { killed_ = true; }

  std::vector<std::string> ran() const { return ran_; }
  bool killed() const { return killed_; }

 private:
  const Plan& plan_;
  std::map<std::string, CaseResult> results_;
  std::mutex mu_;
  std::vector<std::string> ran_;
  bool killed_ = false;
};

CaseResult Result(CaseStatus status, const std::string& message) {
  CaseResult r;
  r.status = status;
  r.message = message;
  r.log = "the log of " + message + "\n";
  return r;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunnerOptions Options(const std::string& xml) {
  RunnerOptions o;
  o.paths = {NSTEST_FIXTURES_DIR "/runner/mixed.toml"};
  o.jobs = 2;
  o.xml_output = xml;
  return o;
}

TEST(RunPlanTest, EveryCaseGoesToTheLauncherAndItsResultsMakeTheRun) {
  const std::string xml = ::testing::TempDir() + "nstest-fake-launcher.xml";
  RunnerOptions o = Options(xml);
  Plan plan = MakePlan(o);
  ASSERT_EQ(plan.cases.size(), 5u);
  FakeLauncher fake(plan, {{"mixed.fails", Result(CaseStatus::kFailed, "Send-Q: expected 3")},
                           {"mixed.crashes", Result(CaseStatus::kError, "crashed: signal 6")},
                           {"mixed.skips", Result(CaseStatus::kSkipped, "needs kernel 99.0")}});
  std::ostringstream out;
  EXPECT_EQ(RunPlan(plan, o, fake, out), 1);
  std::vector<std::string> ran = fake.ran();
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<std::string>{"mixed.crashes", "mixed.fails", "mixed.hangs",
                                           "mixed.passes", "mixed.skips"}));
  EXPECT_FALSE(fake.killed());
  const std::string text = out.str();
  EXPECT_NE(text.find("[==========] Running 5 cases from 1 suite (-j 2)."), std::string::npos)
      << text;
  EXPECT_NE(text.find("[  FAILED  ] mixed.fails"), std::string::npos) << text;
  EXPECT_NE(text.find("Send-Q: expected 3"), std::string::npos) << text;
  EXPECT_NE(text.find("the log of Send-Q: expected 3"), std::string::npos) << text;
  EXPECT_NE(text.find("[  ERROR   ] mixed.crashes"), std::string::npos) << text;
  EXPECT_NE(text.find("[  SKIPPED ] mixed.skips"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.rfind('\n', text.size() - 2) + 1), "2 passed, 2 failed, 1 skipped\n");
  const std::string report = Slurp(xml);
  EXPECT_NE(report.find(R"(tests="5" failures="1" errors="1" skipped="1")"), std::string::npos)
      << report;
}

TEST(RunPlanTest, OnlyPassesAndSkipsIsExitZero) {
  const std::string xml = ::testing::TempDir() + "nstest-fake-launcher-ok.xml";
  RunnerOptions o = Options(xml);
  o.filter = "mixed.pass*:mixed.skips";
  o.repeat = 3;
  Plan plan = MakePlan(o);
  ASSERT_EQ(plan.cases.size(), 6u);
  FakeLauncher fake(plan, {{"mixed.skips", Result(CaseStatus::kSkipped, "needs kernel 99.0")}});
  std::ostringstream out;
  EXPECT_EQ(RunPlan(plan, o, fake, out), 0) << out.str();
  EXPECT_EQ(fake.ran().size(), 6u);
  EXPECT_NE(out.str().find("3 passed, 0 failed, 3 skipped"), std::string::npos) << out.str();
}

TEST(LibrariesForTest, ThePlansCapturesAndFiltersDecide) {
  RunnerOptions o;
  o.paths = {NSTEST_FIXTURES_DIR "/runner/loaded_libraries.toml"};
  auto needed = [&](const std::string& filter) {
    o.filter = filter;
    NeededLibraries n = LibrariesFor(MakePlan(o));
    return std::vector<bool>{n.pcap, n.filters, n.queues};
  };
  using V = std::vector<bool>;
  EXPECT_EQ(needed("*.none_*:*.pcap_inherited"), (V{false, false, false}));
  EXPECT_EQ(needed("*.pcap_for_a_capture"), (V{true, false, false}));
  EXPECT_EQ(needed("*.nftables_for_a_drop"), (V{false, true, false}));
  EXPECT_EQ(needed("*.nftables_and_nfqueue_for_a_hold"), (V{false, true, true}));
  EXPECT_EQ(needed("*"), (V{true, true, true}));
}

}  // namespace
}  // namespace nstest
