// Declarative suites: what a TOML file says the kernel must do, loaded, validated and expanded
// into cases. The format is described in docs/suite-format.md.
#ifndef NSTEST_SUITE_H_
#define NSTEST_SUITE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nstest/error.h"
#include "nstest/expr.h"
#include "nstest/steps.h"

namespace nstest {

class Netns;
class SysctlKeyChecker;

// An error in a suite file; what() is "file:line:col: message".
class SuiteError : public Error {
 public:
  SuiteError(const SourcePos& where, const std::string& message);
  const SourcePos& where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  SourcePos where_;
  std::string message_;
};

struct NamespaceSpec {
  std::string name{};
  SourcePos where{};
};

struct LinkSpec {
  std::string a{};
  std::string b{};
  int index = 0;  // address block: 198.18.<index>.1/.2
  unsigned mtu = 0;
  bool ipv6 = true;
  SourcePos where{};
};

struct SysctlSetting {
  std::string netns{};
  std::string key{};
  std::string value{};
  SourcePos where{};
};

struct TestSpec {
  std::string name{};
  SourcePos where{};
  std::map<std::string, std::vector<int64_t>> matrix{};  // parameter -> values
  std::vector<std::string> requires_features{};
  std::string min_kernel{};  // "5.10"; empty: any
  std::string xfail{};       // reason: expected to fail on this kernel
  double timeout_s = 60;
  std::vector<SysctlSetting> sysctls{};
  std::vector<Step> steps{};
};

struct Suite {
  std::string name{};
  std::string file{};
  std::string description{};
  std::vector<NamespaceSpec> namespaces{};
  std::vector<LinkSpec> links{};
  std::vector<SysctlSetting> sysctls{};  // suite-wide
  std::vector<TestSpec> tests{};
};

// One expanded case: a test with one combination of matrix values.
struct Case {
  const Suite* suite = nullptr;
  const TestSpec* test = nullptr;
  std::string name{};  // "plus_one/backlog=3"
  std::map<std::string, int64_t> params{};
  std::string FullName() const { return suite->name + "." + name; }
};

// Loads and validates a suite file. Throws SuiteError ("file:line:col: message", with "did you
// mean" for near names) for syntax errors, unknown keys, wrong types, unknown namespaces or
// counters, expressions that do not parse, sysctl keys that are not per-namespace, and values
// that would exhaust the machine. Nothing runs.
// Sysctl keys are checked by `keys` (nullptr: a checker of its own).
Suite LoadSuite(const std::string& path, SysctlKeyChecker* keys = nullptr);
// The same for text already read; `path` names it in messages.
Suite LoadSuiteText(const std::string& text, const std::string& path,
                    SysctlKeyChecker* keys = nullptr);

// How long `c` will take, in seconds, from its own steps: the deadlines and timeouts it expects to
// wait out, the intervals it measures and the SYN retransmission timers its sysctls imply. An
// estimate for ordering and balancing, not a bound.
double EstimateSeconds(const Case& c);

// Expands every test's matrix into cases, in file order (at most 10000 per suite).
std::vector<Case> ExpandCases(const Suite& suite);

// Checks sysctl keys for test namespaces against a fresh network namespace of this kernel: one
// probe namespace, made for the first key that needs it and removed with the checker; answers
// are cached. One thread at a time.
class SysctlKeyChecker {
 public:
  SysctlKeyChecker();
  ~SysctlKeyChecker();
  SysctlKeyChecker(const SysctlKeyChecker&) = delete;
  SysctlKeyChecker& operator=(const SysctlKeyChecker&) = delete;

  // Why `key` cannot be set in a test namespace, or "" if it can: a bad key, a key absent inside
  // a fresh namespace (global: writing it would change the host), or one read-only there. The
  // last two need a namespace; where this process cannot create one they are left to the run.
  // `for_newer_kernel`: for a test that needs a newer kernel than this one, so only the key's
  // spelling is checked.
  std::string Problem(const std::string& key, bool for_newer_kernel = false);

 private:
  std::unique_ptr<Netns> probe_;
  bool cannot_probe_ = false;
  std::map<std::string, std::string> cache_;
};

// SysctlKeyChecker().Problem(key): a probe namespace per call.
std::string SysctlKeyProblem(const std::string& key);

// Parses a sysctl.d file ("key = value" lines, '#' and ';' comments, '-' prefix) into key-value
// pairs, the keys in their dotted spelling. Keys are checked like suite keys, by `keys` (nullptr:
// a checker of its own). Throws SuiteError with file:line:col.
std::vector<std::pair<std::string, std::string>> ParseSysctlFile(const std::string& path,
                                                                 SysctlKeyChecker* keys = nullptr);
// The same for text already read; `path` names it in messages.
std::vector<std::pair<std::string, std::string>> ParseSysctlText(const std::string& text,
                                                                 const std::string& path,
                                                                 SysctlKeyChecker* keys = nullptr);
// Parses "KEY=VALUE" (--sysctl). Throws Error.
std::pair<std::string, std::string> ParseSysctlAssignment(const std::string& text,
                                                          SysctlKeyChecker* keys = nullptr);

// The counter names this kernel knows (nstat's names), read from the calling thread's namespace.
const std::vector<std::string>& KnownCounterNames();

}  // namespace nstest

#endif  // NSTEST_SUITE_H_
