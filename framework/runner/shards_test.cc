#include "runner/shards.h"

#include <gtest/gtest.h>

#include <map>

#include "nstest/error.h"

namespace nstest {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::string ErrorOf(const std::string& flag, int shards, std::map<std::string, std::string> vars) {
  try {
    ChooseShard(flag, shards, Env(std::move(vars)));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChooseShardTest, EachSchedulersVariables) {
  ShardChoice none = ChooseShard("", 0, Env({}));
  EXPECT_EQ(none.total, 1);
  EXPECT_EQ(none.source, "");
  ShardChoice flag = ChooseShard("1/4", 0, Env({{"GTEST_SHARD_INDEX", "3"}}));
  EXPECT_EQ(flag.index, 1);
  EXPECT_EQ(flag.total, 4);
  EXPECT_EQ(flag.source, "--shard 1/4");  // the flag wins over the environment
  ShardChoice gtest =
      ChooseShard("", 0, Env({{"GTEST_SHARD_INDEX", "2"}, {"GTEST_TOTAL_SHARDS", "3"}}));
  EXPECT_EQ(gtest.index, 2);
  EXPECT_EQ(gtest.total, 3);
  EXPECT_EQ(gtest.source, "GTEST_SHARD_INDEX=2, GTEST_TOTAL_SHARDS=3");
  ShardChoice bazel =
      ChooseShard("", 0, Env({{"TEST_SHARD_INDEX", "0"}, {"TEST_TOTAL_SHARDS", "2"}}));
  EXPECT_EQ(bazel.total, 2);
  // A Slurm array --array=10-16:2 has tasks 10, 12, 14, 16.
  ShardChoice slurm = ChooseShard("", 0,
                                  Env({{"SLURM_ARRAY_TASK_ID", "14"},
                                       {"SLURM_ARRAY_TASK_MIN", "10"},
                                       {"SLURM_ARRAY_TASK_STEP", "2"},
                                       {"SLURM_ARRAY_TASK_COUNT", "4"}}));
  EXPECT_EQ(slurm.index, 2);
  EXPECT_EQ(slurm.total, 4);
  ShardChoice k8s = ChooseShard("", 5, Env({{"JOB_COMPLETION_INDEX", "4"}}));
  EXPECT_EQ(k8s.index, 4);
  EXPECT_EQ(k8s.total, 5);
  EXPECT_EQ(k8s.source, "JOB_COMPLETION_INDEX=4 of --shards 5");
  ShardChoice k8s_gtest = ChooseShard("", 0,
                                      Env({{"JOB_COMPLETION_INDEX", "1"},
                                           {"GTEST_SHARD_INDEX", "1"},
                                           {"GTEST_TOTAL_SHARDS", "3"}}));
  EXPECT_EQ(k8s_gtest.index, 1);
  EXPECT_EQ(k8s_gtest.total, 3);
  // GitLab counts from 1, and sets CI_NODE_TOTAL=1 in jobs without `parallel`.
  ShardChoice gitlab = ChooseShard("", 0, Env({{"CI_NODE_INDEX", "1"}, {"CI_NODE_TOTAL", "3"}}));
  EXPECT_EQ(gitlab.index, 0);
  EXPECT_EQ(gitlab.total, 3);
  EXPECT_EQ(ChooseShard("", 0, Env({{"CI_NODE_TOTAL", "1"}})).total, 1);
  // Two sources that agree are one.
  ShardChoice both = ChooseShard("", 0,
                                 Env({{"CI_NODE_INDEX", "2"},
                                      {"CI_NODE_TOTAL", "3"},
                                      {"GTEST_SHARD_INDEX", "1"},
                                      {"GTEST_TOTAL_SHARDS", "3"}}));
  EXPECT_EQ(both.index, 1);
}

TEST(ChooseShardTest, BadOrDisagreeingSourcesAreUsageErrors) {
  EXPECT_EQ(ErrorOf("4/4", 0, {}), "--shard 4/4: shard index 4 is not below the shard count 4");
  EXPECT_EQ(ErrorOf("1-4", 0, {}), "--shard 1-4: give INDEX/COUNT, the index from 0 (e.g. 0/4)");
  EXPECT_EQ(ErrorOf("0/0", 0, {}), "--shard 0/0: the shard count must be 1 to 100000");
  EXPECT_EQ(ErrorOf("", 0, {{"GTEST_SHARD_INDEX", "1"}}),
            "$GTEST_SHARD_INDEX is set but not $GTEST_TOTAL_SHARDS");
  EXPECT_EQ(ErrorOf("", 0, {{"GTEST_SHARD_INDEX", "x"}, {"GTEST_TOTAL_SHARDS", "2"}}),
            "$GTEST_SHARD_INDEX: 'x' is not a count");
  EXPECT_EQ(ErrorOf("", 0, {{"JOB_COMPLETION_INDEX", "2"}}),
            "$JOB_COMPLETION_INDEX=2 (a Kubernetes Indexed Job) says which shard this is, but the "
            "Job gives no total: pass --shards N, N being the Job's completions");
  EXPECT_EQ(ErrorOf("", 0, {{"CI_NODE_INDEX", "0"}, {"CI_NODE_TOTAL", "2"}}),
            "$CI_NODE_INDEX=0 counts from 1");
  EXPECT_EQ(
      ErrorOf("", 0,
              {{"SLURM_ARRAY_TASK_ID", "1"},
               {"SLURM_ARRAY_TASK_MIN", "0"},
               {"SLURM_ARRAY_TASK_COUNT", "4"},
               {"GTEST_SHARD_INDEX", "2"},
               {"GTEST_TOTAL_SHARDS", "4"}}),
      "two schedulers say different shards: GTEST_SHARD_INDEX=2, GTEST_TOTAL_SHARDS=4 (shard 2 "
      "of 4) and SLURM_ARRAY_TASK_ID=1 of SLURM_ARRAY_TASK_COUNT=4 from SLURM_ARRAY_TASK_MIN=0 "
      "(shard 1 of 4); unset one, or say which with --shard I/N");
  EXPECT_EQ(ErrorOf("", 3, {}),
            "--shards 3 needs the index of this shard: --shard I/3, or $JOB_COMPLETION_INDEX");
  EXPECT_EQ(ErrorOf("1/4", 3, {}), "--shard 1/4 and --shards 3 disagree");
}

TEST(AssignShardsTest, LongestFirstToTheLeastLoaded) {
  EXPECT_EQ(AssignShards({1, 2, 3}, 1), (std::vector<int>{0, 0, 0}));
  // Equal cases: round robin.
  EXPECT_EQ(AssignShards({1, 1, 1, 1, 1}, 2), (std::vector<int>{0, 1, 0, 1, 0}));
  // 8 s alone on one shard; the rest share the other.
  EXPECT_EQ(AssignShards({1, 8, 3, 2, 2}, 2), (std::vector<int>{1, 0, 1, 1, 1}));
  // More shards than cases: some are empty.
  EXPECT_EQ(AssignShards({5, 1}, 4), (std::vector<int>{0, 1}));
}

}  // namespace
}  // namespace nstest
