#include "nstest/ktap.h"

#include <gtest/gtest.h>

namespace nstest {
namespace {

TEST(KtapTest, SuitesAreTestsAndCasesTheirSubtests) {
  JUnitSuite backlog;
  backlog.name = "backlog";
  backlog.cases = {
      {"plus_one/backlog=0", "", 0.2, CaseStatus::kPassed, "", "", "", {}},
      {"plus_one/backlog=1",
       "",
       0.2,
       CaseStatus::kFailed,
       "Send-Q (backlog): expected 3, got 2",
       "suites/backlog.toml:27:3: Send-Q (backlog): expected 3, got 2\nsecond # line",
       "",
       {}},
      {"netem", "", 0, CaseStatus::kSkipped, "netem: not available", "", "", {}},
      {"crash #1",
       "",
       0,
       CaseStatus::kError,
       "crashed: killed by signal 6",
       "crashed: killed by signal 6",
       "",
       {}},
      {"hang", "", 1, CaseStatus::kError, "timed out after 1 s", "", "", {}},
  };
  JUnitSuite skipped;
  skipped.name = "newer";
  skipped.cases = {{"x", "", 0, CaseStatus::kSkipped, "needs kernel 99.0 or later", "", "", {}}};
  JUnitSuite passed;
  passed.name = "accept";
  passed.cases = {{"one", "", 0, CaseStatus::kPassed, "", "", "", {}}};
  JUnitSuite unselected;
  unselected.name = "filtered_out";
  EXPECT_EQ(RenderKtap({backlog, skipped, unselected, passed}),
            "KTAP version 1\n"
            "1..3\n"
            "  KTAP version 1\n"
            "  # Subtest: backlog\n"
            "  1..5\n"
            "  ok 1 plus_one/backlog=0\n"
            "  # suites/backlog.toml:27:3: Send-Q (backlog): expected 3, got 2\n"
            "  # second # line\n"
            "  not ok 2 plus_one/backlog=1\n"
            "  ok 3 netem # SKIP netem: not available\n"
            "  not ok 4 crash _1 # ERROR crashed: killed by signal 6\n"
            "  not ok 5 hang # TIMEOUT timed out after 1 s\n"
            "not ok 1 backlog\n"
            "  KTAP version 1\n"
            "  # Subtest: newer\n"
            "  1..1\n"
            "  ok 1 x # SKIP needs kernel 99.0 or later\n"
            "ok 2 newer # SKIP every case was skipped\n"
            "  KTAP version 1\n"
            "  # Subtest: accept\n"
            "  1..1\n"
            "  ok 1 one\n"
            "ok 3 accept\n");
}

TEST(KtapTest, AnEmptyRunHasAnEmptyPlan) { EXPECT_EQ(RenderKtap({}), "KTAP version 1\n1..0\n"); }

}  // namespace
}  // namespace nstest
