// The nstest subcommands; main.cc only parses flags and calls these.
#ifndef NSTEST_CLI_COMMANDS_H_
#define NSTEST_CLI_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace nstest::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
// `nstest run` selected no case (pytest's "no tests collected"); a shard left empty because there
// are more shards than cases is not this, but an empty run that exits 0.
inline constexpr int kExitNoCases = 5;

struct SuiteOptions {
  std::vector<std::string> paths;
  std::string filter = "*";
  std::vector<std::string> cases;  // --case: exact full names
  std::string shard;               // --shard I/N
  int shards = 0;                  // --shards N
  std::string jobs = "auto";       // N, or "auto"
  int repeat = 1;
  bool shuffle = false;
  uint32_t seed = 0;
  std::string xml;
  std::string ktap;
  std::string html;
  bool timeline = false;  // record timelines without --html (for `nstest report --html` later)
  std::vector<std::string> sysctls;
  std::vector<std::string> sysctl_files;
  bool keep_namespaces = false;
  std::string artifacts = "nstest-artifacts";
  bool list_only = false;
  bool estimates = false;  // list: each case's expected seconds too
  // Run twice, without and with the --sysctl/--sysctl-file overrides, and print what differs.
  bool compare_to_defaults = false;
  std::string cost_file;  // "" : $NSTEST_COST_FILE or ~/.cache/nstest/costs.txt
  bool color = false;
};

// `nstest run`: 0 all passed (skips allowed), 1 a case failed, 2 usage or suite error, 5 no case
// selected.
int RunSuites(std::ostream& out, const SuiteOptions& options);
// `nstest list`, `nstest run --list`.
int RunList(std::ostream& out, const SuiteOptions& options);
// `nstest check`: validates; 0 or 2.
int RunCheck(std::ostream& out, const SuiteOptions& options);

struct DemoOptions {
  int backlog = 3;
  uint16_t port = 8080;
};

// Proves backlog+1 on the real kernel in two fresh namespaces and prints what it saw.
// Returns kExitOk when the kernel behaved as expected, kExitFailed when not, kExitUsage when this
// machine cannot create namespaces.
int RunDemo(std::ostream& out, const DemoOptions& options);

// Prints the step reference (Markdown), derived from the step registry.
int RunSteps(std::ostream& out);

// Prints the preflight report. Returns kExitOk if namespaces can be created, else kExitFailed.
int RunDoctor(std::ostream& out);

// `nstest compare BASE NEW`: prints the cases whose verdict or observed values differ; with
// `table`, any number of reports side by side as a Markdown table. 0 when nothing differs, 1 when
// something does, 2 when a report cannot be read (or `table` is not given for more than two).
// `html`, if not empty: also write the comparison of two reports as an HTML page there.
// `fail_on`: the classes of change (ChangeClassName(), comma-separated) that make the exit status
// 1;
// "" or "any": every difference.
int RunCompare(std::ostream& out, const std::vector<std::string>& reports, bool table,
               const std::string& html, const std::string& fail_on);

struct ReportOptions {
  std::vector<std::string> reports;  // JUnit reports of nstest runs
  std::string ktap;                  // write them as one KTAP report here
  std::string html;                  // and/or as one HTML page here
};

struct MergeOptions {
  std::vector<std::string> reports;  // the shards' JUnit reports
  std::string xml;                   // the merged report
  std::string ktap;
  std::string html;
};

// `nstest merge SHARD.xml... --xml OUT`: one report with every case of the plan once. 0 when every
// case passed or was skipped and every shard reported all it owed; 1 when a case failed or is
// missing, or one was reported twice; 2 for unreadable reports or reports of other plans.
int RunMerge(std::ostream& out, const MergeOptions& options);

// `nstest report --ktap OUT --html OUT REPORT...`: 0, or 2 for unreadable input.
int RunReport(std::ostream& out, const ReportOptions& options);

struct ServeOptions {
  uint16_t port = 0;
  std::string address = "0.0.0.0";
  int backlog = 128;        // passed to listen() as given (-1 included)
  int accept_after_ms = 0;  // accept nothing for this long after listening
  int sockets = 1;          // more than one: a SO_REUSEPORT group
  bool ipv6_only = false;
};

// `nstest serve`: a TCP echo server in the current namespace until SIGTERM or SIGINT (then exit
// 0); kExitFailed if it cannot listen.
int RunServe(std::ostream& out, const ServeOptions& options);

// Removes leftover debug bind mounts of finished runs (all of them with `all`).
int RunClean(std::ostream& out, bool all);

}  // namespace nstest::cli

#endif  // NSTEST_CLI_COMMANDS_H_
