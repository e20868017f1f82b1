// JUnit XML reports that validate against the Jenkins xunit schema (junit-10.xsd) and read well
// in lenient consumers (GitLab, GitHub report actions, junitparser).
#ifndef NSTEST_JUNIT_H_
#define NSTEST_JUNIT_H_

#include <string>
#include <utility>
#include <vector>

#include "nstest/status.h"

namespace nstest {

struct JUnitCase {
  std::string name{};
  std::string classname{};
  double seconds = 0;
  CaseStatus status = CaseStatus::kPassed;
  std::string message{};  // one line: expected vs actual, the skip reason, the crash
  std::string detail{};   // the full failure or error text
  std::string system_out{};
  // Written as testsuite properties named "<case name>.<key>" (the schema has no per-case ones).
  std::vector<std::pair<std::string, std::string>> properties{};
};

struct JUnitSuite {
  std::string name{};
  std::string file{};
  std::string timestamp{};  // ISO 8601
  std::string hostname{};
  std::vector<std::pair<std::string, std::string>> properties{};
  std::vector<JUnitCase> cases{};
};

// The value of property `key` in `properties` (a suite's or a case's), or nullptr.
const std::string* FindProperty(const std::vector<std::pair<std::string, std::string>>& properties,
                                const std::string& key);

// Renders the report. Text is sanitised: invalid UTF-8 becomes U+FFFD, characters XML 1.0 forbids
// become "\xNN", and "]]>" inside CDATA is split so the section stays well-formed.
std::string RenderJUnit(const std::vector<JUnitSuite>& suites);

// Writes the report atomically: a temporary file in the same directory, then rename(), so a
// reader never sees half a report. Throws SystemError.
void WriteJUnit(const std::string& path, const std::vector<JUnitSuite>& suites);

// Writes `text` to `path` through a temporary file and rename(); `what` names it in errors
// ("write KTAP report 'x': ..."). Throws SystemError.
void WriteFileAtomically(const std::string& path, const std::string& text, const std::string& what);

// Reads a report written by RenderJUnit() (or another JUnit producer): its suites and cases,
// with each case's properties (the suite properties named "<case name>.<key>") given back to
// the case. Throws Error naming the file if it is not a JUnit report.
std::vector<JUnitSuite> ReadJUnit(const std::string& path);

// `text` made valid for XML 1.0 (as above). Exposed for tests.
std::string SanitizeXmlText(const std::string& text);

}  // namespace nstest

#endif  // NSTEST_JUNIT_H_
