// The report as one self-contained HTML page: a summary, a filterable table of cases, and per
// case its steps, failed checks, sysctls, a timeline of its listeners and counters, and a packet
// ladder per capture. No network, no external script, font or style: it opens from a CI artifact
// store or a mail attachment.
#ifndef NSTEST_HTML_H_
#define NSTEST_HTML_H_

#include <string>
#include <vector>

#include "nstest/junit.h"

namespace nstest {

// Renders the report from what a run records in its JUnit model (RenderJUnit()/ReadJUnit()): a
// case's "step.N", "timeline", "capture.<name>" and "capture.<name>.count" properties give its
// steps, timeline and ladders. A ladder shows at most the packets the run kept (400 a capture)
// and says how many there were; a log longer than 64 KiB is cut, saying so.
std::string RenderHtml(const std::vector<JUnitSuite>& suites);

struct Comparison;

// `nstest compare --html`: the comparison as one self-contained page (both runs' kernel and
// overrides, then a row per case that differs with its verdicts and changed values).
std::string RenderComparisonHtml(const Comparison& c, const std::string& base_name,
                                 const std::string& new_name);

}  // namespace nstest

#endif  // NSTEST_HTML_H_
