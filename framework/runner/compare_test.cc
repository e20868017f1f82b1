#include "nstest/compare.h"

#include <gtest/gtest.h>

#include "nstest/checks.h"

namespace nstest {
namespace {

JUnitSuite ReportOf(const std::string& kernel, int overflows, CaseStatus synack) {
  JUnitSuite s;
  s.name = "overflow";
  s.properties = {{"kernel_release", kernel}};
  JUnitCase dropped{"syn_dropped/backlog=2", "", 3.1, CaseStatus::kPassed, "", "", "", {}};
  dropped.properties = {
      {"param.backlog", "2"},
      {"sysctl.client.net.ipv4.tcp_syn_retries", "1"},
      {"observed.TcpExtListenOverflows in netns 'server'", std::to_string(overflows)},
      {"observed.timed_out connections (dropped)", "1"}};
  JUnitCase backoff{"synack_backoff", "", 3, synack, "", "", "", {}};
  if (synack == CaseStatus::kFailed) backoff.message = "interval 2: expected 2000 ms +- 150";
  s.cases = {dropped, backoff};
  return s;
}

TEST(CompareTest, TheSameRunDiffersInNothing) {
  Comparison c = CompareReports({ReportOf("6.1.0", 3, CaseStatus::kPassed)},
                                {ReportOf("6.1.0", 3, CaseStatus::kPassed)});
  EXPECT_FALSE(c.Differs());
  EXPECT_EQ(c.compared, 2u);
  EXPECT_EQ(c.ToString("a.xml", "b.xml"),
            "base: a.xml (kernel 6.1.0; overrides: none)\n"
            "new:  b.xml (kernel 6.1.0; overrides: none)\n"
            "classes: 0 regression, 0 fix, 0 verdict, 0 changed, 0 new, 0 missing, 0 "
            "infrastructure\n"
            "0 of 2 cases compared differ\n");
}

TEST(CompareTest, VerdictsAndObservedValuesThatDifferAreListed) {
  JUnitSuite now = ReportOf("6.12.9", 2, CaseStatus::kFailed);
  now.properties.emplace_back("sysctl.override.net.ipv4.tcp_abort_on_overflow", "1");
  now.cases[0].properties.emplace_back("observed.TcpOutRsts in netns 'server'", "0");
  now.cases.push_back({"new_case", "", 0, CaseStatus::kPassed, "", "", "", {}});
  Comparison c = CompareReports({ReportOf("6.1.0", 3, CaseStatus::kPassed)}, {now});
  EXPECT_TRUE(c.Differs());
  EXPECT_EQ(c.ToString("6.1.xml", "6.12.xml"),
            "base: 6.1.xml (kernel 6.1.0; overrides: none)\n"
            "new:  6.12.xml (kernel 6.12.9; overrides: net.ipv4.tcp_abort_on_overflow=1)\n"
            "[changed] overflow.syn_dropped/backlog=2: TcpExtListenOverflows in netns 'server' 3 "
            "-> 2; TcpOutRsts in netns 'server' (none) -> 0\n"
            "[regression] overflow.synack_backoff: passed -> failed (interval 2: expected 2000 ms "
            "+- 150)\n"
            "[new] overflow.new_case: only in new\n"
            "classes: 1 regression, 0 fix, 0 verdict, 1 changed, 1 new, 0 missing, 0 "
            "infrastructure\n"
            "2 of 2 cases compared differ; 0 only in base, 1 only in new\n");
}

TEST(CompareTest, ATableShowsOnlyWhatIsNotTheSame) {
  EXPECT_EQ(CompareTable({{ReportOf("6.1.0", 3, CaseStatus::kPassed)},
                          {ReportOf("6.1.0", 3, CaseStatus::kPassed)}}),
            "");
  JUnitSuite newer = ReportOf("6.18.0", 4, CaseStatus::kPassed);
  newer.cases[1].status = CaseStatus::kSkipped;
  newer.cases[1].message = "a | b";
  EXPECT_EQ(CompareTable({{ReportOf("6.1.0", 3, CaseStatus::kPassed)},
                          {ReportOf("6.12.9", 3, CaseStatus::kPassed)},
                          {newer}}),
            "| | kernel 6.1.0; overrides: none | kernel 6.12.9; overrides: none | kernel 6.18.0; "
            "overrides: none |\n"
            "| --- | --- | --- | --- |\n"
            "| overflow.syn_dropped/backlog=2: TcpExtListenOverflows in netns 'server' | 3 | 3 | 4 "
            "|\n"
            "| overflow.synack_backoff | passed | passed | skipped: a \\| b |\n");
}

// A value a range allowed is recorded with the range; two runs within the same range compare
// equal, also against an older report that recorded the range alone.
TEST(CompareTest, ValuesWithinTheSameRangeAreTheSame) {
  EXPECT_EQ(WithinRange("3", "at least 2"), "3 (within at least 2)");
  EXPECT_TRUE(SameObservation("3 (within at least 2)", "5 (within at least 2)"));
  EXPECT_TRUE(SameObservation("within at least 2", "5 (within at least 2)"));
  EXPECT_FALSE(SameObservation("3 (within at least 2)", "3 (within at least 3)"));
  EXPECT_FALSE(SameObservation("3 (within at least 2)", "1"));
  EXPECT_FALSE(SameObservation("3", "4"));
  JUnitSuite base = ReportOf("6.1.0", 3, CaseStatus::kPassed);
  JUnitSuite now = ReportOf("6.1.0", 3, CaseStatus::kPassed);
  base.cases[0].properties.emplace_back("observed.duration_ms of connections (dropped)",
                                        "3081.2 ms (within 3000 to 3500 ms)");
  now.cases[0].properties.emplace_back("observed.duration_ms of connections (dropped)",
                                       "3102.9 ms (within 3000 to 3500 ms)");
  EXPECT_FALSE(CompareReports({base}, {now}).Differs());
  EXPECT_EQ(CompareTable({{base}, {now}}), "");
  now.cases[0].properties.back().second = "3602.0 ms";
  EXPECT_EQ(CompareReports({base}, {now}).changes.size(), 1u);
}

// Kernel CI asks which differences are regressions: each change has its class.
TEST(CompareTest, ChangesAreClassified) {
  JUnitSuite base = ReportOf("6.1.0", 3, CaseStatus::kFailed);
  JUnitSuite now = ReportOf("6.1.0", 3, CaseStatus::kPassed);
  JUnitCase gone{"gone", "", 1, CaseStatus::kPassed, "", "", "", {}};
  JUnitCase cut{"cut", "", 1, CaseStatus::kPassed, "", "", "", {}};
  JUnitCase broke{"broke", "", 1, CaseStatus::kPassed, "", "", "", {}};
  JUnitCase skips{"skips", "", 1, CaseStatus::kPassed, "", "", "", {}};
  base.cases.insert(base.cases.end(), {gone, cut, broke, skips});
  cut.status = broke.status = CaseStatus::kError;
  cut.message = "interrupted by SIGTERM (crashed: killed by signal 9 (Killed))";
  broke.message = "suite.toml:4:3: step 'accept': accept: no listener on port 8081";
  skips.status = CaseStatus::kSkipped;
  now.cases.insert(now.cases.end(), {cut, broke, skips});
  Comparison c = CompareReports({base}, {now});
  EXPECT_EQ(c.Count(ChangeClass::kFix), 1u);             // synack_backoff
  EXPECT_EQ(c.Count(ChangeClass::kInfrastructure), 1u);  // cut
  EXPECT_EQ(c.Count(ChangeClass::kRegression), 1u);      // broke
  EXPECT_EQ(c.Count(ChangeClass::kVerdict), 1u);         // skips
  EXPECT_EQ(c.Count(ChangeClass::kMissing), 1u);         // gone
  EXPECT_EQ(c.Count(ChangeClass::kNew), 0u);
  EXPECT_EQ(c.Count(ChangeClass::kValues), 0u);
  std::string text = c.ToString("a.xml", "b.xml");
  EXPECT_NE(text.find("[infrastructure] overflow.cut: passed -> error (interrupted by SIGTERM"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[fix] overflow.synack_backoff: failed -> passed\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("[missing] overflow.gone: only in base\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace nstest
