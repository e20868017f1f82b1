#include "nstest/checks.h"

#include <fmt/format.h>

namespace nstest {

CheckResult CheckCount(const std::string& what, int64_t expected, int64_t actual) {
  return {expected == actual, what, std::to_string(expected), std::to_string(actual)};
}

CheckResult CheckBounds(const std::string& what, std::optional<int64_t> min,
                        std::optional<int64_t> max, int64_t actual) {
  if (min && max && *min == *max) return CheckCount(what, *min, actual);
  bool ok = (!min || actual >= *min) && (!max || actual <= *max);
  std::string expected = min && max ? fmt::format("{} to {}", *min, *max)
                         : min      ? fmt::format("at least {}", *min)
                         : max      ? fmt::format("at most {}", *max)
                                    : "any value";
  return {ok, what, expected, std::to_string(actual), true};
}

CheckResult CheckAcceptQueue(const ListenerQueues& q, int64_t n) {
  return CheckCount("Recv-Q (accept queue)", n, q.accept_queue);
}

CheckResult CheckBacklog(const ListenerQueues& q, int64_t n) {
  return CheckCount("Send-Q (backlog)", n, q.max_accept_queue);
}

CheckResult CheckSynRecv(const ListenerQueues& q, int64_t n) {
  return CheckCount("SYN-RECV", n, q.syn_recv);
}

CheckResult CheckCounter(const CounterDelta& d, const std::string& name, std::optional<int64_t> min,
                         std::optional<int64_t> max) {
  return CheckBounds(fmt::format("{} in netns '{}'", name, d.netns_name()), min, max, d.Get(name));
}

}  // namespace nstest
