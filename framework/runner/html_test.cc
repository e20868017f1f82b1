#include "nstest/html.h"

#include <gtest/gtest.h>

#include <string>

#include "nstest/compare.h"

namespace nstest {
namespace {

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

JUnitSuite Sample(size_t packets, size_t kept) {
  JUnitSuite s;
  s.name = "overflow";
  s.properties = {{"kernel_release", "6.18.0"}, {"sysctl.override.net.core.somaxconn", "64"}};
  JUnitCase c{"synack<backoff>",
              "",
              3.2,
              CaseStatus::kFailed,
              "interval 2: expected 2000 ms",
              "suites/overflow.toml:9:3: interval 2 of 'x': expected 2000 ms +- 150, got 2300.0 ms",
              "a log line",
              {}};
  std::string ladder;
  for (size_t i = 0; i < kept; ++i) {
    ladder += std::to_string(i * 1000) + (i % 2 == 0 ? " client server S" : " server client S.") +
              " 198.18.0.2:41000>198.18.0.1:8080 0;";
  }
  c.properties = {{"param.backlog", "2"},
                  {"step.1", "suites/overflow.toml:5:3 listen passed 0.4"},
                  {"step.2", "suites/overflow.toml:9:3 expect failed 2001.2"},
                  {"timeline",
                   "0 server:8080=0/0;12 server:8080=3/1 server:TcpExtListenOverflows=0;"
                   "3000 server:8080=3/0 server:TcpExtListenOverflows=2;"},
                  {"capture.capture.count", std::to_string(packets)},
                  {"capture.capture", ladder},
                  {"observed.TcpOutRsts in netns 'server'", "0"}};
  JUnitCase skipped{"netem", "", 0, CaseStatus::kSkipped, "needs netem", "", "", {}};
  s.cases = {c, skipped};
  return s;
}

TEST(HtmlTest, OnePageWithACaseTableLaddersAndTimelines) {
  std::string html = RenderHtml({Sample(6, 6)});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<span class=\"passed\">0 passed</span>, <span class=\"failed\">1 failed"),
            std::string::npos);
  EXPECT_NE(html.find("kernel 6.18.0 &middot; overrides: net.core.somaxconn=64"),
            std::string::npos);
  EXPECT_EQ(Occurrences(html, "<tr class=\"row "), 2u);
  EXPECT_EQ(Occurrences(html, "<svg class=\"ladder\""), 1u);
  EXPECT_EQ(Occurrences(html, "<svg class=\"timeline\""), 1u);
  EXPECT_EQ(Occurrences(html, "marker-end=\"url(#head)\""), 6u);  // an arrow per packet
  EXPECT_NE(html.find("S (retransmitted)"), std::string::npos);   // the second SYN
  EXPECT_NE(html.find("server:8080 SYN-RECV"), std::string::npos);
  EXPECT_NE(html.find("server:TcpExtListenOverflows"), std::string::npos);
  EXPECT_NE(html.find("<code>suites/overflow.toml:9:3</code> expect <span class=\"status\">failed"),
            std::string::npos);
  EXPECT_NE(html.find("expected 2000 ms +- 150, got 2300.0 ms"), std::string::npos);
  EXPECT_NE(html.find("synack&lt;backoff&gt;"), std::string::npos);  // escaped
  EXPECT_EQ(html.find("synack<backoff>"), std::string::npos);
}

// Self-contained: nothing is fetched, whatever the page is opened from.
TEST(HtmlTest, HasNoExternalReferences) {
  std::string html = RenderHtml({Sample(6, 6)});
  for (const char* ref : {"http:", "https:", "src=", "@import", "url(http", "//"}) {
    EXPECT_EQ(html.find(ref), std::string::npos) << ref;
  }
}

TEST(HtmlTest, ALargeCaptureIsCappedWithANote) {
  std::string html = RenderHtml({Sample(8194, 400)});
  EXPECT_NE(html.find("The ladder shows the first 400 of 8194 packets."), std::string::npos);
  EXPECT_EQ(Occurrences(html, "marker-end=\"url(#head)\""), 400u);
  EXPECT_LT(html.size(), 400u * 1024);
}

TEST(HtmlTest, AComparisonIsATableOfWhatDiffers) {
  Comparison c;
  c.base_header = "kernel 6.1.0; overrides: none";
  c.new_header = "kernel 6.12.9; overrides: none";
  c.compared = 3;
  c.changes = {
      {ChangeClass::kValues,
       "overflow.syn_dropped/backlog=2",
       "",
       {"TcpExtListenOverflows in netns 'server' 2 -> 3"}},
      {ChangeClass::kVerdict, "overflow.syn_linear_timeouts/linear=0", "skipped -> passed", {}}};
  c.only_in_new = {"server.x"};
  std::string html = RenderComparisonHtml(c, "6.1.xml", "6.12.xml");
  EXPECT_NE(html.find("<td>base</td><td>6.1.xml</td><td>kernel 6.1.0; overrides: none</td>"),
            std::string::npos);
  EXPECT_NE(html.find("2 of 3 cases compared differ; 0 only in base, 1 only in new"),
            std::string::npos);
  EXPECT_NE(html.find("TcpExtListenOverflows in netns 'server' 2 -&gt; 3"), std::string::npos);
  EXPECT_NE(html.find("<td>skipped -&gt; passed</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"new\">new</td><td>server.x</td><td>only in new</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"changed\">changed</td><td>overflow.syn_dropped/backlog=2</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"verdict\">1 verdict</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"regression\">0 regression</td>"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
}

}  // namespace
}  // namespace nstest
