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

}  // namespace
}  // namespace nstest
