#include "src/strings.h"

#include <gtest/gtest.h>

namespace nstest {
namespace {

TEST(SplitTest, KeepsEmptyParts) {
  EXPECT_EQ(Split("a..b", '.'), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(Split("", '.'), (std::vector<std::string>{""}));
}

TEST(NormalizeSpacesTest, FoldsTabsAndNewlines) {
  EXPECT_EQ(NormalizeSpaces("4096\t131072\t6291456\n"), "4096 131072 6291456");
  EXPECT_EQ(NormalizeSpaces("  x  "), "x");
  EXPECT_EQ(NormalizeSpaces(""), "");
}

TEST(EditDistanceTest, CountsEdits) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("same", "same"), 0u);
  EXPECT_EQ(EditDistance("nmae", "name"), 1u);  // a transposition
}

TEST(ClosestNameTest, SuggestsOnlyNearNames) {
  std::vector<std::string> names = {"TcpExtListenOverflows", "TcpExtListenDrops",
                                    "TcpPassiveOpens"};
  EXPECT_EQ(ClosestName("TcpExtListenOverflow", names), "TcpExtListenOverflows");
  EXPECT_EQ(ClosestName("tcpextlistendrops", names), "TcpExtListenDrops");
  EXPECT_EQ(ClosestName("Bogus", names), "");
  EXPECT_EQ(ClosestName("ListenDrops", names), "TcpExtListenDrops");
  EXPECT_EQ(ClosestName("Opens", {"TcpPassiveOpens", "TcpActiveOpens"}), "TcpActiveOpens");
}

TEST(PrintableTest, EscapesControlCharacters) {
  EXPECT_EQ(Printable('a'), "a");
  EXPECT_EQ(Printable('\n'), "\\x0a");
}

TEST(TomlQuotedTest, WritesWhatASuiteCanPasteBack) {
  EXPECT_EQ(TomlQuoted("HTTP/1.1 200 OK\r\ncontent-length: 4\n"),
            "\"HTTP/1.1 200 OK\\r\\ncontent-length: 4\\n\"");
  EXPECT_EQ(TomlQuoted("say \"hi\"\\\t\x01\x7f"), "\"say \\\"hi\\\"\\\\\\t\\u0001\\u007F\"");
  EXPECT_EQ(TomlQuoted("caf\xc3\xa9 \xff"), "\"caf\xc3\xa9 \\xFF\"");
  EXPECT_EQ(TomlQuoted(""), "\"\"");
}

TEST(ShellQuotedTest, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuoted({"redis-server", "--save", "", "--appendonly", "no"}),
            "redis-server --save '' --appendonly no");
  EXPECT_EQ(ShellQuoted({"sh", "-c", "echo 'hi' $X"}), "sh -c 'echo '\\''hi'\\'' $X'");
  EXPECT_EQ(ShellQuoted({"/usr/sbin/nginx", "-g", "daemon off;"}),
            "/usr/sbin/nginx -g 'daemon off;'");
}

}  // namespace
}  // namespace nstest
