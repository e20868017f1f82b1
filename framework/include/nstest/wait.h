// Waiting for a condition with a deadline.
#ifndef NSTEST_WAIT_H_
#define NSTEST_WAIT_H_

#include <chrono>
#include <functional>
#include <string>

namespace nstest {

// Re-evaluates `condition` until it holds or `timeout` passes. For kernel state that has no
// notification (counters, queue lengths read through sock_diag) the check is repeated with a
// backoff from 50 us up to 5 ms, so a met condition is seen within about 5 ms and an idle wait
// costs little CPU. Throws TimeoutError:
//   "wait for <what>: timed out after 2000 ms; last seen: <seen()>"
void WaitUntil(const std::string& what, std::chrono::milliseconds timeout,
               const std::function<bool()>& condition,
               const std::function<std::string()>& seen = nullptr);

}  // namespace nstest

#endif  // NSTEST_WAIT_H_
