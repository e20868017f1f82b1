#include "nstest/junit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "nstest/error.h"
#include "nstest/process.h"

namespace nstest {
namespace {

std::vector<JUnitSuite> Sample() {
  JUnitSuite s;
  s.name = "backlog";
  s.file = "suites/backlog.toml";
  s.timestamp = "2026-11-22T08:00:00";
  s.hostname = "host";
  s.properties = {{"kernel_release", "6.18.44"}};
  JUnitCase ok{"plus_one/backlog=0", "", 0.25, CaseStatus::kPassed, "", "", "listener: ok", {}};
  ok.properties = {{"param.backlog", "0"}};
  JUnitCase failed{"plus_one/backlog=1",
                   "",
                   1.5,
                   CaseStatus::kFailed,
                   "accept queue: expected 2, got 1",
                   "full detail ]]> with a CDATA end",
                   "",
                   {}};
  JUnitCase error{"crash", "", 0.001, CaseStatus::kError, "killed by signal 11", "", "", {}};
  JUnitCase skipped{"netem", "", 0, CaseStatus::kSkipped, "netem: not available", "", "", {}};
  s.cases = {ok, failed, error, skipped};
  return {s};
}

TEST(JUnitTest, CountsAndAttributes) {
  std::string xml = RenderJUnit(Sample());
  EXPECT_NE(xml.find(R"(<testsuites tests="4" failures="1" errors="1" time="1.751">)"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find(R"(name="backlog" tests="4" failures="1" errors="1" skipped="1")"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find(R"(<property name="plus_one/backlog=0.param.backlog" value="0" />)"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find(R"(<skipped message="netem: not available" />)"), std::string::npos) << xml;
  EXPECT_NE(xml.find(R"(classname="backlog")"), std::string::npos);
}

TEST(JUnitTest, SplitsCdataEnd) {
  std::string xml = RenderJUnit(Sample());
  EXPECT_NE(xml.find("full detail ]]]]><![CDATA[> with a CDATA end"), std::string::npos) << xml;
}

TEST(SanitizeXmlTextTest, ReplacesBadUtf8AndForbiddenCharacters) {
  EXPECT_EQ(SanitizeXmlText("plain <&> text"), "plain <&> text");
  EXPECT_EQ(SanitizeXmlText("bell\a esc\x1b"), "bell\\x07 esc\\x1b");
  EXPECT_EQ(SanitizeXmlText("bad \xff\xfe utf8"), "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
  EXPECT_EQ(SanitizeXmlText("overlong \xc0\xaf"), "overlong \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(SanitizeXmlText("truncated \xe2\x82"), "truncated \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(SanitizeXmlText("euro \xe2\x82\xac ok"), "euro \xe2\x82\xac ok");
  EXPECT_EQ(SanitizeXmlText(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(SanitizeXmlText("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
}

// Command output with every kind of bad byte still gives a report the schema accepts.
TEST(JUnitTest, ValidatesAgainstTheJenkinsSchema) {
  std::string xsd = NSTEST_JUNIT_XSD;
  struct stat st {};
  if (::stat(xsd.c_str(), &st) != 0) GTEST_SKIP() << "schema not found at " << xsd;
  std::vector<JUnitSuite> suites = Sample();
  static constexpr char kRaw[] = "raw \x01\x02 bytes \xff and ]]> \0 nul";
  suites[0].cases[0].system_out = std::string(kRaw, sizeof kRaw - 1);  // with the NUL inside
  suites[0].cases[1].message = "quote \" apostrophe ' angle < > amp &";
  std::string path = ::testing::TempDir() + "nstest-junit-test.xml";
  WriteJUnit(path, suites);
  ProcessOptions o;
  o.argv = {"xmllint", "--noout", "--schema", xsd, path};
  ProcessResult r = RunProcess(nullptr, o);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  ::unlink(path.c_str());
}

TEST(JUnitTest, WriteIsAtomicAndReplaces) {
  std::string path = ::testing::TempDir() + "nstest-junit-atomic.xml";
  WriteJUnit(path, {});
  WriteJUnit(path, Sample());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), RenderJUnit(Sample()));
  ::unlink(path.c_str());
  EXPECT_THROW(WriteJUnit("/nonexistent-dir/report.xml", {}), Error);
}

TEST(JUnitTest, ReadGivesBackWhatWasWritten) {
  std::vector<JUnitSuite> written = Sample();
  written[0].cases[0].properties.emplace_back("observed.Send-Q (backlog)", "0");
  std::string path = ::testing::TempDir() + "nstest-junit-read.xml";
  WriteJUnit(path, written);
  std::vector<JUnitSuite> read = ReadJUnit(path);
  ::unlink(path.c_str());
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].name, "backlog");
  EXPECT_EQ(read[0].properties, written[0].properties);
  ASSERT_EQ(read[0].cases.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const JUnitCase& w = written[0].cases[i];
    const JUnitCase& r = read[0].cases[i];
    EXPECT_EQ(r.name, w.name);
    EXPECT_EQ(r.status, w.status) << w.name;
    EXPECT_EQ(r.message, w.message) << w.name;
    EXPECT_EQ(r.detail, w.detail) << w.name;
    EXPECT_EQ(r.system_out, w.system_out) << w.name;
    EXPECT_EQ(r.properties, w.properties) << w.name;
  }
  EXPECT_THROW(ReadJUnit("/nonexistent/report.xml"), Error);
}

}  // namespace
}  // namespace nstest
