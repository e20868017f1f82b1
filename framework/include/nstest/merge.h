// Putting the reports of a sharded run back together: `nstest merge`. Every shard's report carries
// its plan (an id, which shard it is, and every case of the plan with the shard that owes it), so
// the merge needs nothing but the reports, from any number of machines, and notices what a shard
// that crashed, was killed or never started left out.
#ifndef NSTEST_MERGE_H_
#define NSTEST_MERGE_H_

#include <string>
#include <vector>

#include "nstest/junit.h"

namespace nstest {

// Testsuite properties of `nstest run` reports (a ':' keeps them apart from the case properties,
// which are named "<case>.<key>").
inline constexpr char kPlanId[] = "nstest:plan";        // the plan's id, the same in every shard
inline constexpr char kPlanShard[] = "nstest:shard";    // "I/N", I from 0; "all/N" once merged
inline constexpr char kPlanRepeat[] = "nstest:repeat";  // --repeat
inline constexpr char kPlanCases[] = "nstest:cases";    // "<shard> <case>" lines, the suite's

struct ShardReport {
  std::string path{};  // names it in messages
  std::vector<JUnitSuite> suites{};
};

struct MergeResult {
  std::vector<JUnitSuite> report{};     // every case of the plan once, in the plan's order
  std::vector<std::string> problems{};  // a shard's missing cases, a case reported twice, ...
  int shards = 0;                       // of the plan
  int reported_shards = 0;              // of them, how many gave a report
  size_t missing = 0;                   // cases no report had: errors in `report`
  size_t duplicated = 0;                // cases reported more than once: errors in `report`
};

// Merges the shards' reports. A case of the plan that no report has becomes an error naming the
// shard that owed it; a case reported twice, or one that is not in the plan, an error too. Throws
// Error for a report without a plan (not written by `nstest run`), from another plan or kernel, or
// one that is itself a merge.
MergeResult MergeShards(const std::vector<ShardReport>& reports);

}  // namespace nstest

#endif  // NSTEST_MERGE_H_
