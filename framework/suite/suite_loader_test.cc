// The suite loader and the runner's input parsing, against the files in fixtures/.
#include <gtest/gtest.h>

#include "nstest/preflight.h"
#include "nstest/runner.h"
#include "nstest/suite.h"

namespace nstest {
namespace {

const std::string kFixtures = NSTEST_FIXTURES_DIR;

struct BadSuite {
  const char* file;
  const char* message;  // what follows "<path>:"
};

class BadSuiteTest : public ::testing::TestWithParam<BadSuite> {};

TEST_P(BadSuiteTest, IsRefusedWithFileLineColumnAndMessage) {
  std::string path = kFixtures + "/bad-suites/" + GetParam().file;
  const std::string file = GetParam().file;
  if ((file == "global_sysctl.toml" || file == "future_sysctl.toml" ||
       file.rfind("read_only_sysctl", 0) == 0) &&
      !CachedPreflight().privilege.can_create_netns) {
    GTEST_SKIP() << "telling global keys apart needs a namespace: "
                 << CachedPreflight().NamespaceSkipReason();
  }
  try {
    LoadSuite(path);
    FAIL() << "loaded " << path;
  } catch (const SuiteError& e) {
    EXPECT_EQ(std::string(e.what()), path + ":" + GetParam().message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, BadSuiteTest,
    ::testing::Values(
        BadSuite{"syntax_error.toml",
                 "1:8: Error while parsing table header: expected ']', saw '\\n'"},
        BadSuite{"wrong_type.toml",
                 "4:21: 'port' must be an integer or an expression string, not a float"},
        BadSuite{"unknown_key.toml",
                 "4:40: unknown key 'acept' in step 'listen'; did you mean 'accept'?"},
        BadSuite{"unknown_step.toml", "4:3: unknown step 'lisen'; did you mean 'listen'?"},
        BadSuite{"unknown_netns.toml", "4:22: unknown namespace 'clinet'; did you mean 'client'?"},
        BadSuite{
            "unknown_counter.toml",
            "4:41: unknown counter 'TcpExtListenOverflow'; did you mean 'TcpExtListenOverflows'?"},
        BadSuite{
            "bad_expression.toml",
            "5:50: bad expression \"min(backlog,\": expected a number, a name or '(' at the end"},
        BadSuite{
            "unknown_name.toml",
            "5:38: bad expression \"backlg + 1\": unknown name 'backlg'; did you mean 'backlog'?"},
        BadSuite{"global_sysctl.toml",
                 "2:1: 'net.core.netdev_max_backlog' is not a per-namespace key (absent inside a "
                 "namespace, present on the host); refusing to change the host"},
        // Regression: writable on the host, read-only inside a namespace; these passed the loader
        // and then failed (or crashed) at run time.
        BadSuite{"read_only_sysctl.toml",
                 "2:1: 'net.core.rmem_max' is read-only inside a network namespace (its value is "
                 "the host's); it cannot be set per namespace"},
        BadSuite{"read_only_sysctl_step.toml",
                 "4:20: 'net.ipv4.tcp_allowed_congestion_control' is read-only inside a network "
                 "namespace (its value is the host's); it cannot be set per namespace"},
        BadSuite{"future_sysctl.toml",
                 "3:15: no sysctl 'net.ipv4.tcp_from_the_future' on this kernel"},
        BadSuite{"traversal.toml",
                 "2:1: check sysctl key 'net/../../kernel/panic': '.' and '..' are not allowed"},
        BadSuite{"not_net.toml",
                 "2:1: check sysctl key 'kernel.panic': only net.* keys can be set per namespace"},
        BadSuite{"huge_backlog.toml",
                 "4:37: 'backlog' is 1000000000000; it must be -1 to 2147483647"},
        BadSuite{"negative_count.toml", "4:36: 'count' is -5; it must be 1 to 100000"},
        BadSuite{"non_ascii_after_plus.toml",
                 "2:10: a non-ASCII character outside a string or comment (TOML allows them only "
                 "there)"},
        BadSuite{"non_ascii_after_bad_value.toml",
                 "2:7: Error while parsing value: could not determine value type"},
        BadSuite{"huge_count.toml", "5:36: 'count' is 10000000; it must be 1 to 100000"},
        BadSuite{"too_many_namespaces.toml",
                 "3:14: 'namespaces' names 1000 namespaces; a case has 1 to 16"},
        BadSuite{"too_many_links.toml", "4:3: 'link' has 65 entries; a case has at most 64 links"},
        BadSuite{"matrix_out_of_range.toml",
                 "5:36: 'count' is 200000 with n=200000; it must be 1 to 100000"},
        BadSuite{"matrix_too_large.toml", "3:100: the matrix expands to more than 10000 cases"},
        BadSuite{"division_by_zero.toml", "4:36: 'count': evaluate '1 / 0': division by zero"},
        BadSuite{"unknown_feature.toml", "3:12: unknown feature 'netem2'; did you mean 'netem'?"},
        BadSuite{"no_tests.toml", "1:1: a suite needs at least one [[test]]"},
        BadSuite{"unknown_hold.toml", "4:22: no hold named 'acks' before this step"},
        BadSuite{"unknown_top_key.toml",
                 "1:1: unknown key 'nmae' in the suite; did you mean 'name'?"},
        BadSuite{"two_actions.toml",
                 "3:3: a step has exactly one action "
                 "(listen,connect,send,read,close,accept,syns,drop,hold,"
                 "release,capture,sysctl,run,start,stop,wait,expect), this one has 2"},
        // Regression: toml++ 3.3 reached __builtin_unreachable() on this (found by the fuzzer).
        BadSuite{"non_ascii_key.toml",
                 "1:7: a non-ASCII character outside a string or comment (TOML allows them only "
                 "there)"},
        BadSuite{"start_unknown_placeholder.toml",
                 "5:45: '{backlg}' is no matrix parameter of this test; did you mean "
                 "'{backlog}'? (placeholders are matrix parameters, {env:NAME} and {nstest}; "
                 "write '{{backlg}}' for the text itself)"},
        BadSuite{"start_bad_env_placeholder.toml",
                 "4:35: '{env:NSTEST SERVER}': an environment variable name is "
                 "[A-Za-z_][A-Za-z0-9_]*"},
        BadSuite{"start_bad_env_name.toml",
                 "4:58: '1X' is no environment variable name ([A-Za-z_][A-Za-z0-9_]*)"},
        BadSuite{"duration_unknown_key.toml",
                 "6:42: unknown key 'mn' in duration_ms; did you mean 'min'?"},
        BadSuite{"expect_sysctl_no_value.toml", "4:19: missing 'value'"},
        BadSuite{"start_twice.toml", "6:20: a second process named 'srv' in this test"},
        BadSuite{"stop_unknown_process.toml",
                 "6:19: no process started as 'sever' before this step; did you mean 'server'?"},
        BadSuite{"start_unknown_signal.toml",
                 "4:64: 'stop_signal' must be one of 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', "
                 "'SIGUSR1', 'SIGUSR2', 'SIGKILL', not 'SIGTREM'; did you mean 'SIGTERM'?"},
        BadSuite{"expect_process_needs_a_check.toml",
                 "6:20: expect.process needs 'running' or 'exit'"},
        BadSuite{"wait_listening_bad_address.toml",
                 "4:45: parse address '0.0.0.256': not an IPv4 or IPv6 address"},
        BadSuite{"close_unknown_label.toml",
                 "6:21: no connect step labelled 'conections' before this step; did you mean "
                 "'connections'?"},
        BadSuite{"too_many_syns.toml", "4:33: 'count' is 30000; it must be 1 to 25536"},
        BadSuite{"interval_division_by_zero.toml",
                 "6:59: 'intervals_ms': evaluate '1000 / 0': division by zero"},
        BadSuite{"wait_connections_two_outcomes.toml",
                 "6:36: wait.connections waits for one outcome, not 'refused' and 'timed_out' "
                 "(write a step for each)"},
        BadSuite{"wait_connections_no_outcome.toml",
                 "6:22: wait.connections needs one outcome: established, refused, timed_out or "
                 "reset (e.g. 'timed_out = 1')"},
        BadSuite{"listen_sockets_without_reuseport.toml",
                 "4:50: several sockets on one port need 'reuseport = true'"},
        BadSuite{"listen_ipv6_only_on_ipv4.toml",
                 "4:69: ipv6_only needs an IPv6 address (family = \"ipv6\")"},
        BadSuite{"connect_family_mismatch.toml",
                 "4:61: address '198.18.0.1' is IPv4, but family is 'ipv6'"},
        BadSuite{"expect_listener_bad_family.toml",
                 "6:45: 'family' must be one of 'ipv4', 'ipv6', not 'ip6'; did you mean 'ipv6'?"},
        BadSuite{"expect_connections_bad_bounds.toml",
                 "6:42: unknown key 'mn' in established; did you mean 'min'?"},
        BadSuite{"syns_to_wildcard.toml",
                 "4:46: 'any' (the wildcard) is for listen; give the address to go to"},
        BadSuite{"expect_connections_min_above_max.toml", "6:57: 'max' is below 'min'"},
        BadSuite{"link_index_taken.toml",
                 "10:11: index 1 is taken by the link at line 3 (each link needs a subnet of its "
                 "own: 198.18.<index>.0/24)"},
        // Regression: the unknown key is reported first, not what its absence makes wrong.
        BadSuite{"expect_process_unknown_key.toml",
                 "6:36: unknown key 'runing' in expect.process; did you mean 'running'?"},
        BadSuite{"wait_unknown_subject.toml",
                 "6:8: unknown key 'listenin' in step 'wait'; did you mean 'listening'?"},
        BadSuite{"bad_choice.toml",
                 "4:49: 'accept' must be one of 'never', 'all', 'first-n', 'on-demand', not "
                 "'sometimes'"}),
    [](const auto& p) {
      std::string n = p.param.file;
      return n.substr(0, n.find('.'));
    });

TEST(SuiteLoaderTest, BundledSuitesLoadAndExpand) {
  RunnerOptions o;
  o.paths = {std::string(NSTEST_SUITES_DIR)};
  Plan plan = MakePlan(o);
  EXPECT_GE(plan.suites.size(), 5u);
  EXPECT_GE(plan.cases.size(), 30u);
  bool found = false;
  for (const Case& c : plan.cases) found = found || c.FullName() == "backlog.plus_one/backlog=3";
  EXPECT_TRUE(found);
}

// A test gated to a newer kernel may name sysctls and counters this kernel lacks; the same names
// in an ungated test are refused (future_sysctl.toml above, unknown_counter.toml).
TEST(SuiteLoaderTest, TestsForNewerKernelsMayNameWhatThisKernelLacks) {
  Suite s = LoadSuite(kFixtures + "/runner/newer_kernel.toml");
  ASSERT_EQ(s.tests.size(), 2u);
  EXPECT_EQ(s.tests[0].min_kernel, "99.0");
  ASSERT_EQ(s.tests[0].sysctls.size(), 1u);
  EXPECT_EQ(s.tests[0].sysctls[0].key, "net.ipv4.tcp_from_the_future");
  // Spelling is still checked.
  EXPECT_EQ(SysctlKeyProblem("kernel.from_the_future"),
            "check sysctl key 'kernel.from_the_future': only net.* keys can be set per namespace");
}

// Links without `index` take the lowest free one, in order: never one subnet for two links.
TEST(SuiteLoaderTest, LinksWithoutIndexGetSubnetsOfTheirOwn) {
  Suite s = LoadSuite(kFixtures + "/runner/routed.toml");
  ASSERT_EQ(s.links.size(), 2u);
  EXPECT_EQ(s.links[0].index, 0);
  EXPECT_EQ(s.links[1].index, 1);
}

// A case's expected time comes from what it waits out: a sleep, a connect it expects to time
// out after tcp_syn_retries retransmissions (1 s, then 2 s), a deadline of a pending connect.
TEST(EstimateTest, FollowsTheStepsAndTheKernelTimers) {
  Suite slow = LoadSuite(kFixtures + "/runner/slow.toml");
  std::vector<Case> cases = ExpandCases(slow);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_DOUBLE_EQ(EstimateSeconds(cases[0]), 0.1);   // quick
  EXPECT_DOUBLE_EQ(EstimateSeconds(cases[1]), 30.1);  // sleeps
  Suite timers = LoadSuiteText(R"(
name = "timers"
[[test]]
name = "retries_1"
sysctl.client."net.ipv4.tcp_syn_retries" = 1
  [[test.step]]
  listen = { port = 8080, backlog = 0 }
  [[test.step]]
  connect = { port = 8080, count = 2, deadline_ms = 500, label = "late" }
  [[test.step]]
  wait.connections = { label = "late", timed_out = 1 }
[[test]]
name = "retries_3"
  [[test.step]]
  sysctl = { netns = "client", key = "net.ipv4.tcp_syn_retries", value = 3 }
  [[test.step]]
  listen = { port = 8080, backlog = 0 }
  [[test.step]]
  connect = { port = 8080, count = 2, deadline_ms = 500, label = "late" }
  [[test.step]]
  wait.connections = { label = "late", timed_out = 1 }
)",
                               "timers.toml");
  std::vector<Case> timed = ExpandCases(timers);
  ASSERT_EQ(timed.size(), 2u);
  // One connect is pending at its 0.5 s deadline, then times out 1 + 2 s, or 1 + 2 + 4 + 8 s,
  // after connect().
  EXPECT_DOUBLE_EQ(EstimateSeconds(timed[0]), 0.1 + 3);
  EXPECT_DOUBLE_EQ(EstimateSeconds(timed[1]), 0.1 + 15);
  // A connect refused at once costs nothing; a sysctl step counts from where it stands.
  Suite quick = LoadSuiteText(R"(
name = "quick"
[[test]]
name = "refused_then_slower_retries"
  [[test.step]]
  connect = { port = 9, label = "closed" }
  [[test.step]]
  wait.connections = { label = "closed", refused = 1 }
  [[test.step]]
  sysctl = { netns = "client", key = "net.ipv4.tcp_syn_retries", value = 3 }
)",
                              "quick.toml");
  EXPECT_DOUBLE_EQ(EstimateSeconds(ExpandCases(quick)[0]), 0.1);
}

TEST(RunnerFilterTest, FollowsGtestSyntax) {
  EXPECT_TRUE(MatchesFilter("backlog.plus_one/backlog=3", "*"));
  EXPECT_TRUE(MatchesFilter("backlog.plus_one/backlog=3", "backlog.*"));
  EXPECT_FALSE(MatchesFilter("backlog.plus_one/backlog=3", "overflow.*"));
  EXPECT_TRUE(MatchesFilter("backlog.plus_one/backlog=3", "overflow.*:backlog.plus_one/*"));
  EXPECT_FALSE(MatchesFilter("backlog.plus_one/backlog=3", "*-*backlog=3"));
  EXPECT_TRUE(MatchesFilter("backlog.plus_one/backlog=3", "-overflow.*"));
  EXPECT_TRUE(MatchesFilter("a.b", "a.?"));
}

TEST(SysctlFileTest, ReadsSysctlDSyntax) {
  auto kv = ParseSysctlFile(kFixtures + "/sysctl.d/60-listen.conf");
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0], std::make_pair(std::string("net.core.somaxconn"), std::string("1024")));
  EXPECT_EQ(kv[1], std::make_pair(std::string("net.ipv4.tcp_abort_on_overflow"), std::string("1")));
  EXPECT_EQ(kv[2].first, "net.ipv4.tcp_max_syn_backlog");
}

