// The step registry: every kind parses into its own type, and the reference derived from it is
// the one in docs/.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include "nstest/suite.h"
#include "suite/step_fields.h"

namespace nstest {
namespace {

TEST(StepRegistryTest, EveryKindParsesIntoItsOwnType) {
  Suite suite = LoadSuiteText(R"(
[[test]]
name = "all"
  [[test.step]]
  listen = { port = 8080, backlog = 2, accept = "first-n", accept_limit = 1 }
  [[test.step]]
  connect = { port = 8080, count = 2, mode = "burst", label = "c" }
  [[test.step]]
  send = { label = "c", data = "ping" }
  [[test.step]]
  read = { label = "c", timeout_ms = 10 }
  [[test.step]]
  close = { label = "c", abort = true }
  [[test.step]]
  accept = { port = 8080 }
  [[test.step]]
  syns = { port = 8080, count = 3, sources = 1 }
  [[test.step]]
  drop = { match = "rst", sport_min = 1, sport_max = 2 }
  [[test.step]]
  hold = { match = "handshake-ack", dport = 8080, name = "h" }
  [[test.step]]
  release = { hold = "h", count = 1 }
  [[test.step]]
  capture = { filter = "tcp", snaplen = 128 }
  [[test.step]]
  sysctl = { key = "net.core.somaxconn", expr = "2 * 64" }
  [[test.step]]
  run = { argv = ["true"] }
  [[test.step]]
  wait.syn_recv = { port = 8080, value = 1 }
  wait.timeout_ms = 100
  [[test.step]]
  expect.connections = { label = "c", established = 2, timed_out = 0 }
)",
                              "all.toml");
  std::vector<Step> steps = suite.tests.at(0).steps;
  std::vector<std::string> kinds;
  for (const Step& s : steps) kinds.emplace_back(s.Kind());
  EXPECT_EQ(kinds, (std::vector<std::string>{"listen", "connect", "send", "read", "close", "accept",
                                             "syns", "drop", "hold", "release", "capture", "sysctl",
                                             "run", "wait", "expect"}));
  EXPECT_EQ(std::get<SendStep>(steps[2].action).data, "ping");
  EXPECT_TRUE(std::get<CloseStep>(steps[4].action).abort);
  steps.erase(steps.begin() + 4);  // the indexes below are those without close and send
  steps.erase(steps.begin() + 2);
  const auto& listen = std::get<ListenStep>(steps[0].action);
  EXPECT_EQ(listen.netns, "server");
  EXPECT_EQ(listen.accept, AcceptPolicy::kFirstN);
  const auto& connect = std::get<ConnectStep>(steps[1].action);
  EXPECT_EQ(connect.mode, ConnectMode::kBurst);
  EXPECT_EQ(connect.deadline_ms.expr.Evaluate({}), 5000);  // the documented default
  EXPECT_EQ(std::get<DropStep>(steps[5].action).packets.match, TcpFlagPattern::kRst);
  EXPECT_EQ(std::get<HoldStep>(steps[6].action).hook, Hook::kOutput);
  EXPECT_EQ(std::get<CaptureStep>(steps[8].action).name, "capture");
  EXPECT_EQ(std::get<RunStep>(steps[10].action).timeout_ms.expr.Evaluate({}), 10000);
  const auto& wait = std::get<WaitStep>(steps[11].action);
  EXPECT_EQ(std::get<WaitQueue>(wait.subject).queue, ListenerQueue::kSynRecv);
  EXPECT_EQ(wait.timeout_ms.expr.Evaluate({}), 100);
  const auto& expect = std::get<ExpectConnections>(std::get<ExpectStep>(steps[12].action).subject);
  EXPECT_EQ(expect.counts.size(), 2u);
  EXPECT_EQ(expect.counts.count(ConnectResult::kTimedOut), 1u);
  // Every expression-valued field is visible to the range checks.
  EXPECT_EQ(StepValues(steps[0]).size(), 4u);  // port, backlog, accept_limit, sockets
}

// Every alternative of the step and subject variants has an entry (step kinds exactly one, since a
// step names its kind by it; subjects may share a type, as accept_queue and syn_recv do), and
// every entry knows what to do when a case runs: a type added to a variant without its entry
// fails here.
template <typename V, typename R>
void ExpectRunnableEntries(const std::vector<registry::Entry<V, R>>& family, bool one_each) {
  std::set<size_t> seen;
  for (const registry::Entry<V, R>& e : family) {
    bool first = seen.insert(e.index).second;
    EXPECT_TRUE(first || !one_each) << e.name << " is a second entry of its alternative";
    EXPECT_TRUE(static_cast<bool>(e.run)) << e.name << " has nothing to run";
    EXPECT_TRUE(static_cast<bool>(e.parse)) << e.name;
  }
  EXPECT_EQ(seen.size(), std::variant_size_v<V>);
}

TEST(StepRegistryTest, EveryAlternativeHasOneEntryThatRuns) {
  ExpectRunnableEntries(registry::Kinds(), true);
  ExpectRunnableEntries(registry::WaitSubjects(), false);
  ExpectRunnableEntries(registry::ExpectSubjects(), false);
}

TEST(StepRegistryTest, PacketQuestionsTakeExactPortsOnly) {
  try {
    LoadSuiteText(R"(
[[test]]
name = "x"
  [[test.step]]
  capture = {}
  [[test.step]]
  expect.packets = { capture = "capture", sport_min = 1, count = 0 }
)",
                  "ranges.toml");
    FAIL();
  } catch (const SuiteError& e) {
    EXPECT_EQ(std::string(e.what()), "ranges.toml:7:43: unknown key 'sport_min' in expect.packets");
  }
}

// The step reference in docs/ is the registry's own: regenerate it with
// `build/framework/nstest steps > docs/steps.md`.
TEST(StepRegistryTest, DocsStepsIsTheGeneratedReference) {
  std::ifstream in(std::string(NSTEST_DOCS_DIR) + "/steps.md");
  std::stringstream text;
  text << in.rdbuf();
  // Compared without printing both texts whole: the first differing line says enough.
  const std::string want = StepReference();
  const std::string got = text.str();
  size_t at = 0;
  while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
  size_t line_start = want.rfind('\n', at == 0 ? 0 : at - 1);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  EXPECT_TRUE(got == want) << "docs/steps.md is out of date from line "
                           << std::count(want.begin(), want.begin() + line_start, '\n') + 1
                           << " on (the registry says: \""
                           << want.substr(line_start, want.find('\n', line_start) - line_start)
                           << "\"): run `build/framework/nstest steps > docs/steps.md`";
}

}  // namespace
}  // namespace nstest
