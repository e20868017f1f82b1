// One suite case being executed: the steps against its Scenario (which owns the namespaces and
// everything made in them), one Do() per step kind (execute_steps.cc). Private to the case
// runner.
#ifndef NSTEST_SUITE_EXECUTION_H_
#define NSTEST_SUITE_EXECUTION_H_

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nstest/capture.h"
#include "nstest/case_runner.h"
#include "nstest/checks.h"
#include "nstest/counters.h"
#include "nstest/impair.h"
#include "nstest/peer.h"
#include "nstest/scenario.h"
#include "nstest/suite.h"

namespace nstest {

class Execution {
 public:
  Execution(const Case& c, const RunOptions& o) : c_(c), o_(o) {}

  // Builds the scenario (namespaces and links), applies the sysctls and takes the counter
  // baselines.
  void Build();
  // Runs one step; a failed expectation is recorded, anything else throws.
  void Execute(const Step& s);
  // The scenario, once Build() made it (else nullptr).
  Scenario* scenario() { return sc_.get(); }
  const std::vector<std::string>& failures() const { return failures_; }
  std::vector<std::pair<std::string, std::string>> Properties() const;
  void Log(const std::string& line) { log_ += line + "\n"; }
  const std::string& log() const { return log_; }

 private:
  // One per step kind and subject; std::visit makes a missing one a compile error.
  void Do(const Step& s, const ListenStep& a);
  void Do(const Step& s, const ConnectStep& a);
  void Do(const Step& s, const ReadStep& a);
  void Do(const Step& s, const CloseStep& a);
  void Do(const Step& s, const AcceptStep& a);
  void Do(const Step& s, const SynsStep& a);
  void Do(const Step& s, const DropStep& a);
  void Do(const Step& s, const HoldStep& a);
  void Do(const Step& s, const ReleaseStep& a);
  void Do(const Step& s, const CaptureStep& a);
  void Do(const Step& s, const SysctlStep& a);
  void Do(const Step& s, const RunStep& a);
  void Do(const Step& s, const WaitStep& a);
  void Do(const Step& s, const ExpectStep& a);
  // What a wait step waits for: when it is done, what was last seen, and the capture it reads.
  struct Awaited {
    std::string subject;
    std::function<bool()> done;
    std::function<std::string()> seen;
    const std::string* capture = nullptr;
  };
  Awaited Condition(const WaitQueue& q);
  Awaited Condition(const WaitCounter& c);
  Awaited Condition(const WaitHeld& h);
  Awaited Condition(const WaitPackets& p);
  void Check(const Step& s, const ExpectConnections& e);
  void Check(const Step& s, const ExpectListener& e);
  void Check(const Step& s, const ExpectCounters& e);
  void Check(const Step& s, const ExpectPackets& e);

  Netns& Ns(const std::string& name) { return sc_->ns(name); }
  int64_t Eval(const Value& v);
  template <typename T>
  T EvalAs(const Value& v) {
    return static_cast<T>(Eval(v));
  }
  std::chrono::milliseconds Millis(const Value& v) { return std::chrono::milliseconds(Eval(v)); }
  TcpMatch Match(Hook hook, const PacketMatch& m);
  PacketFilterSpec Spec(const PacketMatch& m);
  void Fail(const Step& s, const std::string& what) {
    failures_.push_back(fmt::format("{}: {}", s.where.ToString(), what));
  }
  void Report(const Step& s, const CheckResult& c) {
    if (!c.ok) Fail(s, c.Failure());
  }
  // The packets the case's largest burst can make, to size a capture's buffer.
  size_t LargestBurst();
  // The capture `name` with every packet it took decoded; throws Error if it dropped any.
  Capture& SyncedCapture(const std::string& name);

  const Case& c_;
  const RunOptions& o_;
  std::string log_;
  std::vector<std::string> failures_;
  std::unique_ptr<Scenario> sc_;
  bool spoofed_ = false;
  // Where the next `syns` step's sources start, so that no SYN of a case reuses the source
  // address and port of an earlier one (the server would answer it as a retransmission).
  uint32_t syn_port_ = 0;
  uint32_t syn_address_ = 1;
  uint32_t syn_addresses_used_ = 0;
};

}  // namespace nstest

#endif  // NSTEST_SUITE_EXECUTION_H_
