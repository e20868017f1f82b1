// nstest: verifies Linux kernel networking behaviour inside isolated network namespaces.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  namespace cli = nstest::cli;
  CLI::App app{"nstest: verify Linux kernel networking behaviour in isolated network namespaces"};
  app.set_version_flag("--version", std::string("nstest ") + NSTEST_VERSION);
  app.require_subcommand(1);

  cli::SuiteOptions suites;
  auto add_suite_flags = [&](CLI::App* cmd, bool running) {
    cmd->add_option("paths", suites.paths, "suite files or directories (default: suites)");
    cmd->add_option("--filter", suites.filter, "gtest-style filter, e.g. 'backlog.*:-*slow*'");
    cmd->add_option("--case", suites.cases,
                    "select this case by its exact full name (no pattern; may be repeated)");
    cmd->add_option("--shard", suites.shard,
                    "run shard I of N (I from 0), e.g. 1/4 (default: from the scheduler's "
                    "variables: GTEST_*, TEST_* (Bazel), SLURM_ARRAY_*, JOB_COMPLETION_INDEX, "
                    "CI_NODE_*)");
    cmd->add_option("--shards", suites.shards,
                    "the shard count where the scheduler gives none (a Kubernetes Indexed Job)")
        ->check(CLI::Range(1, 100000));
    if (!running) return;
    cmd->add_option("-j,--jobs", suites.jobs,
                    "cases run at once: N (1-256), or auto: as many as keep the CPU busy")
        ->capture_default_str();
    cmd->add_option("--repeat", suites.repeat, "run every case N times")
        ->check(CLI::Range(1, 10000));
    cmd->add_flag("--shuffle", suites.shuffle, "run the cases in a random order");
    cmd->add_option("--seed", suites.seed, "seed for --shuffle (default: from the clock)");
    cmd->add_option("--xml", suites.xml, "write a JUnit report here (default: $XML_OUTPUT_FILE)");
    cmd->add_option("--ktap", suites.ktap, "write the report in KTAP (kselftest's format) here");
    cmd->add_option("--html", suites.html, "write the report as one self-contained HTML page");
    cmd->add_flag("--timeline", suites.timeline,
                  "record each case's timeline without --html (for nstest report --html)");
    cmd->add_option("--sysctl", suites.sysctls, "KEY=VALUE applied to every test namespace");
    cmd->add_option("--sysctl-file", suites.sysctl_files, "a sysctl.d file applied likewise");
    cmd->add_flag("--keep-namespaces", suites.keep_namespaces,
                  "bind-mount a failed case's namespaces for `ip netns exec`");
    cmd->add_option("--artifacts", suites.artifacts, "where failed cases' pcaps go")
        ->capture_default_str();
    cmd->add_flag("--list", suites.list_only, "list the cases instead of running them");
    cmd->add_flag("--compare-to-defaults", suites.compare_to_defaults,
                  "run without and with the --sysctl/--sysctl-file overrides; print what differs");
    cmd->add_option("--cost-file", suites.cost_file,
                    "case durations of earlier runs, for longest-first scheduling "
                    "(default: $NSTEST_COST_FILE or ~/.cache/nstest/costs.txt; 'none' to skip)");
  };
  CLI::App* run_cmd = app.add_subcommand("run", "run suites and write a JUnit report");
  add_suite_flags(run_cmd, true);
  CLI::App* list_cmd = app.add_subcommand("list", "list the cases of suites");
  add_suite_flags(list_cmd, false);
  list_cmd->add_flag("--estimates", suites.estimates,
                     "each case's expected seconds, as shards are balanced without a cost file");
  CLI::App* check_cmd = app.add_subcommand("check", "validate suites without running them");
  add_suite_flags(check_cmd, false);

  cli::DemoOptions demo;
  CLI::App* demo_cmd = app.add_subcommand("demo", "prove backlog+1 in two fresh namespaces");
  demo_cmd->add_option("--backlog", demo.backlog, "listen() backlog")->check(CLI::Range(0, 64));
  demo_cmd->add_option("--port", demo.port, "server port")->check(CLI::Range(1, 65535));

  CLI::App* doctor_cmd = app.add_subcommand("doctor", "report what this machine lets nstest do");
  CLI::App* steps_cmd =
      app.add_subcommand("steps", "print the step reference: every kind, field, type, default");

  std::vector<std::string> compare_reports;
  bool compare_table = false;
  CLI::App* compare_cmd =
      app.add_subcommand("compare", "what differs between two runs' JUnit reports");
  compare_cmd->add_option("reports", compare_reports, "BASE.xml NEW.xml (with --table, any number)")
      ->required()
      ->expected(2, 64);
  compare_cmd->add_flag("--table", compare_table,
                        "every report side by side: a Markdown table of what is not the same");
  std::string compare_html;
  compare_cmd->add_option("--html", compare_html, "also write the comparison as an HTML page");
  std::string compare_fail_on;
  compare_cmd->add_option("--fail-on", compare_fail_on,
                          "exit 1 only for these classes of change: regression, fix, verdict, "
                          "changed, new, missing, infrastructure (comma-separated; default: any)");

  cli::MergeOptions merge;
  CLI::App* merge_cmd = app.add_subcommand(
      "merge", "put the JUnit reports of a sharded run back together, noticing missing shards");
  merge_cmd->add_option("reports", merge.reports, "the shards' JUnit reports")->required();
  merge_cmd->add_option("--xml", merge.xml, "write the merged JUnit report here")->required();
  merge_cmd->add_option("--ktap", merge.ktap, "also write it in KTAP here");
  merge_cmd->add_option("--html", merge.html, "also write it as one HTML page here");

  cli::ReportOptions report;
  CLI::App* report_cmd =
      app.add_subcommand("report", "turn JUnit reports of runs into KTAP or an HTML page");
  report_cmd->add_option("reports", report.reports, "JUnit reports")->required();
  report_cmd->add_option("--ktap", report.ktap, "write one KTAP report here");
  report_cmd->add_option("--html", report.html, "write one HTML page here");

  cli::ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "a TCP echo server for suites to put under test (start it with {nstest})");
  serve_cmd->add_option("--port", serve.port, "the port")->required()->check(CLI::Range(1, 65535));
  serve_cmd->add_option("--address", serve.address, "the address to bind (:: for IPv6)")
      ->capture_default_str();
  serve_cmd->add_option("--backlog", serve.backlog, "passed to listen() as given")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 20));
  serve_cmd
      ->add_option("--accept-after-ms", serve.accept_after_ms,
                   "accept nothing for this long after listening")
      ->check(CLI::Range(0, 600000));
  serve_cmd->add_option("--sockets", serve.sockets, "listening sockets (a SO_REUSEPORT group)")
      ->check(CLI::Range(1, 64));
  serve_cmd->add_flag("--ipv6-only", serve.ipv6_only, "IPV6_V6ONLY on an IPv6 address");

  bool clean_all = false;
  CLI::App* clean_cmd = app.add_subcommand("clean", "remove leftover nstest debug bind mounts");
  clean_cmd->add_flag("--all", clean_all, "also remove mounts of runs that are still alive");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  suites.color = ::isatty(STDOUT_FILENO) != 0;
  if (*run_cmd)
    return suites.list_only ? cli::RunList(std::cout, suites) : cli::RunSuites(std::cout, suites);
  if (*list_cmd) return cli::RunList(std::cout, suites);
  if (*check_cmd) return cli::RunCheck(std::cout, suites);
  if (*demo_cmd) return cli::RunDemo(std::cout, demo);
  if (*doctor_cmd) return cli::RunDoctor(std::cout);
  if (*steps_cmd) return cli::RunSteps(std::cout);
  if (*clean_cmd) return cli::RunClean(std::cout, clean_all);
  if (*serve_cmd) return cli::RunServe(std::cout, serve);
  if (*compare_cmd) {
    return cli::RunCompare(std::cout, compare_reports, compare_table, compare_html,
                           compare_fail_on);
  }
  if (*report_cmd) return cli::RunReport(std::cout, report);
  if (*merge_cmd) return cli::RunMerge(std::cout, merge);
  return cli::kExitUsage;
}