TEST(SysctlFileTest, BadLinesSayWhere) {
  std::string global = kFixtures + "/sysctl.d/bad-global.conf";
  try {
    ParseSysctlFile(global);
    FAIL();
  } catch (const SuiteError& e) {
    EXPECT_EQ(
        std::string(e.what()),
        global + ":2:1: check sysctl key 'kernel.panic': only net.* keys can be set per namespace");
  }
  std::string syntax = kFixtures + "/sysctl.d/bad-syntax.conf";
  try {
    ParseSysctlFile(syntax);
    FAIL();
  } catch (const SuiteError& e) {
    EXPECT_EQ(std::string(e.what()),
              syntax + ":1:1: 'net.core.somaxconn 1024': expected KEY=VALUE");
  }
}

TEST(SysctlFileTest, ReadOnlyKeysAreRefusedWithTheirLine) {
  if (!CachedPreflight().privilege.can_create_netns) {
    GTEST_SKIP() << "telling read-only keys apart needs a namespace: "
                 << CachedPreflight().NamespaceSkipReason();
  }
  std::string path = kFixtures + "/sysctl.d/bad-read-only.conf";
  try {
    ParseSysctlFile(path);
    FAIL();
  } catch (const SuiteError& e) {
    EXPECT_EQ(std::string(e.what()),
              path +
                  ":3:1: 'net.core.wmem_default' is read-only inside a network namespace (its "
                  "value is the host's); it cannot be set per namespace");
  }
  for (const char* key : {"net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max",
                          "net.core.wmem_default", "net.ipv4.tcp_allowed_congestion_control"}) {
    EXPECT_NE(SysctlKeyProblem(key).find("is read-only inside a network namespace"),
              std::string::npos)
        << key;
  }
  EXPECT_EQ(SysctlKeyProblem("net.core.somaxconn"), "");
}

TEST(KernelVersionTest, Compares) {
  EXPECT_TRUE(KernelAtLeast("6.18.44-fc-v595", "5.10"));
  EXPECT_TRUE(KernelAtLeast("6.1.0-26-amd64", "6.1"));
  EXPECT_FALSE(KernelAtLeast("6.1.0-26-amd64", "6.5"));
  EXPECT_FALSE(KernelAtLeast("5.4.0", "5.10"));
}

}  // namespace
}  // namespace nstest
