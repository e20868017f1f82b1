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
            "overflow.syn_dropped/backlog=2: TcpExtListenOverflows in netns 'server' 3 -> 2; "
            "TcpOutRsts in netns 'server' (none) -> 0\n"
            "overflow.synack_backoff: passed -> failed (interval 2: expected 2000 ms +- 150)\n"
            "overflow.new_case: only in new\n"
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

}  // namespace
}  // namespace nstest
