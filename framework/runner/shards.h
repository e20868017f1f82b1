// Sharding: which shard of how many this run is (from --shard, or from the variables of the
// scheduler that started it), and which shard runs each case of a plan.
#ifndef NSTEST_RUNNER_SHARDS_H_
#define NSTEST_RUNNER_SHARDS_H_

#include <functional>
#include <string>
#include <vector>

namespace nstest {

struct ShardChoice {
  int index = 0;  // from 0
  int total = 1;
  std::string source{};  // what said so: "--shard 1/4", "SLURM_ARRAY_TASK_ID=5, ..."; "" for none
};

// A variable of the environment, or nullptr (std::getenv, or a map in tests).
using EnvLookup = std::function<const char*(const char*)>;

// The shard this run is: `flag` ("I/N", I from 0) when given, else what the environment says:
// GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, Bazel's TEST_SHARD_INDEX/TEST_TOTAL_SHARDS, a Slurm job
// array (SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN, over SLURM_ARRAY_TASK_STEP, of
// SLURM_ARRAY_TASK_COUNT), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, of `shards` or another
// source's total, since the Job gives none) and GitLab's `parallel` (CI_NODE_INDEX from 1, of
// CI_NODE_TOTAL). `shards`
// (--shards N) also gives the total where a source has none. Throws Error for a malformed value,
// an index out of range, a source missing its other half, or two sources that disagree.
ShardChoice ChooseShard(const std::string& flag, int shards, const EnvLookup& env);

// Which shard runs each case, given each case's expected seconds: longest first, each to the shard
// with the least expected time so far (on a tie, the one with the fewest cases, then the lowest
// index). A pure function of its inputs,
// so every machine of a sharded run computes the same partition.
std::vector<int> AssignShards(const std::vector<double>& seconds, int total);

}  // namespace nstest

#endif  // NSTEST_RUNNER_SHARDS_H_
