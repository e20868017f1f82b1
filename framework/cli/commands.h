// The nstest subcommands; main.cc only parses flags and calls these.
#ifndef NSTEST_CLI_COMMANDS_H_
#define NSTEST_CLI_COMMANDS_H_

#include <cstdint>
#include <ostream>

namespace nstest::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct DemoOptions {
  int backlog = 3;
  uint16_t port = 8080;
};

// Proves backlog+1 on the real kernel in two fresh namespaces and prints what it saw.
// Returns kExitOk when the kernel behaved as expected, kExitFailed when not, kExitUsage when this
// machine cannot create namespaces.
int RunDemo(std::ostream& out, const DemoOptions& options);

// Prints the preflight report. Returns kExitOk if namespaces can be created, else kExitFailed.
int RunDoctor(std::ostream& out);

// Removes leftover debug bind mounts of finished runs (all of them with `all`).
int RunClean(std::ostream& out, bool all);

}  // namespace nstest::cli

#endif  // NSTEST_CLI_COMMANDS_H_
