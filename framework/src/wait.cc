#include "nstest/wait.h"

#include <fmt/format.h>

#include <thread>

#include "nstest/error.h"
#include "src/wait_util.h"

namespace nstest {

void WaitUntil(const std::string& what, std::chrono::milliseconds timeout,
               const std::function<bool()>& condition, const std::function<std::string()>& seen) {
  Deadline deadline(timeout);
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    if (condition()) return;
    if (deadline.Passed()) break;
    auto left = deadline.end() - Deadline::Clock::now();
    std::this_thread::sleep_for(std::min<Deadline::Clock::duration>(pause, left));
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  throw TimeoutError(fmt::format("wait for {}: timed out after {} ms{}", what, timeout.count(),
                                 seen ? "; last seen: " + seen() : std::string()));
}

}  // namespace nstest
