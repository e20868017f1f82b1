// How long a case will take, from its own steps: what it waits out (deadlines, timeouts it expects
// to reach, intervals it measures) and the kernel timers its sysctls imply. Used to run the
// longest cases first and to balance shards when no durations of earlier runs are at hand.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "nstest/error.h"
#include "nstest/suite.h"

namespace nstest {
namespace {

// Building and removing a case's namespaces, links and processes.
constexpr double kBaseSeconds = 0.1;

class Estimator {
 public:
  explicit Estimator(const Case& c) : c_(c) {
    for (const SysctlSetting& s : c.suite->sysctls) sysctls_[s.netns + "/" + s.key] = s.value;
    for (const SysctlSetting& s : c.test->sysctls) sysctls_[s.netns + "/" + s.key] = s.value;
  }

  double Seconds() {
    // Labels whose connections the case expects to stay pending or time out: their connect step
    // waits out its deadline (or the SYN retransmissions, if sooner), a wait for timed_out the
    // rest of the retransmissions.
    for (const Step& s : c_.test->steps) {
      if (const auto* w = std::get_if<WaitStep>(&s.action)) {
        if (const auto* wc = std::get_if<WaitConnections>(&w->subject)) {
          if (wc->outcome == ConnectResult::kTimedOut) slow_.insert(wc->label);
        }
      } else if (const auto* e = std::get_if<ExpectStep>(&s.action)) {
        if (const auto* ec = std::get_if<ExpectConnections>(&e->subject)) {
          for (const auto& [outcome, bounds] : ec->counts) {
            if (outcome == ConnectResult::kPending || outcome == ConnectResult::kTimedOut) {
              slow_.insert(ec->label);
            }
          }
          if (ec->duration_min) duration_min_ = std::max(duration_min_, Ms(*ec->duration_min, 0));
        }
      }
    }
    // Then step by step, each sysctl step taking effect where it stands.
    double total = kBaseSeconds;
    for (const Step& s : c_.test->steps) total += StepSeconds(s);
    return std::max(total, kBaseSeconds + static_cast<double>(duration_min_) / 1000.0);
  }

 private:
  double StepSeconds(const Step& s) {
    if (const auto* sy = std::get_if<SysctlStep>(&s.action)) {
      sysctls_[sy->netns + "/" + sy->key] =
          sy->value ? *sy->value : std::to_string(Ms(*sy->expr, 0));
      return 0;
    }
    if (const auto* a = std::get_if<ConnectStep>(&s.action)) {
      from_[a->label] = a->from;
      double count = static_cast<double>(Ms(a->count, 1));
      double seconds = count * static_cast<double>(Ms(a->read_ms, 0)) / 1000.0;
      if (slow_.count(a->label) != 0) {
        double waited = std::min(static_cast<double>(Ms(a->deadline_ms, 5000)) / 1000.0,
                                 SynTimeoutSeconds(a->from));
        charged_[a->label] = waited;
        seconds += waited;
      }
      return seconds;
    }
    if (const auto* w = std::get_if<WaitStep>(&s.action)) {
      if (const auto* wc = std::get_if<WaitConnections>(&w->subject)) {
        if (wc->outcome != ConnectResult::kTimedOut) return 0;
        auto from = from_.find(wc->label);
        double timeout = SynTimeoutSeconds(from == from_.end() ? "client" : from->second);
        double waited = charged_[wc->label];
        charged_[wc->label] = std::max(waited, timeout);
        return std::max(0.0, timeout - waited);  // what the connect step did not wait out
      }
      // Other waits end when what they wait for happens; what makes it late is counted where
      // the case expects it (a deadline, intervals).
      return 0;
    }
    if (const auto* e = std::get_if<ExpectStep>(&s.action)) {
      if (const auto* ep = std::get_if<ExpectPackets>(&e->subject)) {
        double ms = 0;
        for (const Value& v : ep->intervals_ms) ms += static_cast<double>(Ms(v, 0));
        return ms / 1000.0;
      }
      return 0;
    }
    if (const auto* r = std::get_if<ReadStep>(&s.action)) {
      return static_cast<double>(Ms(r->timeout_ms, 0)) / 1000.0;
    }
    if (const auto* r = std::get_if<RunStep>(&s.action)) {
      if (r->argv.size() == 2 && r->argv[0] == "sleep") return std::atof(r->argv[1].c_str());
    }
    return 0;
  }

  // A value as the case will see it; `fallback` where it reads a sysctl or does not evaluate.
  int64_t Ms(const Value& v, int64_t fallback) const {
    try {
      Expression::Context ctx;
      ctx.names = &c_.params;
      ctx.sysctl = [](const Expression::SysctlRef&) -> std::optional<int64_t> {
        throw Error("a sysctl");
      };
      return v.expr.Evaluate(ctx);
    } catch (const Error&) {
      return fallback;
    }
  }

  int64_t Sysctl(const std::string& netns, const std::string& key, int64_t fallback) const {
    auto it = sysctls_.find(netns + "/" + key);
    if (it == sysctls_.end()) return fallback;
    char* end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    return end != it->second.c_str() ? v : fallback;
  }

  // The kernel's retransmission timeouts: `linear` of 1 s first (tcp_syn_linear_timeouts), then
  // doubling; the sum of the first `n`.
  static double Backoff(int64_t n, int64_t linear) {
    double total = 0, rto = 1;
    for (int64_t i = 0; i < std::min<int64_t>(n, 64); ++i) {
      total += rto;
      if (i >= linear) rto = std::min(rto * 2, 120.0);
    }
    return total;
  }

  // From connect() to ETIMEDOUT in `netns`: the first SYN and tcp_syn_retries retransmissions,
  // each after its timeout, and the last timeout.
  double SynTimeoutSeconds(const std::string& netns) const {
    int64_t retries = Sysctl(netns, "net.ipv4.tcp_syn_retries", 6);
    // The kernel's default (4 since 6.5) is left out: the classic doubling is the longer guess.
    int64_t linear = Sysctl(netns, "net.ipv4.tcp_syn_linear_timeouts", 0);
    return Backoff(retries + 1, linear);
  }

  const Case& c_;
  std::map<std::string, std::string> sysctls_;
  std::set<std::string> slow_;
  std::map<std::string, std::string> from_;
  std::map<std::string, double> charged_;  // seconds a label's connections were waited for
  int64_t duration_min_ = 0;
};

}  // namespace

double EstimateSeconds(const Case& c) { return Estimator(c).Seconds(); }

}  // namespace nstest
