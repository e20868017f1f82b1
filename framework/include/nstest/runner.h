// The suite runner behind `nstest run`: plans cases, runs each in its own child process under a
// supervisor (in parallel), prints gtest-like progress and writes the JUnit report.
//
//   Plan plan = MakePlan(options);       // discover, load, expand, filter, shard, order
//   int exit_code = RunPlan(plan, options, std::cout);
#ifndef NSTEST_RUNNER_H_
#define NSTEST_RUNNER_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "nstest/case_runner.h"
#include "nstest/suite.h"

namespace nstest {

struct RunnerOptions {
  std::vector<std::string> paths{};  // suite files, or directories searched for *.toml
  std::string filter = "*";          // gtest syntax: "pos1:pos2-neg1:neg2", * and ? wildcards
  // Exact full names ("server.backlog/backlog=-1"); when given, only these cases run (and only
  // those of them the filter keeps). A name that is no case is an Error.
  std::vector<std::string> cases{};
  // Which shard this run is, "I/N" (I from 0); "": from the scheduler's variables, if any
  // (runner/shards.h). `shards`: the count where the scheduler gives none (a Kubernetes Job).
  std::string shard{};
  int shards = 0;
  int jobs = 1;  // cases run at once; 0: as many as keep the CPU busy (-j auto, admission.h)
  int repeat = 1;
  bool shuffle = false;
  bool longest_first = true;  // false: file order (nstest list)
  uint32_t seed = 0;
  std::string xml_output{};   // JUnit report path; "" for none
  std::string ktap_output{};  // KTAP report path; "" for none
  std::string html_output{};  // HTML report path; "" for none
  RunOptions run{};
  // Durations of earlier runs ("seconds case" lines): without --shuffle, cases run longest first,
  // as ctest does with its cost data, so a long case never starts last; a case the file does not
  // know is estimated from its steps (EstimateSeconds()). Updated after the run, unless the run
  // is a shard. "" for none.
  std::string cost_file{};
  // Whether the user named the cost file (--cost-file, $NSTEST_COST_FILE): only then does it
  // balance shards, since every machine of a sharded run must compute the same partition.
  bool cost_file_given = false;
  bool color = false;
};

struct Plan {
  std::vector<std::unique_ptr<Suite>> suites{};
  std::vector<Case> cases{};  // filtered, sharded, repeated and shuffled, in run order
  size_t selected = 0;        // cases the filter selected, before sharding (times --repeat)
  int shard_index = 0;
  int total_shards = 1;
  std::string shard_source{};  // what chose the shard ("--shard 1/4", "SLURM_ARRAY_TASK_ID=..")
  // The whole plan, every shard's cases: each selected case's full name and the shard that owes
  // it, in file order, and an id of it (of the names, the shards and --repeat) that every shard's
  // report carries, so that `nstest merge` can tell the shards of one plan and what is missing.
  std::vector<std::pair<std::string, int>> owners{};
  int repeat = 1;
  std::string id{};
};

// Loads every suite (SuiteError on the first bad one), expands, filters and shards (--shard, or
// the scheduler's variables: ChooseShard() in runner/shards.h; touching Bazel's and gtest's shard
// status file when asked). Throws SuiteError, or Error for bad sharding flags or variables.
Plan MakePlan(const RunnerOptions& options);

// Runs a plan's cases for the supervisor. The real one forks each case's child from a launcher
// process that holds the plan; a test can drive RunPlan() with a fake.
class CaseLauncher {
 public:
  virtual ~CaseLauncher() = default;
  // Runs plan.cases[index] to its end and returns its result: a skip (the machine cannot run
  // it), a crash, a hang past the case's timeout or a kill is that result, never an exception.
  // Called from several threads at once.
  virtual CaseResult Run(size_t index) = 0;
  // Kills every running case, and any started from now on (the run is being stopped); their
  // Run() calls then return soon. Called from another thread than Run().
  virtual void KillAll() = 0;
};

// Runs the plan. Returns 0 when every case passed or was skipped, 1 otherwise, 128+N when signal
// N (SIGINT, SIGTERM) stopped it: running cases are then killed and reported as interrupted,
// cases not started are left out, and the report covers what ran. Never throws for a case's
// failure, crash or hang; those are that case's result.
int RunPlan(const Plan& plan, const RunnerOptions& options, std::ostream& out);
// The same with the cases run by `launcher`.
int RunPlan(const Plan& plan, const RunnerOptions& options, CaseLauncher& launcher,
            std::ostream& out);

// Whether `name` matches a gtest-style filter.
bool MatchesFilter(const std::string& name, const std::string& filter);

}  // namespace nstest

#endif  // NSTEST_RUNNER_H_
