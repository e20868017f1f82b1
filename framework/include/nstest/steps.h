// The typed steps of a suite test: one struct per step kind (and per `wait`/`expect` subject),
// with its fields and their defaults. Each kind is declared once in its family's file under
// framework/suite/steps/ (its fields with their documentation, and what it does when a case
// runs); suite_steps.cc lists the families. `nstest steps` prints the reference derived from the
// same declarations.
#ifndef NSTEST_STEPS_H_
#define NSTEST_STEPS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "nstest/expr.h"
#include "nstest/impair.h"
#include "nstest/peer.h"
#include "nstest/tcp.h"

namespace nstest {

// A place in a suite file, for messages: "suites/backlog.toml:12:5".
struct SourcePos {
  std::string file{};
  uint32_t line = 0;
  uint32_t column = 0;
  std::string ToString() const;
};

// A value that is a number or an expression (`"backlog + 1"`), with the range it must lie in.
struct Value {
  Expression expr = Expression::Constant(0);
  SourcePos where{};
  std::string field{};
  int64_t min = INT64_MIN;
  int64_t max = INT64_MAX;

  static Value Constant(int64_t n) { return Value{Expression::Constant(n)}; }
};

// Which packets a drop, hold or packet question is about: a TCP flag pattern and ports.
struct PacketMatch {
  TcpFlagPattern match = TcpFlagPattern::kAny;
  std::optional<Value> dport{};
  std::optional<Value> sport{};
  std::optional<Value> sport_min{};
  std::optional<Value> sport_max{};
};

// Which listener a question is about, where several listen on one port.
struct ListenerChoice {
  std::string address{};  // "": any address; "any": the wildcard (of `family`, else 0.0.0.0)
  std::optional<Family> family{};
  std::optional<Value> index{};  // within a SO_REUSEPORT group
};

struct ListenStep {
  std::string netns{};
  std::string address{};          // "" = the namespace's address; "any" = the wildcard
  Family family = Family::kIPv4;  // of "" and "any"
  Value port{};
  Value backlog{};
  AcceptPolicy accept = AcceptPolicy::kNever;
  std::optional<Value> accept_limit{};
  bool reuseport = false;
  Value sockets{};  // how many sockets (a SO_REUSEPORT group when more than one)
  bool ipv6_only = false;
};

struct ConnectStep {
  std::string from{};
  std::string to{};
  std::string address{};          // instead of `to`'s address
  Family family = Family::kIPv4;  // of `to`'s address
  Value port{};
  Value count{};
  ConnectMode mode = ConnectMode::kSequential;
  Value deadline_ms{};
  std::optional<Value> source_port{};
  Value read_ms{};
  std::string send{};
  bool stop_at_first_failure = false;
  std::string label{};
};

struct SendStep {
  std::string label{};
  std::string data{};
};

struct ReadStep {
  std::string label{};
  Value timeout_ms{};
};

struct AcceptStep {
  std::string netns{};
  Value port{};
  Value count{};
  Value timeout_ms{};
};

struct CloseStep {
  std::string label{};
  bool abort = false;
};

struct SynsStep {
  std::string from{};
  std::string to{};
  std::string address{};          // instead of `to`'s address
  Family family = Family::kIPv4;  // of `to`'s address
  Value port{};
  Value count{};
  std::optional<Value> sources{};  // unset: one address per SYN
};

struct DropStep {
  std::string netns{};
  Hook hook = Hook::kOutput;
  PacketMatch packets{};
};

struct HoldStep {
  std::string netns{};
  Hook hook = Hook::kOutput;
  PacketMatch packets{};
  std::string name{};
};

struct ReleaseStep {
  std::string hold{};
  std::optional<Value> count{};  // unset: all held packets
  bool keep_holding = false;
};

struct CaptureStep {
  std::string netns{};
  std::string interface {};  // "" = the namespace's first veth
  std::string filter{};
  std::string name{};
  Value snaplen{};
  std::optional<Value> buffer_kb{};  // unset: sized for the case's largest burst
};

struct SysctlStep {
  std::string netns{};
  std::string key{};
  std::optional<std::string> value{};  // a literal, or
  std::optional<Value> expr{};         // an expression
};

struct RunStep {
  std::string netns{};
  std::vector<std::string> argv{};  // may hold {param} and {env:NAME}, substituted when it runs
  Value timeout_ms{};
  Value exit{};
};

// A long-lived process (a server under test), stopped at the end of the case or by `stop`.
struct StartStep {
  std::string netns{};
  std::string name{};
  std::vector<std::string> argv{};           // may hold {param} and {env:NAME}
  std::map<std::string, std::string> env{};  // on top of the case's environment; same placeholders
  int stop_signal = 15;                      // SIGTERM
  Value grace_ms{};
};

struct StopStep {
  std::string name{};
  int signal = 0;  // 0: the start step's stop_signal
};

// `wait` subjects.
enum class ListenerQueue { kAcceptQueue, kSynRecv };
struct WaitQueue {
  ListenerQueue queue = ListenerQueue::kAcceptQueue;
  std::string netns{};
  Value port{};
  ListenerChoice which{};
  Value value{};
};
struct WaitCounter {
  std::string netns{};
  std::string name{};
  Value delta{};
};
struct WaitHeld {
  std::string hold{};
  Value count{};
};
struct WaitPackets {
  std::string capture{};
  PacketMatch packets{};
  Value count{};
};
struct WaitListening {
  std::string netns{};
  Value port{};
  std::string address{};  // "": any
  Value count{};
};
struct WaitConnections {
  std::string label{};
  ConnectResult outcome = ConnectResult::kEstablished;
  Value count{};
};
struct WaitStep {
  std::variant<WaitQueue, WaitCounter, WaitHeld, WaitPackets, WaitListening, WaitConnections>
      subject{};
  Value timeout_ms{};
};

// `expect` subjects.
// A number expected exactly (min == max) or within bounds (either may be open).
struct CounterBounds {
  std::optional<Value> min{};
  std::optional<Value> max{};
};

// The name of an outcome in `expect.connections`: "established", ..., "timed_out", ...
const char* ConnectOutcomeKey(ConnectResult outcome);
struct ExpectConnections {
  std::string label{};
  std::map<ConnectResult, CounterBounds> counts{};  // the outcomes the step names
  std::optional<std::string> received{};            // what each connection read, exactly
  std::optional<Value> duration_min{};              // ms from connect() to each one's outcome
  std::optional<Value> duration_max{};
};
struct ExpectListener {
  std::string netns{};
  Value port{};
  ListenerChoice which{};
  std::optional<Value> recv_q{};
  std::optional<Value> send_q{};
  std::optional<Value> syn_recv{};
};
// Every listener on a port (that `which` selects), its queues summed.
struct ExpectListeners {
  std::string netns{};
  Value port{};
  ListenerChoice which{};
  std::optional<Value> count{};
  std::optional<Value> recv_q{};
  std::optional<Value> send_q{};
  std::optional<Value> syn_recv{};
};
struct ExpectCounters {
  std::string netns{};
  std::map<std::string, CounterBounds> bounds{};  // nstat name -> bounds (min == max: exact)
};
struct ExpectPackets {
  std::string capture{};
  PacketMatch packets{};
  std::optional<Value> count{};
  std::vector<Value> intervals_ms{};
  Value tolerance_ms{};
};
struct ExpectSysctl {
  std::string netns{};
  std::string key{};
  std::string value{};  // as the kernel shows it, whitespace runs as one space
};
struct ExpectProcess {
  std::string name{};
  std::optional<bool> running{};
  std::optional<Value> exit{};
};
struct ExpectStep {
  std::variant<ExpectConnections, ExpectListener, ExpectListeners, ExpectCounters, ExpectPackets,
               ExpectProcess, ExpectSysctl>
      subject{};
};

using StepAction = std::variant<ListenStep, ConnectStep, SendStep, ReadStep, CloseStep, AcceptStep,
                                SynsStep, DropStep, HoldStep, ReleaseStep, CaptureStep, SysctlStep,
                                RunStep, StartStep, StopStep, WaitStep, ExpectStep>;

// One step of a test: where it is written and what it does.
struct Step {
  SourcePos where{};
  StepAction action{};
  // The step's kind as a suite writes it: "listen", "connect", ...
  const char* Kind() const;
};

// Every expression-valued field of `step`, e.g. to check them against each matrix combination.
std::vector<const Value*> StepValues(const Step& step);

// The reference of every step kind: each kind, its fields with their types, defaults and
// meaning, as Markdown (`nstest steps`, and docs/steps.md).
std::string StepReference();

}  // namespace nstest

#endif  // NSTEST_STEPS_H_
