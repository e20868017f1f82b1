// The checks both front ends make, worded once: a suite's `expect` step and a GoogleTest matcher
// print the same sentence for the same check, e.g.
//   Recv-Q (accept queue): expected 5, got 3
//   TcpExtListenDrops in netns 'server': expected 2, got 0
#ifndef NSTEST_CHECKS_H_
#define NSTEST_CHECKS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "nstest/counters.h"
#include "nstest/sockdiag.h"

namespace nstest {

struct CheckResult {
  bool ok = false;
  std::string what{};      // "Recv-Q (accept queue)"
  std::string expected{};  // "5", "2 to 4", "at least 1"
  std::string actual{};    // "3"
  bool range = false;      // the expectation is a range ("2 to 4"), not one value

  // "Recv-Q (accept queue): expected 5, got 3".
  std::string Failure() const { return what + ": expected " + expected + ", got " + actual; }
};

// An observed value that a range allowed, as the report records it: "3 (within at least 2)".
std::string WithinRange(const std::string& value, const std::string& range);
// Whether two observations of the same thing say the same: equal, or both within one range (an
// older report recorded such a value as "within <range>" alone).
bool SameObservation(const std::string& a, const std::string& b);

// An exact count: "<what>: expected <n>, got <got>".
CheckResult CheckCount(const std::string& what, int64_t expected, int64_t actual);
// A count within bounds (either may be open): "expected 2 to 4", "expected at least 2".
CheckResult CheckBounds(const std::string& what, std::optional<int64_t> min,
                        std::optional<int64_t> max, int64_t actual);

// A listener's accept queue (`ss` Recv-Q), its effective backlog (Send-Q) and its SYN-RECV
// request sockets.
CheckResult CheckAcceptQueue(const ListenerQueues& q, int64_t n);
CheckResult CheckBacklog(const ListenerQueues& q, int64_t n);
CheckResult CheckSynRecv(const ListenerQueues& q, int64_t n);
// The change of counter `name`: exactly `min` when `min` == `max`, else within them.
CheckResult CheckCounter(const CounterDelta& d, const std::string& name, std::optional<int64_t> min,
                         std::optional<int64_t> max);

}  // namespace nstest

#endif  // NSTEST_CHECKS_H_
