// The `nstest` command end to end: the supervisor keeps going past failures, crashes and hangs,
// and the report is written and valid.
#include <dirent.h>
#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "nstest/junit.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/wait.h"
#include "src/pidfd.h"
#include "tests/test_support.h"

namespace nstest {
namespace {

using testing_support::ChildCalled;
using testing_support::DescendantCalled;

using namespace std::chrono_literals;

// /proc/PID/comm.
std::string CommandName(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// /proc/PID/environ, one variable per line.
std::string Environment(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', '\n');
  return "\n" + text;
}

// Whether the program at `path` asks the dynamic linker to bind its symbols when it loads
// (DF_BIND_NOW in DT_FLAGS, or DF_1_NOW in DT_FLAGS_1: linked with -z now).
bool BoundAtLoad(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string elf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (elf.size() < sizeof(Elf64_Ehdr)) return false;
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    const size_t at = eh.e_phoff + i * eh.e_phentsize;
    if (at + sizeof ph > elf.size()) return false;
    std::memcpy(&ph, elf.data() + at, sizeof ph);
    if (ph.p_type != PT_DYNAMIC) continue;
    for (size_t off = ph.p_offset; off + sizeof(Elf64_Dyn) <= ph.p_offset + ph.p_filesz &&
                                   off + sizeof(Elf64_Dyn) <= elf.size();
         off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, elf.data() + off, sizeof d);
      if (d.d_tag == DT_FLAGS && (d.d_un.d_val & DF_BIND_NOW) != 0) return true;
      if (d.d_tag == DT_FLAGS_1 && (d.d_un.d_val & DF_1_NOW) != 0) return true;
    }
  }
  return false;
}

// The parent of `pid` (the PPid line of /proc/PID/status), or 0.
pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("PPid:", 0) == 0) return static_cast<pid_t>(std::atoi(line.c_str() + 5));
  }
  return 0;
}

