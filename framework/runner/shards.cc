#include "runner/shards.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <optional>

#include "nstest/error.h"

namespace nstest {
namespace {

// At most this many shards: one case each of a run's 100000 is already more than anyone runs.
constexpr long kMaxShards = 100000;

std::optional<long> Number(const char* text, const std::string& what) {
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(text, &end, 10);
  if (*end != '\0' || n < 0 || n > 10 * kMaxShards) {
    throw Error(fmt::format("{}: '{}' is not a count", what, text));
  }
  return n;
}

// One scheduler's pair of variables: both set, or neither.
std::optional<ShardChoice> Pair(const EnvLookup& env, const char* index_var, const char* total_var,
                                long index_base) {
  std::optional<long> index = Number(env(index_var), fmt::format("${}", index_var));
  std::optional<long> total = Number(env(total_var), fmt::format("${}", total_var));
  if (!index && !total) return std::nullopt;
  if (!index) {
    // GitLab sets CI_NODE_TOTAL=1 in every job, and CI_NODE_INDEX only in `parallel` ones.
    if (*total == 1) return std::nullopt;
    throw Error(fmt::format("${} is set but not ${}", total_var, index_var));
  }
  if (!total) throw Error(fmt::format("${} is set but not ${}", index_var, total_var));
  if (*index < index_base) {
    throw Error(fmt::format("${}={} counts from {}", index_var, *index, index_base));
  }
  return ShardChoice{static_cast<int>(*index - index_base), static_cast<int>(*total),
                     fmt::format("{}={}, {}={}", index_var, *index, total_var, *total)};
}

std::optional<ShardChoice> Slurm(const EnvLookup& env) {
  std::optional<long> id = Number(env("SLURM_ARRAY_TASK_ID"), "$SLURM_ARRAY_TASK_ID");
  if (!id) return std::nullopt;
  std::optional<long> min = Number(env("SLURM_ARRAY_TASK_MIN"), "$SLURM_ARRAY_TASK_MIN");
  std::optional<long> count = Number(env("SLURM_ARRAY_TASK_COUNT"), "$SLURM_ARRAY_TASK_COUNT");
  std::optional<long> step = Number(env("SLURM_ARRAY_TASK_STEP"), "$SLURM_ARRAY_TASK_STEP");
  if (!min || !count) {
    throw Error(
        "$SLURM_ARRAY_TASK_ID is set but not $SLURM_ARRAY_TASK_MIN and "
        "$SLURM_ARRAY_TASK_COUNT");
  }
  long stride = step.value_or(1) > 0 ? step.value_or(1) : 1;
  if (*id < *min || (*id - *min) % stride != 0) {
    throw Error(fmt::format("$SLURM_ARRAY_TASK_ID={} is not a task of the array from {} by {}", *id,
                            *min, stride));
  }
  return ShardChoice{static_cast<int>((*id - *min) / stride), static_cast<int>(*count),
                     fmt::format("SLURM_ARRAY_TASK_ID={} of SLURM_ARRAY_TASK_COUNT={} from "
                                 "SLURM_ARRAY_TASK_MIN={}",
                                 *id, *count, *min)};
}

std::optional<ShardChoice> Kubernetes(const EnvLookup& env, int shards) {
  std::optional<long> index = Number(env("JOB_COMPLETION_INDEX"), "$JOB_COMPLETION_INDEX");
  if (!index) return std::nullopt;
  if (shards < 1) {
    throw Error(fmt::format(
        "$JOB_COMPLETION_INDEX={} (a Kubernetes Indexed Job) says which shard this is, but the "
        "Job gives no total: pass --shards N, N being the Job's completions",
        *index));
  }
  return ShardChoice{static_cast<int>(*index), shards,
                     fmt::format("JOB_COMPLETION_INDEX={} of --shards {}", *index, shards)};
}

ShardChoice Checked(ShardChoice c) {
  if (c.total < 1 || c.total > kMaxShards) {
    throw Error(fmt::format("{}: the shard count must be 1 to {}", c.source, kMaxShards));
  }
  if (c.index >= c.total) {
    throw Error(fmt::format("{}: shard index {} is not below the shard count {}", c.source, c.index,
                            c.total));
  }
  return c;
}

}  // namespace

ShardChoice ChooseShard(const std::string& flag, int shards, const EnvLookup& env) {
  if (!flag.empty()) {
    size_t slash = flag.find('/');
    std::optional<long> index, total;
    try {
      if (slash != std::string::npos) {
        index = Number(flag.substr(0, slash).c_str(), "--shard");
        total = Number(flag.substr(slash + 1).c_str(), "--shard");
      }
    } catch (const Error&) {
    }
    if (!index || !total) {
      throw Error(fmt::format("--shard {}: give INDEX/COUNT, the index from 0 (e.g. 0/4)", flag));
    }
    if (shards > 0 && shards != *total) {
      throw Error(fmt::format("--shard {} and --shards {} disagree", flag, shards));
    }
    return Checked({static_cast<int>(*index), static_cast<int>(*total), "--shard " + flag});
  }
  std::vector<ShardChoice> found;
  for (std::optional<ShardChoice> c :
       {Pair(env, "GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", 0),
        Pair(env, "TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", 0), Slurm(env),
        Pair(env, "CI_NODE_INDEX", "CI_NODE_TOTAL", 1)}) {
    if (c) found.push_back(*c);
  }
  // A Kubernetes Job gives no total: --shards, or another scheduler's, gives it.
  if (std::optional<ShardChoice> k8s =
          Kubernetes(env, shards > 0 || found.empty() ? shards : found[0].total)) {
    found.push_back(*k8s);
  }
  for (const ShardChoice& c : found) {
    if (c.index != found[0].index || c.total != found[0].total) {
      throw Error(
          fmt::format("two schedulers say different shards: {} (shard {} of {}) and {} "
                      "(shard {} of {}); unset one, or say which with --shard I/N",
                      found[0].source, found[0].index, found[0].total, c.source, c.index, c.total));
    }
  }
  if (found.empty()) {
    if (shards > 1) {
      throw Error(
          fmt::format("--shards {} needs the index of this shard: --shard I/{}, or "
                      "$JOB_COMPLETION_INDEX",
                      shards, shards));
    }
    return ShardChoice{};
  }
  if (shards > 0 && shards != found[0].total) {
    throw Error(fmt::format("{} and --shards {} disagree", found[0].source, shards));
  }
  return Checked(found[0]);
}

std::vector<int> AssignShards(const std::vector<double>& seconds, int total) {
  std::vector<int> owner(seconds.size(), 0);
  if (total <= 1) return owner;
  std::vector<size_t> order(seconds.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return seconds[a] > seconds[b]; });
  std::vector<double> load(static_cast<size_t>(total), 0.0);
  std::vector<size_t> cases(static_cast<size_t>(total), 0);
  for (size_t i : order) {
    // The least loaded shard; among equals the one with fewest cases, then the lowest index.
    size_t best = 0;
    for (size_t s = 1; s < load.size(); ++s) {
      if (load[s] < load[best] || (load[s] == load[best] && cases[s] < cases[best])) best = s;
    }
    owner[i] = static_cast<int>(best);
    load[best] += seconds[i];
    ++cases[best];
  }
  return owner;
}

}  // namespace nstest
