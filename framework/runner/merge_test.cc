#include "nstest/merge.h"

#include <gtest/gtest.h>

#include "nstest/error.h"

namespace nstest {
namespace {

// A shard's report of suite "s" with cases a, b, c, d: a and c owed by shard 0, b and d by 1.
ShardReport Shard(int index, const std::string& plan = "p1") {
  ShardReport r;
  r.path = "shard-" + std::to_string(index) + ".xml";
  JUnitSuite s;
  s.name = "s";
  s.properties = {{"kernel_release", "6.1.0"},
                  {kPlanId, plan},
                  {kPlanShard, std::to_string(index) + "/2"},
                  {kPlanRepeat, "1"},
                  {kPlanCases, "0 a\n1 b\n0 c\n1 d\n"}};
  for (const char* name :
       index == 0 ? std::vector<const char*>{"a", "c"} : std::vector<const char*>{"b", "d"}) {
    JUnitCase c;
    c.name = name;
    c.classname = "s";
    s.cases.push_back(c);
  }
  r.suites.push_back(s);
  return r;
}

std::vector<std::string> NamesOf(const MergeResult& m) {
  std::vector<std::string> out;
  for (const JUnitCase& c : m.report.at(0).cases) out.push_back(c.name);
  return out;
}

TEST(MergeTest, EveryCaseOnceInThePlansOrder) {
  MergeResult m = MergeShards({Shard(1), Shard(0)});
  EXPECT_TRUE(m.problems.empty());
  EXPECT_EQ(m.shards, 2);
  EXPECT_EQ(m.reported_shards, 2);
  EXPECT_EQ(NamesOf(m), (std::vector<std::string>{"a", "b", "c", "d"}));
  for (const JUnitCase& c : m.report[0].cases) EXPECT_EQ(c.status, CaseStatus::kPassed);
  bool merged = false;
  for (const auto& [k, v] : m.report[0].properties)
    merged = merged || (k == kPlanShard && v == "all/2");
  EXPECT_TRUE(merged);
}

TEST(MergeTest, AShardThatNeverReportedLeavesErrorsNamingIt) {
  MergeResult m = MergeShards({Shard(0)});
  EXPECT_EQ(m.missing, 2u);
  EXPECT_EQ(m.reported_shards, 1);
  ASSERT_EQ(m.problems.size(), 1u);
  EXPECT_EQ(m.problems[0], "shard 1/2 gave no report: 2 of its cases missing: s.b, s.d");
  const JUnitCase& b = m.report[0].cases[1];
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(b.status, CaseStatus::kError);
  EXPECT_EQ(b.message,
            "not reported: shard 1/2 owed it, and no report of that shard was given (it crashed, "
            "was killed or never started)");
}

TEST(MergeTest, PartialShardsDuplicatesAndStrangersAreErrors) {
  ShardReport partial = Shard(1);
  partial.suites[0].cases.pop_back();  // stopped before d
  ShardReport twice = Shard(0);
  twice.path = "again.xml";
  JUnitCase stranger;
  stranger.name = "z";
  twice.suites[0].cases.push_back(stranger);
  MergeResult m = MergeShards({Shard(0), partial, twice});
  EXPECT_EQ(m.missing, 1u);
  EXPECT_EQ(m.duplicated, 2u);
  EXPECT_EQ(NamesOf(m), (std::vector<std::string>{"a", "b", "c", "d", "z"}));
  EXPECT_EQ(m.report[0].cases[0].message,
            "reported 2 times, by shard-0.xml, again.xml: each case belongs to one shard");
  EXPECT_NE(m.report[0].cases[3].message.find("its report does not have it"), std::string::npos);
  EXPECT_EQ(m.report[0].cases[4].status, CaseStatus::kError);
  EXPECT_EQ(m.problems.front(),
            "shard 1/2 reported only part of its cases: 1 of its cases missing: s.d");
}

TEST(MergeTest, ReportsOfAnotherPlanOrWithoutOneAreRefused) {
  try {
    MergeShards({Shard(0), Shard(1, "p2")});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "shard-1.xml is from another plan than shard-0.xml (plan p2 against p1): its "
              "suites, --filter, --case, --repeat, --sysctl overrides, cost file or shard count "
              "differ; merge the shards of one run");
  }
  ShardReport other_kernel = Shard(1);
  other_kernel.suites[0].properties[0].second = "6.12.9";
  try {
    MergeShards({Shard(0), other_kernel});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "shard-1.xml ran on kernel 6.12.9, shard-0.xml on 6.1.0: merge the shards of one "
              "kernel, and compare kernels with nstest compare");
  }
  ShardReport merged = Shard(0);
  merged.suites[0].properties[2].second = "all/2";
  try {
    MergeShards({merged});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "shard-0.xml: a merged report (nstest:shard 'all/2'); merge the shards' own reports");
  }
  ShardReport bare = Shard(0);
  bare.suites[0].properties = {{"kernel_release", "6.1.0"}};
  EXPECT_THROW(MergeShards({bare}), Error);
}

}  // namespace
}  // namespace nstest
