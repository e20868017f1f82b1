// One suite case being executed: its Scenario (which owns the namespaces and everything made in
// them) and what the steps share while the case runs. What each step kind does is beside its
// fields, in its family's file under steps/. Private to the suite engine.
#ifndef NSTEST_SUITE_EXECUTION_H_
#define NSTEST_SUITE_EXECUTION_H_

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nstest/capture.h"
#include "nstest/case_runner.h"
#include "nstest/checks.h"
#include "nstest/impair.h"
#include "nstest/scenario.h"
#include "nstest/suite.h"
#include "suite/timeline.h"

namespace nstest {

// What a wait step waits for: when it is done, what was last seen, and the capture it reads.
// `done` may also end the wait early when the condition can no longer come true; `shortfall` then
// says why the step fails (empty: it did not).
struct Awaited {
  std::string subject;
  std::function<bool()> done;
  std::function<std::string()> seen;
  const std::string* capture = nullptr;
  std::function<std::string()> shortfall = nullptr;
};

// The report's timeline: a sample every 25 ms, at most 600 kept; a ladder shows at most 400
// packets of a capture (the report says how many there were).
inline constexpr std::chrono::milliseconds kTimelineEvery{25};
inline constexpr size_t kTimelineSamples = 600;
inline constexpr size_t kLadderPackets = 400;

class Execution {
 public:
  Execution(const Case& c, const RunOptions& o) : c_(c), o_(o) {}

  // Builds the scenario (namespaces and links), applies the sysctls and takes the counter
  // baselines.
  void Build();
  // Runs one step through its kind's entry in the registry; a failed expectation is recorded,
  // anything else throws.
  void Execute(const Step& s);
  // The scenario, once Build() made it (else nullptr).
  Scenario* scenario() { return sc_.get(); }
  const std::vector<std::string>& failures() const { return failures_; }
  std::vector<std::pair<std::string, std::string>> Properties() const;
  void Log(const std::string& line) { log_ += line + "\n"; }
  const std::string& log() const { return log_; }

  // --- For the steps (steps/*.cc). ---
  const Case& test_case() const { return c_; }
  Scenario& sc() { return *sc_; }
  Netns& Ns(const std::string& name) { return sc_->ns(name); }
  int64_t Eval(const Value& v);
  template <typename T>
  T EvalAs(const Value& v) {
    return static_cast<T>(Eval(v));
  }
  std::chrono::milliseconds Millis(const Value& v) { return std::chrono::milliseconds(Eval(v)); }
  // The address a step names in `netns`: "" the namespace's own (of `family`), "any" the
  // wildcard, else the literal.
  IpAddress AddressIn(const std::string& netns, const std::string& address, Family family);
  ListenerSelector Selector(const ListenerChoice& which);
  // A packet match as an nftables rule (drop, hold) and as a question to a capture.
  TcpMatch Match(Hook hook, const PacketMatch& m);
  PacketFilterSpec Spec(const PacketMatch& m);
  void Fail(const Step& s, const std::string& what) {
    failures_.push_back(fmt::format("{}: {}", s.where.ToString(), what));
  }
  // Records what a check saw (as an observation, for `nstest compare`) and fails the step if the
  // check failed. `about` goes before the check's own words in the observation's name where they
  // alone do not say which object it was (a listener's port). A value the suite allows to vary
  // (a range that holds) is observed with its range, "3 (within at least 2)": runs whose values
  // both lie within the same range compare equal (SameObservation()).
  void Report(const Step& s, const CheckResult& c, const std::string& about = "") {
    Observe(about.empty() ? c.what : about + ": " + c.what,
            c.range && c.ok ? WithinRange(c.actual, c.expected) : c.actual);
    if (!c.ok) Fail(s, c.Failure());
  }
  // A value the case saw, by a name stable across runs of the same suite ("TcpExtListenOverflows
  // in netns 'server'"); a second observation of the same name gets " #2" after it.
  void Observe(const std::string& name, const std::string& value);
  const std::vector<std::pair<std::string, std::string>>& observations() const {
    return observations_;
  }
  // For the report: how a step ended ("passed", "failed", "error") and how long it took.
  void RecordStep(const Step& s, const char* status, double ms);
  // Ends the timeline's sampling (the case's steps are over).
  void StopTimeline() {
    if (timeline_) timeline_->Stop();
  }
  // The packets the case's largest burst can make, to size a capture's buffer.
  size_t LargestBurst();
  // The capture `name` with every packet it took decoded; throws Error if it dropped any.
  Capture& SyncedCapture(const std::string& name);

  // Where the next `syns` step's sources start, so that no SYN of a case reuses the source
  // address and port of an earlier one (the server would answer it as a retransmission).
  struct SynSources {
    bool spoofing = false;   // the answers are routed into the sending namespace (IPv4)
    bool spoofing6 = false;  // (IPv6)
    uint32_t port = 0;
    uint32_t address = 1;
    uint32_t addresses_used = 0;
  };
  SynSources& syn_sources() { return syns_; }

 private:
  void StartTimeline();
  void CapturePackets(const std::string& name,
                      std::vector<std::pair<std::string, std::string>>* out) const;

  const Case& c_;
  const RunOptions& o_;
  std::string log_;
  std::vector<std::string> failures_;
  std::vector<std::pair<std::string, std::string>> observations_;
  std::unique_ptr<Scenario> sc_;
  std::vector<std::string> steps_;
  SynSources syns_;
  std::unique_ptr<Timeline> timeline_;  // declared after sc_: it stops before the namespaces go
};

}  // namespace nstest

#endif  // NSTEST_SUITE_EXECUTION_H_
