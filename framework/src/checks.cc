#include "nstest/checks.h"

#include <fmt/format.h>

namespace nstest {

namespace {

constexpr char kWithin[] = "within ";

// The range of an observation a range allowed ("3 (within 2 to 4)" or, from an older report,
// "within 2 to 4"), or "" for a plain value.
std::string RangeOf(const std::string& v) {
  if (v.rfind(kWithin, 0) == 0) return v.substr(sizeof kWithin - 1);
  size_t at = v.find(" (within ");
  if (at == std::string::npos || v.back() != ')') return "";
  return v.substr(at + 9, v.size() - at - 10);
}

}  // namespace

std::string WithinRange(const std::string& value, const std::string& range) {
  return fmt::format("{} ({}{})", value, kWithin, range);
}

bool SameObservation(const std::string& a, const std::string& b) {
  if (a == b) return true;
  std::string range = RangeOf(a);
  return !range.empty() && range == RangeOf(b);
}

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
