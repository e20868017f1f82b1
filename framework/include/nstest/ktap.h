// The report in KTAP version 1 (Documentation/dev-tools/ktap.rst), as the kernel's selftests write
// it, so that kernel CI systems that read kselftest output read nstest's.
#ifndef NSTEST_KTAP_H_
#define NSTEST_KTAP_H_

#include <string>
#include <vector>

#include "nstest/junit.h"

namespace nstest {

// One test per suite, one subtest per case (indented two spaces):
//   KTAP version 1
//   1..2
//     KTAP version 1
//     # Subtest: backlog
//     1..2
//     ok 1 plus_one/backlog=0
//     # suites/backlog.toml:27:3: Recv-Q (accept queue): expected 2, got 1
//     not ok 2 plus_one/backlog=1
//   not ok 1 backlog
//     ...
//   ok 2 overflow
// A skipped case is "ok N name # SKIP reason", an error "not ok N name # ERROR message" ("#
// TIMEOUT" for a case killed at its timeout); a failure's and an error's details are diagnostic
// lines before the result. A suite fails if a case failed or erred; a suite whose cases were all
// skipped is "ok N name # SKIP", and a suite none of whose cases was selected is left out.
// Descriptions never hold '#' (it becomes '_').
std::string RenderKtap(const std::vector<JUnitSuite>& suites);

}  // namespace nstest

#endif  // NSTEST_KTAP_H_
