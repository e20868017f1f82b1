// nstest: verifies Linux kernel networking behaviour inside isolated network namespaces.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  namespace cli = nstest::cli;
  CLI::App app{"nstest: verify Linux kernel networking behaviour in isolated network namespaces"};
  app.require_subcommand(1);

  cli::DemoOptions demo;
  CLI::App* demo_cmd = app.add_subcommand("demo", "prove backlog+1 in two fresh namespaces");
  demo_cmd->add_option("--backlog", demo.backlog, "listen() backlog")->check(CLI::Range(0, 64));
  demo_cmd->add_option("--port", demo.port, "server port")->check(CLI::Range(1, 65535));

  CLI::App* doctor_cmd = app.add_subcommand("doctor", "report what this machine lets nstest do");

  bool clean_all = false;
  CLI::App* clean_cmd = app.add_subcommand("clean", "remove leftover nstest debug bind mounts");
  clean_cmd->add_flag("--all", clean_all, "also remove mounts of runs that are still alive");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  if (*demo_cmd) return cli::RunDemo(std::cout, demo);
  if (*doctor_cmd) return cli::RunDoctor(std::cout);
  if (*clean_cmd) return cli::RunClean(std::cout, clean_all);
  return cli::kExitUsage;
}