// Every process below `pid`.
void Descendants(pid_t pid, std::vector<pid_t>* out) {
  for (pid_t child : testing_support::Children(pid)) {
    out->push_back(child);
    Descendants(child, out);
  }
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = CachedPreflight().NamespaceSkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  ProcessResult Nstest(std::vector<std::string> args) {
    ProcessOptions o;
    o.argv = {NSTEST_BINARY};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    if (args[0] == "run" && std::find(args.begin(), args.end(), "--cost-file") == args.end()) {
      o.argv.push_back("--cost-file");
      o.argv.push_back("none");
    }
    o.working_directory = NSTEST_SOURCE_DIR;
    o.timeout = 120s;
    return RunProcess(nullptr, o);
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

// Parses a KTAP report (one level of subtests, as RenderKtap writes) and checks that each case's
// result line says what the JUnit report of the same run says of it.
void ExpectKtapAgreesWithJUnit(const std::string& ktap, const std::vector<JUnitSuite>& junit) {
  std::vector<std::string> lines;
  std::istringstream in(ktap);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GE(lines.size(), 2u) << ktap;
  EXPECT_EQ(lines[0], "KTAP version 1");
  EXPECT_EQ(lines[1], fmt::format("1..{}", junit.size()));
  size_t at = 2;
  for (size_t i = 0; i < junit.size(); ++i) {
    const JUnitSuite& s = junit[i];
    ASSERT_LT(at + 2, lines.size()) << ktap;
    EXPECT_EQ(lines[at++], "  KTAP version 1");
    EXPECT_EQ(lines[at++], "  # Subtest: " + s.name);
    EXPECT_EQ(lines[at++], fmt::format("  1..{}", s.cases.size()));
    bool failed = false;
    for (size_t k = 0; k < s.cases.size(); ++k) {
      while (at < lines.size() && lines[at].rfind("  # ", 0) == 0) ++at;  // diagnostics
      ASSERT_LT(at, lines.size()) << ktap;
      const JUnitCase& c = s.cases[k];
      std::string expected;
      switch (c.status) {
        case CaseStatus::kPassed:
          expected = fmt::format("  ok {} {}", k + 1, c.name);
          break;
        case CaseStatus::kSkipped:
          expected = fmt::format("  ok {} {} # SKIP {}", k + 1, c.name, c.message);
          break;
        case CaseStatus::kFailed:
          expected = fmt::format("  not ok {} {}", k + 1, c.name);
          break;
        case CaseStatus::kError:
          expected =
              fmt::format("  not ok {} {} # {} {}", k + 1, c.name,
                          c.message.rfind("timed out", 0) == 0 ? "TIMEOUT" : "ERROR", c.message);
          break;
      }
      failed = failed || c.status == CaseStatus::kFailed || c.status == CaseStatus::kError;
      EXPECT_EQ(lines[at++], expected);
    }
    ASSERT_LT(at, lines.size()) << ktap;
    EXPECT_EQ(
        lines[at++].rfind(fmt::format("{} {} {}", failed ? "not ok" : "ok", i + 1, s.name), 0), 0u)
        << ktap;
  }
  EXPECT_EQ(at, lines.size()) << ktap;
}

TEST_F(RunnerTest, FailuresCrashesAndHangsAreTheirCasesResults) {
  std::string xml = ::testing::TempDir() + "nstest-runner-test.xml";
  std::string ktap = ::testing::TempDir() + "nstest-runner-test.ktap";
  ProcessOptions o;
  o.argv = {NSTEST_BINARY,
            "run",
            "fixtures/runner/mixed.toml",
            "-j",
            "2",
            "--xml",
            xml,
            "--ktap",
            ktap,
            "--cost-file",
            "none",
            "--artifacts",
            ::testing::TempDir() + "nstest-runner-artifacts"};
  o.working_directory = NSTEST_SOURCE_DIR;
  o.timeout = 120s;
  o.env["NSTEST_TEST_MARK"] = "handed-down";
  Process run = Process::Start(nullptr, o);
  // The case `crashes` sleeps until its process is killed: a crash of the case itself, which no
  // command it starts could cause (they live in the case's own PID namespace). The sleep knows its
  // case (NSTEST_CASE); its parent is the case's process, PID 1 of that namespace, which only
  // SIGKILL reaches from outside (a fault in it, e.g. abort()'s, ends it with SIGSEGV).
  pid_t crashing = 0;
  std::string sleep_environment;
  WaitUntil("the case 'crashes' to run its sleep", 60s, [&] {
    std::vector<pid_t> below;
    Descendants(run.pid(), &below);
    for (pid_t p : below) {
      if (CommandName(p) == "sleep" &&
          Environment(p).find("\nNSTEST_CASE=mixed.crashes\n") != std::string::npos) {
        sleep_environment = Environment(p);
        crashing = ParentOf(p);
        return crashing != 0;
      }
    }
    return false;
  });
  // The program binds its symbols when it loads (linked with -z now), and the commands its
  // cases start get the environment it got, with nothing added for the binding.
  EXPECT_TRUE(BoundAtLoad(NSTEST_BINARY));
  EXPECT_NE(sleep_environment.find("\nNSTEST_TEST_MARK=handed-down\n"), std::string::npos)
      << sleep_environment;
  if (std::getenv("LD_BIND_NOW") == nullptr) {
    EXPECT_EQ(sleep_environment.find("\nLD_BIND_NOW="), std::string::npos) << sleep_environment;
  }
  Fd crashing_fd(PidfdOpen(crashing));
  ASSERT_TRUE(crashing_fd.valid());
  PidfdSendSignal(crashing_fd.get(), SIGKILL);
  const ProcessResult& r = run.Wait();
  const std::string& out = r.stdout_text;
  EXPECT_EQ(r.exit_code, 1) << out << r.stderr_text;
  EXPECT_NE(out.find("[       OK ] mixed.passes"), std::string::npos) << out;
  EXPECT_NE(out.find("[  FAILED  ] mixed.fails"), std::string::npos) << out;
  EXPECT_NE(out.find("Send-Q (backlog): expected 3, got 2"), std::string::npos) << out;
  EXPECT_NE(out.find("[  ERROR   ] mixed.crashes"), std::string::npos) << out;
  EXPECT_NE(out.find("crashed: killed by signal 9"), std::string::npos) << out;
  EXPECT_NE(out.find("[  ERROR   ] mixed.hangs"), std::string::npos) << out;
  EXPECT_NE(out.find("timed out after 1 s"), std::string::npos) << out;
  EXPECT_NE(out.find("[  SKIPPED ] mixed.skips"), std::string::npos) << out;
  EXPECT_NE(out.find("needs kernel 99.0 or later"), std::string::npos) << out;
  EXPECT_NE(out.find("1 passed, 3 failed, 1 skipped"), std::string::npos) << out;

  std::string report = Slurp(xml);
  EXPECT_NE(report.find(R"(tests="5" failures="1" errors="2" skipped="1")"), std::string::npos)
      << report;
  ProcessOptions lint;
  lint.argv = {"xmllint", "--noout", "--schema", NSTEST_JUNIT_XSD, xml};
  struct stat st {};
  if (::stat(NSTEST_JUNIT_XSD, &st) == 0) {
    ProcessResult v = RunProcess(nullptr, lint);
    EXPECT_EQ(v.exit_code, 0) << v.stderr_text;
  }
  ExpectKtapAgreesWithJUnit(Slurp(ktap), ReadJUnit(xml));
  EXPECT_NE(out.find("KTAP report: " + ktap), std::string::npos) << out;
  ::unlink(xml.c_str());
  ::unlink(ktap.c_str());
}

// What `nstest compare` and --compare-to-defaults say of a sysctl that changes an observed value:
// the case checks Send-Q against sysctl("net.core.somaxconn"), so it passes both ways, and the
// observed backlog differs.
TEST_F(RunnerTest, CompareShowsWhatAnOverrideChanges) {
  std::string base = ::testing::TempDir() + "nstest-compare-base.xml";
  std::string with = ::testing::TempDir() + "nstest-compare-with.xml";
  std::vector<std::string> run = {"run", "fixtures/runner/mixed.toml", "--filter", "mixed.passes"};
  auto args = [&](std::vector<std::string> more) {
    std::vector<std::string> a = run;
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  ASSERT_EQ(Nstest(args({"--xml", base})).exit_code, 0);
  ASSERT_EQ(Nstest(args({"--xml", with, "--sysctl", "net.core.somaxconn=64"})).exit_code, 0);
  const std::string change =
      "mixed.passes: listener 198.18.0.1:8080 in netns 'server': Send-Q (backlog) 4096 -> 64\n";
  ProcessResult same = Nstest({"compare", base, base});
  EXPECT_EQ(same.exit_code, 0) << same.stdout_text << same.stderr_text;
  EXPECT_NE(same.stdout_text.find("0 of 1 cases compared differ"), std::string::npos)
      << same.stdout_text;
  std::string page = ::testing::TempDir() + "nstest-compare.html";
  ProcessResult differs = Nstest({"compare", base, with, "--html", page});
  EXPECT_EQ(differs.exit_code, 1) << differs.stdout_text << differs.stderr_text;
  EXPECT_NE(differs.stdout_text.find("overrides: net.core.somaxconn=64)\n"), std::string::npos)
      << differs.stdout_text;
  EXPECT_NE(differs.stdout_text.find(change), std::string::npos) << differs.stdout_text;
  EXPECT_NE(Slurp(page).find("Send-Q (backlog) 4096 -&gt; 64"), std::string::npos) << Slurp(page);
  // --fail-on: only the classes named fail the comparison.
  EXPECT_EQ(Nstest({"compare", base, with, "--fail-on", "changed"}).exit_code, 1);
  ProcessResult no_regression =
      Nstest({"compare", base, with, "--fail-on", "regression,infrastructure"});
  EXPECT_EQ(no_regression.exit_code, 0) << no_regression.stdout_text;
  EXPECT_NE(no_regression.stdout_text.find("classes: 0 regression, 0 fix, 0 verdict, 1 changed, "
                                           "0 new, 0 missing, 0 infrastructure\n"),
            std::string::npos)
      << no_regression.stdout_text;
  ProcessResult typo = Nstest({"compare", base, with, "--fail-on", "regresion"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.stderr_text.find("--fail-on: 'regresion' is no class of change (did you mean "
                                  "'regression'?)"),
            std::string::npos)
      << typo.stderr_text;
  // A real regression: the case passes, then fails with somaxconn below its backlog.
  std::string ok = ::testing::TempDir() + "nstest-compare-ok.xml";
  std::string bad = ::testing::TempDir() + "nstest-compare-bad.xml";
  std::vector<std::string> plus_one = {"run", "suites/backlog.toml", "--case",
                                       "backlog.plus_one/backlog=3", "--xml"};
  plus_one.push_back(ok);
  ASSERT_EQ(Nstest(plus_one).exit_code, 0);
  plus_one.back() = bad;
  plus_one.insert(plus_one.end(), {"--sysctl", "net.core.somaxconn=1"});
  ASSERT_EQ(Nstest(plus_one).exit_code, 1);
  ProcessResult regression = Nstest({"compare", ok, bad, "--fail-on", "regression"});
  EXPECT_EQ(regression.exit_code, 1);
  EXPECT_NE(
      regression.stdout_text.find("[regression] backlog.plus_one/backlog=3: passed -> failed"),
      std::string::npos)
      << regression.stdout_text;
  EXPECT_EQ(Nstest({"compare", bad, ok, "--fail-on", "regression"}).exit_code, 0);
  EXPECT_NE(Nstest({"compare", bad, ok}).stdout_text.find("[fix] backlog.plus_one/backlog=3"),
            std::string::npos);
  ::unlink(ok.c_str());
  ::unlink(bad.c_str());
  ProcessResult one = Nstest(args({"--sysctl", "net.core.somaxconn=64", "--compare-to-defaults"}));
  EXPECT_EQ(one.exit_code, 1) << one.stdout_text << one.stderr_text;
  EXPECT_NE(one.stdout_text.find("What the overrides change:\n"), std::string::npos)
      << one.stdout_text;
  EXPECT_NE(one.stdout_text.find(change), std::string::npos) << one.stdout_text;
  ProcessResult alone = Nstest(args({"--compare-to-defaults"}));
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_EQ(alone.stderr_text,
            "nstest: --compare-to-defaults compares against --sysctl or --sysctl-file; give one\n");
  ProcessResult unreadable = Nstest({"compare", base, "/nonexistent/report.xml"});
  EXPECT_EQ(unreadable.exit_code, 2);
  EXPECT_NE(unreadable.stderr_text.find("read JUnit report '/nonexistent/report.xml'"),
            std::string::npos)
      << unreadable.stderr_text;
  // `nstest report` turns a JUnit report into KTAP.
  std::string ktap = ::testing::TempDir() + "nstest-report.ktap";
  ProcessResult report = Nstest({"report", "--ktap", ktap, with});
  EXPECT_EQ(report.exit_code, 0) << report.stderr_text;
  ExpectKtapAgreesWithJUnit(Slurp(ktap), ReadJUnit(with));
  for (const std::string& f : {base, with, ktap, page}) ::unlink(f.c_str());
}

TEST_F(RunnerTest, SysctlOverrideReachesEveryNamespaceAndExpressions) {
  std::string xml = ::testing::TempDir() + "nstest-runner-override.xml";
  ProcessResult r = Nstest({"run", "fixtures/runner/mixed.toml", "--filter", "mixed.passes",
                            "--sysctl", "net.core.somaxconn=64", "--xml", xml});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  std::string report = Slurp(xml);
  EXPECT_NE(report.find(R"(name="passes.sysctl.server.net.core.somaxconn" value="64")"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find(R"(name="sysctl.override.net.core.somaxconn" value="64")"),
            std::string::npos);
  ::unlink(xml.c_str());
}

TEST_F(RunnerTest, BadInputIsExitTwoAndRunsNothing) {
  ProcessResult global =
      Nstest({"run", "fixtures/runner/mixed.toml", "--sysctl", "net.core.netdev_max_backlog=5000"});
  EXPECT_EQ(global.exit_code, 2);
  EXPECT_NE(global.stderr_text.find("netdev_max_backlog"), std::string::npos) << global.stderr_text;
  EXPECT_EQ(global.stdout_text.find("[ RUN"), std::string::npos);
  ProcessResult bad = Nstest({"run", "fixtures/bad-suites/unknown_key.toml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find("unknown_key.toml:4:40: unknown key 'acept'"), std::string::npos)
      << bad.stderr_text;
  ProcessResult usage = Nstest({"run", "--jobs", "0"});
  EXPECT_EQ(usage.exit_code, 2);
  // `nstest serve` refuses bad input before it listens anywhere.
  EXPECT_EQ(Nstest({"serve", "--backlog", "4"}).exit_code, 2);
  ProcessResult serve = Nstest({"serve", "--port", "8080", "--address", "198.18.0.256"});
  EXPECT_EQ(serve.exit_code, 1);
  EXPECT_EQ(serve.stderr_text,
            "nstest serve: parse address '198.18.0.256': not an IPv4 or IPv6 address\n");
  ProcessResult too_many = Nstest({"run", "suites", "--repeat", "10000"});
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_NE(too_many.stderr_text.find(
                " x --repeat 10000); at most 100000 run at once: narrow it with --filter or a "
                "lower --repeat"),
            std::string::npos)
      << too_many.stderr_text;
  EXPECT_EQ(too_many.stdout_text.find("[ RUN"), std::string::npos);
}

// Regression: a sysctl the kernel refused while the case was being built crashed the case
// (std::out_of_range from the missing counter baseline) instead of reporting it.
TEST_F(RunnerTest, RefusedSuiteSysctlIsAnErrorNamingItsLine) {
  ProcessResult r =
      Nstest({"run", "fixtures/runner/refused_sysctl.toml", "fixtures/runner/defects.toml",
              "--filter", "refused_sysctl.*:defects.second_syns*", "-j", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[  ERROR   ] refused_sysctl.listens ("), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("fixtures/runner/refused_sysctl.toml:6:1: set sysctl "
                               "'net.core.somaxconn' in netns 'server' to '-5': Invalid argument"),
            std::string::npos)
      << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("crashed"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("[       OK ] defects.second_syns_step_uses_new_sources"),
            std::string::npos)
      << r.stdout_text;
  // The same value as an override says where it came from.
  ProcessResult o = Nstest({"run", "fixtures/runner/mixed.toml", "--filter", "mixed.passes",
                            "--sysctl", "net.core.somaxconn=-5"});
  EXPECT_EQ(o.exit_code, 1) << o.stdout_text << o.stderr_text;
  EXPECT_NE(o.stdout_text.find("[  ERROR   ] mixed.passes ("), std::string::npos) << o.stdout_text;
  EXPECT_NE(o.stdout_text.find(": the override net.core.somaxconn=-5 (--sysctl or --sysctl-file): "
                               "set sysctl 'net.core.somaxconn' in netns 'server' to '-5': "
                               "Invalid argument"),
            std::string::npos)
      << o.stdout_text;
}

// Regression: the second `syns` step sent from the first one's source address and port, so the
// server took its SYN for a retransmission and dropped nothing.
TEST_F(RunnerTest, SecondSynsStepSendsFromNewSources) {
  ProcessResult r = Nstest({"run", "fixtures/runner/defects.toml", "--filter",
                            "defects.second_syns_step_uses_new_sources"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("1 passed, 0 failed"), std::string::npos) << r.stdout_text;
}

// Regression: waits on a listener failed at once while nothing listened yet, and a server forked
// by a `run` step died of SIGPIPE on its first write after the step closed its pipes.
TEST_F(RunnerTest, WaitsWaitForALateListenerAndBackgroundServersKeepWriting) {
  ProcessResult r = Nstest({"run", "fixtures/runner/defects.toml", "--filter",
                            "defects.background_server_waited_for:defects.wait_for_a_listener*"});
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[       OK ] defects.background_server_waited_for"),
            std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("[  FAILED  ] defects.wait_for_a_listener_that_never_comes ("),
            std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("fixtures/runner/defects.toml:61:3: wait for syn_recv: timed out "
                               "after 300 ms; last seen: no listener on port 9001 yet"),
            std::string::npos)
      << r.stdout_text;
}

// What a process left running by a `run` step writes later is in the failed case's log (its last
// lines) and in the artifacts folder (all of it).
TEST_F(RunnerTest, LateOutputOfBackgroundProcessesIsKept) {
  std::string artifacts = ::testing::TempDir() + "nstest-defects-artifacts";
  std::string saved = artifacts + "/defects.late_output_shown_on_failure.run-78.log";
  ::unlink(saved.c_str());
  ProcessResult r = Nstest({"run", "fixtures/runner/defects.toml", "--filter",
                            "defects.late_output_shown_on_failure", "--artifacts", artifacts});
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  const std::string& out = r.stdout_text;
  EXPECT_NE(out.find("after it exited, from what it left running (last 20 lines):"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("  late line 29\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("  late line 9\n"), std::string::npos) << out;  // only the last 20
  std::string log = Slurp(saved);
  EXPECT_EQ(log.rfind("started\nlate line 0\n", 0), 0u) << log;
  EXPECT_NE(log.find("late line 29\n"), std::string::npos) << log;
}

// Regression: an error raised while a step ran reached the report without the step's position.
TEST_F(RunnerTest, StepErrorsNameTheirStep) {
  ProcessResult r = Nstest(
      {"run", "fixtures/runner/defects.toml", "--filter", "defects.step_error_names_its_step"});
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[  ERROR   ] defects.step_error_names_its_step ("),
            std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("fixtures/runner/defects.toml:70:3: step 'accept': accept: no "
                               "listener on port 8081 in netns 'server'"),
            std::string::npos)
      << r.stdout_text;
  // A namespace without a link has no address: said so, not "internal error (map::at)".
  ProcessResult lonely = Nstest({"run", "fixtures/runner/lonely.toml"});
  EXPECT_EQ(lonely.exit_code, 1) << lonely.stdout_text << lonely.stderr_text;
  EXPECT_NE(lonely.stdout_text.find(
                "fixtures/runner/lonely.toml:14:3: step 'listen': netns 'lonely' has no link, so "
                "no address of its own: link it in the [topology] or give the step an `address`"),
            std::string::npos)
      << lonely.stdout_text;
}

// Regression: a narrow --filter said "Running 2 cases from 8 suites", counting every suite loaded.
// A server under test: started, awaited until it listens, checked, stopped (its SIGTERM handler
// runs), its output kept; one left running is stopped when its case ends; one that dies before it
// listens fails its wait at once with its exit status and last output, not at the deadline.
TEST_F(RunnerTest, StartedServersAreAwaitedStoppedAndKept) {
  const std::string artifacts =
      ::testing::TempDir() + "nstest-server-artifacts-" + std::to_string(::getpid());
  const std::string xml = artifacts + ".xml";
  ProcessOptions o;
  o.argv = {NSTEST_BINARY, "run",         "fixtures/runner/server.toml",
            "-j",          "2",           "--xml",
            xml,           "--artifacts", artifacts,
            "--cost-file", "none"};
  o.working_directory = NSTEST_SOURCE_DIR;
  o.env["NSTEST_RUNNER_TEST_WHO"] = "me";
  o.timeout = 120s;
  ProcessResult r = RunProcess(nullptr, o);
  const std::string& out = r.stdout_text;
  EXPECT_EQ(r.exit_code, 1) << out << r.stderr_text;
  EXPECT_NE(out.find("[       OK ] server.backlog_of_a_started_server/backlog=1"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[       OK ] server.backlog_of_a_started_server/backlog=3"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[       OK ] server.left_running_is_stopped_at_the_end"), std::string::npos)
      << out;
  EXPECT_NE(out.find("[       OK ] server.echo_and_a_sysctl_it_set"), std::string::npos) << out;
  EXPECT_NE(out.find("[       OK ] server.stop_sends_the_stop_signal"), std::string::npos) << out;
  EXPECT_NE(out.find("[  ERROR   ] server.dies_before_listening"), std::string::npos) << out;
  EXPECT_NE(out.find("exited with status 3; its last output:\n  cannot read the configuration"),
            std::string::npos)
      << out;
  // At once: the wait's deadline is 30 s.
  const std::string error_line = "[  ERROR   ] server.dies_before_listening (";
  size_t at = out.find(error_line);
  ASSERT_NE(at, std::string::npos);
  int ms = std::atoi(out.c_str() + at + error_line.size());
  EXPECT_GT(ms, 0) << out.substr(at, 80);
  EXPECT_LT(ms, 5000) << out.substr(at, 80);
  std::string log = Slurp(artifacts + "/server.backlog_of_a_started_server_backlog_3/srv.log");
  // A started command knows its case, from its environment and from `{env:NSTEST_CASE}`.
  EXPECT_EQ(log,
            "listening with backlog 3 in server.backlog_of_a_started_server/backlog=3 "
            "server.backlog_of_a_started_server/backlog=3\nbye\n");
  std::string report = Slurp(xml);
  EXPECT_NE(report.find("process 'sleeper' (sleep 600) stopped: killed by signal 15"),
            std::string::npos)
      << report;
  // A variable the suite needs and the run lacks is an error that says how to set it.
  o.env.erase("NSTEST_RUNNER_TEST_WHO");
  o.argv = {NSTEST_BINARY, "run", "fixtures/runner/server.toml", "--filter", "*left_running*",
            "--cost-file", "none"};
  ProcessResult unset = RunProcess(nullptr, o);
  EXPECT_NE(unset.stdout_text.find("'{env:NSTEST_RUNNER_TEST_WHO}': the environment has no "
                                   "NSTEST_RUNNER_TEST_WHO (set it for the run"),
            std::string::npos)
      << unset.stdout_text;
}

TEST_F(RunnerTest, FilterCountsOnlySuitesWithASelectedCase) {
  ProcessResult r =
      Nstest({"run", "fixtures/runner", "--filter", "mixed.passes:defects.second*", "-j", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[==========] Running 2 cases from 2 suites (-j 1).\n"),
            std::string::npos)
      << r.stdout_text;
}

// A name that a filter reads as a pattern ("-1" is a negative part) selects itself with --case,
// and a run that selects nothing says so and fails, instead of passing with 0 cases.
TEST_F(RunnerTest, CaseSelectsItsExactNameAndAnEmptySelectionFails) {
  ProcessResult exact =
      Nstest({"run", "fixtures/runner/names.toml", "--case", "names.listens/backlog=-1"});
  EXPECT_EQ(exact.exit_code, 0) << exact.stdout_text << exact.stderr_text;
  EXPECT_NE(exact.stdout_text.find("[       OK ] names.listens/backlog=-1 ("), std::string::npos)
      << exact.stdout_text;
  EXPECT_NE(exact.stdout_text.find("[  PASSED  ] 1 cases."), std::string::npos)
      << exact.stdout_text;

  ProcessResult filtered =
      Nstest({"run", "fixtures/runner/names.toml", "--filter", "names.listens/backlog=-1"});
  EXPECT_EQ(filtered.exit_code, 5) << filtered.stdout_text << filtered.stderr_text;
  EXPECT_EQ(filtered.stdout_text, "");
  EXPECT_NE(filtered.stderr_text.find(
                "nstest: no case selected: --filter 'names.listens/backlog=-1' matches none of "
                "the 2 cases of 1 suite; a '-' starts the filter's negative patterns: select a "
                "case by its exact name with --case NAME"),
            std::string::npos)
      << filtered.stderr_text;

  ProcessResult typo =
      Nstest({"run", "fixtures/runner/names.toml", "--case", "names.listens/backlog=-2"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.stderr_text.find("--case 'names.listens/backlog=-2': no case has this name; did "
                                  "you mean 'names.listens/backlog=-1'?"),
            std::string::npos)
      << typo.stderr_text;

  // More shards than cases: a shard left empty is no error.
  ProcessOptions o;
  o.argv = {NSTEST_BINARY, "run", "fixtures/runner/names.toml", "--cost-file", "none"};
  o.working_directory = NSTEST_SOURCE_DIR;
  o.env["GTEST_TOTAL_SHARDS"] = "3";
  o.env["GTEST_SHARD_INDEX"] = "2";
  ProcessResult empty_shard = RunProcess(nullptr, o);
  EXPECT_EQ(empty_shard.exit_code, 0) << empty_shard.stdout_text << empty_shard.stderr_text;
  EXPECT_NE(empty_shard.stdout_text.find("Note: this shard has no case: 2 selected for 3 shards"),
            std::string::npos)
      << empty_shard.stdout_text;
}

// Only placeholder-shaped braces are placeholders: the rest reach the command as written.
TEST_F(RunnerTest, BracesThatAreNoPlaceholderAreText) {
  ProcessResult r = Nstest({"run", "fixtures/runner/braces.toml"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[  PASSED  ] 1 cases."), std::string::npos) << r.stdout_text;
}

// Three namespaces in a row, links without `index`: the client reaches the server via the router.
TEST_F(RunnerTest, LinksWithoutIndexRouteThroughARouter) {
  ProcessResult r = Nstest({"run", "fixtures/runner/routed.toml"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[  PASSED  ] 1 cases."), std::string::npos) << r.stdout_text;
}

// Failure messages show data escaped as a TOML string and argv quoted as a shell needs it.
TEST_F(RunnerTest, FailuresQuoteDataAndCommands) {
  ProcessResult r = Nstest({"run", "fixtures/runner/quoting.toml"});
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("what connection 0 (connections, established) received: expected "
                               "\"a\\nb \\\"c\\\"\", got \"a\\r\\nb \\\"c\\\"\""),
            std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("[sh -c 'exit 3' 'it'\\''s' '']: expected exit status 0, got: "
                               "exited with status 3"),
            std::string::npos)
      << r.stdout_text;
}

// A range check that holds records the value it saw beside the range (it used to record the range
// alone); so does a duration check.
TEST_F(RunnerTest, RangeChecksThatHoldRecordTheirValues) {
  std::string xml = ::testing::TempDir() + "nstest-ranges-" + std::to_string(::getpid()) + ".xml";
  ProcessResult r = Nstest({"run", "fixtures/runner/ranges.toml", "--xml", xml});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  std::string report = Slurp(xml);
  ::unlink(xml.c_str());
  EXPECT_NE(report.find("established connections (connections)\" value=\"2 (within at least 1)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("TcpPassiveOpens in netns 'server'\" value=\"2 (within 1 to 9)"),
            std::string::npos)
      << report;
  // "<fastest> to <slowest> ms (within at most 1000 ms)"
  const std::string duration = "duration_ms of connections (connections)\" value=\"";
  size_t at = report.find(duration);
  ASSERT_NE(at, std::string::npos) << report;
  std::string value = report.substr(at + duration.size(),
                                    report.find('"', at + duration.size()) - at - duration.size());
  double fastest = 0, slowest = 0;
  char within[64] = {};
  if (std::sscanf(value.c_str(), "%lf to %lf ms (%63[^)])", &fastest, &slowest, within) != 3) {
    // Both connections took the same time: "<ms> ms (within ...)".
    ASSERT_EQ(std::sscanf(value.c_str(), "%lf ms (%63[^)])", &fastest, within), 2) << value;
    slowest = fastest;
  }
  EXPECT_LE(fastest, slowest);
  EXPECT_EQ(std::string(within), "within at most 1000 ms");
}

// Shards of a plan merge into the report of the unsharded run: every case once, the same
// verdicts; a missing shard's cases are errors naming it; a report of another plan is refused.
TEST_F(RunnerTest, ShardsMergeIntoTheUnshardedRun) {
  const std::string dir = ::testing::TempDir() + "nstest-shards-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ProcessResult whole = Nstest({"run", "suites/backlog.toml", "--xml", dir + "/whole.xml"});
  ASSERT_EQ(whole.exit_code, 0) << whole.stdout_text << whole.stderr_text;
  std::vector<std::string> shards;
  for (int i = 0; i < 3; ++i) {
    shards.push_back(fmt::format("{}/shard-{}.xml", dir, i));
    ProcessResult r = Nstest(
        {"run", "suites/backlog.toml", "--shard", fmt::format("{}/3", i), "--xml", shards.back()});
    ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
    EXPECT_NE(
        r.stdout_text.find(fmt::format("Note: this is shard {}/3 (from --shard {}/3): ", i, i)),
        std::string::npos)
        << r.stdout_text;
  }
  ProcessResult merged = Nstest({"merge", shards[2], shards[0], shards[1], "--xml",
                                 dir + "/merged.xml", "--html", dir + "/merged.html"});
  EXPECT_EQ(merged.exit_code, 0) << merged.stdout_text << merged.stderr_text;
  EXPECT_NE(merged.stdout_text.find("Merged 3 of 3 shards: 11 cases, 0 missing, 0 reported twice"),
            std::string::npos)
      << merged.stdout_text;
  std::vector<JUnitSuite> a = ReadJUnit(dir + "/whole.xml"), b = ReadJUnit(dir + "/merged.xml");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(a[0].cases.size(), b[0].cases.size());
  std::vector<std::string> names_a, names_b;
  for (const JUnitCase& c : a[0].cases) names_a.push_back(c.name + " " + CaseStatusName(c.status));
  for (const JUnitCase& c : b[0].cases) names_b.push_back(c.name + " " + CaseStatusName(c.status));
  std::sort(names_a.begin(), names_a.end());
  std::sort(names_b.begin(), names_b.end());
  EXPECT_EQ(names_a, names_b);
  // A shard that never reported.
  ProcessResult lacking = Nstest({"merge", shards[0], shards[2], "--xml", dir + "/lacking.xml"});
  EXPECT_EQ(lacking.exit_code, 1);
  EXPECT_NE(lacking.stderr_text.find("nstest merge: shard 1/3 gave no report: "), std::string::npos)
      << lacking.stderr_text;
  EXPECT_NE(Slurp(dir + "/lacking.xml")
                .find("not reported: shard 1/3 owed it, and no report of that shard was given"),
            std::string::npos);
  // Another plan: the same suite, another filter.
  ProcessResult other = Nstest({"run", "suites/backlog.toml", "--filter", "*plus_one*", "--shard",
                                "0/3", "--xml", dir + "/other.xml"});
  ASSERT_EQ(other.exit_code, 0) << other.stdout_text;
  ProcessResult refused = Nstest({"merge", shards[0], dir + "/other.xml", "--xml", dir + "/x.xml"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.stderr_text.find("other.xml is from another plan than"), std::string::npos)
      << refused.stderr_text;
  std::filesystem::remove_all(dir);
}

// By default as many cases run at once as keep the CPU busy: more than there are cores while the
// cases sleep on timers. A -j that is neither a count nor auto is refused before anything runs.
TEST_F(RunnerTest, DefaultJobsAreAutomaticAndOverlapSleepingCases) {
  ProcessResult r = Nstest({"run", "fixtures/runner/sleepers.toml", "--cost-file", "none"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("(-j auto: "), std::string::npos) << r.stdout_text;
  // 12 cases that each sleep 1 s: at most as many at once as there are cores would take 12/cores
  // seconds; overlapping them takes a little over 1 s.
  int peak = 0;
  size_t at = r.stdout_text.find(" at once)\n");
  ASSERT_NE(at, std::string::npos) << r.stdout_text;
  size_t from = r.stdout_text.rfind("at most ", at);
  ASSERT_NE(from, std::string::npos) << r.stdout_text;
  peak = std::atoi(r.stdout_text.c_str() + from + 8);
  EXPECT_GT(peak, static_cast<int>(std::thread::hardware_concurrency())) << r.stdout_text;
  for (const char* bad : {"0", "257", "many", ""}) {
    ProcessResult refused = Nstest({"run", "fixtures/runner/sleepers.toml", "-j", bad});
    EXPECT_EQ(refused.exit_code, 2) << bad << ": " << refused.stdout_text << refused.stderr_text;
    EXPECT_NE(
        refused.stderr_text.find(fmt::format("-j {}: give a count from 1 to 256, or auto", bad)),
        std::string::npos)
        << refused.stderr_text;
  }
}

// A capture whose buffer is far too small for a flood drops packets: the packet expectation on it
// is an ERROR that says so, never a wrong count.
TEST_F(RunnerTest, CaptureThatDroppedPacketsIsAnError) {
  ProcessResult r = Nstest({"run", "fixtures/runner/capture_drops.toml"});
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("[  ERROR   ] capture_drops.tiny_buffer ("), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("fixtures/runner/capture_drops.toml:18:3: step 'expect': capture "
                               "'capture': capture on 'eth0' in netns 'server' (tcp port 5000) "
                               "dropped "),
            std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find(" of 6000 packets (its buffer of 64 KiB was full); its counts are "
                               "not reliable: raise `buffer_kb` or narrow `filter`"),
            std::string::npos)
      << r.stdout_text;
}

// A case's process maps libpcap and libnftables only when the plan captures or filters packets:
// then the launcher has loaded them before forking it (fixtures/runner/loaded_libraries.toml).
TEST_F(RunnerTest, CaptureAndFilterLibrariesAreLoadedOnlyForAPlanThatUsesThem) {
  for (Feature f : {Feature::kNftables, Feature::kNfqueue}) {
    if (!CachedPreflight().Has(f)) GTEST_SKIP() << CachedPreflight().MissingReason(f);
  }
  const std::string suite = "fixtures/runner/loaded_libraries.toml";
  ProcessResult alone = Nstest({"run", suite, "--filter", "*.none_*"});
  EXPECT_EQ(alone.exit_code, 0) << alone.stdout_text << alone.stderr_text;
  EXPECT_NE(alone.stdout_text.find("1 passed, 0 failed"), std::string::npos) << alone.stdout_text;
  // Without a capture in the plan, nothing loaded libpcap for the case.
  ProcessResult not_inherited = Nstest({"run", suite, "--filter", "*.pcap_inherited"});
  EXPECT_EQ(not_inherited.exit_code, 1) << not_inherited.stdout_text;
  EXPECT_NE(not_inherited.stdout_text.find("[  FAILED  ] loaded_libraries.pcap_inherited ("),
            std::string::npos)
      << not_inherited.stdout_text;
  ProcessResult rest = Nstest({"run", suite, "--filter", "-*.none_*"});
  EXPECT_EQ(rest.exit_code, 0) << rest.stdout_text << rest.stderr_text;
  EXPECT_NE(rest.stdout_text.find("4 passed, 0 failed"), std::string::npos) << rest.stdout_text;
}

TEST_F(RunnerTest, CostFileOrdersLongestFirst) {
  std::string costs = ::testing::TempDir() + "nstest-runner-costs.txt";
  {
    std::ofstream out(costs);
    out << "0.001 mixed.passes\n5.000 mixed.skips\n2.000 mixed.fails\n";
  }
  ProcessResult r = Nstest({"run", "fixtures/runner/mixed.toml", "-j", "1", "--filter",
                            "mixed.passes:mixed.fails:mixed.skips", "--cost-file", costs});
  const std::string& out = r.stdout_text;
  size_t skips = out.find("[ RUN      ] mixed.skips");
  size_t fails = out.find("[ RUN      ] mixed.fails");
  size_t passes = out.find("[ RUN      ] mixed.passes");
  ASSERT_NE(passes, std::string::npos) << out;
  EXPECT_LT(skips, fails) << out;
  EXPECT_LT(fails, passes) << out;
  std::string updated = Slurp(costs);
  EXPECT_NE(updated.find(" mixed.fails\n"), std::string::npos) << updated;
  EXPECT_NE(updated.find("5.000 mixed.skips"), std::string::npos)
      << "a skip records no cost: " << updated;
  // No case runs in a millisecond (it makes namespaces and forks), so the seeded
  // 0.001 is gone only if the case was measured anew.
  EXPECT_EQ(updated.find("0.001 mixed.passes"), std::string::npos) << "measured anew: " << updated;
  ::unlink(costs.c_str());
}

TEST_F(RunnerTest, KeptNamespacesOfAFailedCaseAreEnteredAndCleaned) {
  ProcessResult r = Nstest({"run", "fixtures/runner/mixed.toml", "--filter", "mixed.fails",
                            "--keep-namespaces", "--artifacts", ""});
  EXPECT_EQ(r.exit_code, 1);
  const std::string prefix = "kept netns 'server': ip netns exec ";
  size_t at = r.stdout_text.find(prefix);
  ASSERT_NE(at, std::string::npos) << r.stdout_text;
  std::string name = r.stdout_text.substr(at + prefix.size());
  name = name.substr(0, name.find(' '));
  // The kept namespace is the case's, with its link and address (its sockets died with the case).
  ProcessOptions ip;
  ip.argv = {"ip", "netns", "exec", name, "ip", "-o", "-4", "addr", "show", "eth0"};
  ProcessResult inside = RunProcess(nullptr, ip);
  EXPECT_NE(inside.stdout_text.find("198.18.0.1/24"), std::string::npos)
      << name << ": " << inside.stdout_text << inside.stderr_text;
  // The run is over, so a plain clean removes its mounts.
  ProcessResult clean = Nstest({"clean"});
  EXPECT_EQ(clean.exit_code, 0);
  EXPECT_NE(clean.stdout_text.find("removed /run/netns/" + name), std::string::npos)
      << clean.stdout_text;
  struct stat st {};
  EXPECT_NE(::stat(("/run/netns/" + name).c_str(), &st), 0);
}

TEST_F(RunnerTest, RepeatAndShuffle) {
  ProcessResult r =
      Nstest({"run", "fixtures/runner/mixed.toml", "--filter", "mixed.passes:mixed.skips",
              "--repeat", "3", "--shuffle", "--seed", "7"});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("Note: randomizing the order with seed 7"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("[==========] 6 cases ran."), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("3 passed, 0 failed, 3 skipped"), std::string::npos);
}

TEST_F(RunnerTest, SigtermEndsTheRunWithAReportOfWhatRan) {
  std::string xml = ::testing::TempDir() + "nstest-runner-sigterm.xml";
  ProcessOptions o;
  o.argv = {NSTEST_BINARY, "run", "fixtures/runner/slow.toml", "-j", "1", "--cost-file", "none",
            "--xml",       xml};
  o.working_directory = NSTEST_SOURCE_DIR;
  o.timeout = 60s;
  Process run = Process::Start(nullptr, o);
  // Wait for the slow case: its child runs `sleep 30`.
  pid_t sleeper = 0;
  WaitUntil("the slow case's sleep", 20s, [&] {
    sleeper = DescendantCalled(run.pid(), "sleep");
    return sleeper != 0;
  });
  Fd sleeper_fd(PidfdOpen(sleeper));
  run.Kill(SIGTERM);
  const ProcessResult& r = run.Wait();
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.stdout_text << r.stderr_text;
  // The case estimated longest (its `sleep 30`) runs first; the others never start.
  EXPECT_NE(r.stdout_text.find("interrupted by SIGTERM: 1 of 3 cases ran"), std::string::npos)
      << r.stdout_text;
  std::string report = Slurp(xml);
  EXPECT_NE(report.find(R"(tests="1" failures="0" errors="1")"), std::string::npos) << report;
  EXPECT_NE(report.find("interrupted by SIGTERM"), std::string::npos) << report;
  EXPECT_EQ(report.find(R"(name="never_started")"), std::string::npos) << report;
  EXPECT_EQ(report.find(R"(name="quick")"), std::string::npos) << report;
  // The case's own child went with it.
  pollfd p{sleeper_fd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "sleep " << sleeper << " outlived the interrupted run";
  ::unlink(xml.c_str());
}

// The pids of live processes whose environment holds `tag`.
std::vector<pid_t> ProcessesTagged(const std::string& tag) {
  std::vector<pid_t> found;
  DIR* d = ::opendir("/proc");
  while (dirent* e = d != nullptr ? ::readdir(d) : nullptr) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/environ");
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (env.find(tag) != std::string::npos) found.push_back(pid);
  }
  if (d != nullptr) ::closedir(d);
  return found;
}

ProcessOptions TaggedRun(const std::string& tag, const std::string& filter) {
  ProcessOptions o;
  o.argv = {NSTEST_BINARY, "run", "fixtures/runner/forks.toml", "--filter", filter,
            "--cost-file", "none"};
  o.working_directory = NSTEST_SOURCE_DIR;
  o.env["NSTEST_RUNNER_TEST_TAG"] = tag;
  o.timeout = 60s;
  return o;
}

TEST_F(RunnerTest, ProcessesACaseForkedEndWithIt) {
  const std::string tag =
      fmt::format("forks-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->random_seed());
  ProcessResult r = RunProcess(nullptr, TaggedRun(tag, "forks.leaves_a_daemon"));
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  WaitUntil("the orphaned sleep to end with its case", 5s,
            [&] { return ProcessesTagged(tag).empty(); });
}

TEST_F(RunnerTest, KilledRunnerLeavesNoProcess) {
  const std::string tag =
      fmt::format("killed-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->random_seed());
  Process run = Process::Start(nullptr, TaggedRun(tag, "forks.sleeps"));
  WaitUntil("the case's sleep and its child", 20s, [&] {
    pid_t sleeper = DescendantCalled(run.pid(), "sleep");
    return ChildCalled(sleeper, "sleep") != 0;
  });
  // The runner, the launcher, the case as PID 1 of its own PID namespace, and two sleeps. A
  // process's environment cannot be read while it is in the middle of exec, so this waits a
  // little for the count rather than taking its first reading.
  WaitUntil(
      "5 processes of the run: runner, launcher, case, two sleeps", 5s,
      [&] { return ProcessesTagged(tag).size() == 5; },
      [&] { return fmt::format("{} found", ProcessesTagged(tag).size()); });
  run.Kill(SIGKILL);
  EXPECT_EQ(run.Wait().signal, SIGKILL);
  WaitUntil("every process of the killed run to end", 5s,
            [&] { return ProcessesTagged(tag).empty(); });
}

// Without privilege and with user namespaces refused (user.max_user_namespaces=0 in a user
// namespace made for the test, so the host's own limit is untouched), `doctor` and `run` say so
// and how to fix it. The command runs as root of that namespace with every capability dropped
// for good (noroot securebits), so that it is unprivileged there.
TEST_F(RunnerTest, RefusedUserNamespacesAreExplainedWithTheFix) {
  const std::string script =
      "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set=-all "
      "--inh-caps=-all --securebits=+noroot,+noroot_locked \"$@\"";
  auto unprivileged = [&](std::vector<std::string> args) {
    ProcessOptions o;
    o.argv = {"unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", NSTEST_BINARY};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.working_directory = NSTEST_SOURCE_DIR;
    o.timeout = 60s;
    return RunProcess(nullptr, o);
  };
  ProcessResult doctor = unprivileged({"doctor"});
  if (doctor.stdout_text.find("CAP_SYS_ADMIN no") == std::string::npos) {
    GTEST_SKIP() << "cannot make an unprivileged user namespace here: " << doctor.stderr_text;
  }
  const std::string advice =
      "an unprivileged user cannot create a user namespace (No space left on device); "
      "user.max_user_namespaces=0: raise it";
  EXPECT_EQ(doctor.exit_code, 1);
  EXPECT_NE(doctor.stdout_text.find("userns      NO (" + advice + ")"), std::string::npos)
      << doctor.stdout_text;

  ProcessResult run = unprivileged({"run", "suites/accept.toml", "--cost-file", "none"});
  EXPECT_NE(run.stderr_text.find("nstest: enter a user namespace: unshare(CLONE_NEWUSER | "
                                 "CLONE_NEWNET): No space left on device; "
                                 "user.max_user_namespaces=0: raise it"),
            std::string::npos)
      << run.stderr_text;
  EXPECT_NE(run.stdout_text.find("[  SKIPPED ] accept.accept_all_takes_a_burst"), std::string::npos)
      << run.stdout_text;
  EXPECT_NE(run.stdout_text.find("or in a user namespace; but " + advice), std::string::npos)
      << run.stdout_text;
  EXPECT_EQ(run.stdout_text.find("[       OK ]"), std::string::npos) << run.stdout_text;
}

TEST_F(RunnerTest, ListAndShards) {
  ProcessResult list = Nstest({"list", "fixtures/runner/mixed.toml"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(list.stdout_text, "mixed.\n  passes\n  fails\n  crashes\n  hangs\n  skips\n");
  ProcessOptions o;
  o.argv = {NSTEST_BINARY, "list", "fixtures/runner/mixed.toml"};
  o.working_directory = NSTEST_SOURCE_DIR;
  o.env["GTEST_TOTAL_SHARDS"] = "2";
  o.env["GTEST_SHARD_INDEX"] = "1";
  EXPECT_EQ(RunProcess(nullptr, o).stdout_text, "mixed.\n  fails\n  hangs\n");
}

}  // namespace
}  // namespace nstest
