#include "nstest/counters.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "nstest/error.h"
#include "nstest/fd.h"
#include "src/proc_net.h"

namespace nstest {
namespace {

constexpr char kNetstat[] =
    "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n"
    "TcpExt: 1 3 4\n"
    "IpExt: InNoRoutes\n"
    "IpExt: 0\n";
constexpr char kSnmp[] =
    "Ip: Forwarding DefaultTTL\n"
    "Ip: 2 64\n"
    "Tcp: RtoAlgorithm MaxConn PassiveOpens\n"
    "Tcp: 1 -1 7\n";
constexpr char kSnmp6[] = "Ip6InReceives                   \t12\nIp6InHdrErrors 0\n";

TEST(CountersTest, ParsesUnderNstatNames) {
  Counters c = Counters::Parse("server", kNetstat, kSnmp, kSnmp6);
  EXPECT_EQ(c.Get("TcpExtListenOverflows"), 3);
  EXPECT_EQ(c.Get("TcpExtListenDrops"), 4);
  EXPECT_EQ(c.Get("TcpPassiveOpens"), 7);
  EXPECT_EQ(c.Get("TcpMaxConn"), -1);
  EXPECT_EQ(c.Get("Ip6InReceives"), 12);
  EXPECT_EQ(c.Get("IpForwarding"), 2);
}

TEST(CountersTest, UnknownNameSuggestsNearOne) {
  Counters c = Counters::Parse("server", kNetstat, kSnmp, "");
  try {
    c.Get("TcpExtListenOverflow");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "read counter 'TcpExtListenOverflow' in netns 'server': no such counter; did you "
                 "mean 'TcpExtListenOverflows'?");
  }
  try {
    c.Get("Nonsense");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "read counter 'Nonsense' in netns 'server': no such counter");
  }
}

TEST(CountersTest, DeltaReportsChanges) {
  Counters before = Counters::Parse("server", kNetstat, kSnmp, "");
  Counters after = Counters::Parse(
      "server", "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 5 7\n", kSnmp, "");
  CounterDelta d = after.Since(before);
  EXPECT_EQ(d.Get("TcpExtListenOverflows"), 2);
  EXPECT_EQ(d.Get("TcpExtListenDrops"), 3);
  EXPECT_EQ(d.Get("TcpExtSyncookiesSent"), 0);
  EXPECT_EQ(d.ToString(), "TcpExtListenDrops +3, TcpExtListenOverflows +2");
  EXPECT_EQ(before.Since(before).ToString(), "no counter changed");
  EXPECT_THROW(d.Get("TcpExtListenOverflow"), Error);
}

// The summary a failure shows: TCP first, neighbour-discovery and MLD noise left out.
TEST(CountersTest, SummaryPutsTcpFirstAndLeavesOutIpv6LinkNoise) {
  const std::string snmp6_before =
      "Ip6InReceives 1\nIp6OutMcastPkts 2\nIcmp6OutNeighborSolicits 0\nIcmp6OutMLDv2Reports 1\n";
  const std::string snmp6_after =
      "Ip6InReceives 4\nIp6OutMcastPkts 9\nIcmp6OutNeighborSolicits 2\nIcmp6OutMLDv2Reports 3\n";
  Counters before = Counters::Parse("client", kNetstat, kSnmp, snmp6_before);
  Counters after = Counters::Parse(
      "client", "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 3 5\n",
      "Ip: Forwarding DefaultTTL\nIp: 2 64\nTcp: RtoAlgorithm MaxConn PassiveOpens\nTcp: 1 -1 9\n",
      snmp6_after);
  CounterDelta d = after.Since(before);
  EXPECT_EQ(d.Summary(),
            "TCP: TcpExtListenDrops +1, TcpPassiveOpens +2; other: Ip6InReceives +3; 3 "
            "ICMPv6/IPv6-multicast counters left out");
  EXPECT_EQ(d.Get("Icmp6OutNeighborSolicits"), 2) << "left out of the summary only";
  EXPECT_EQ(before.Since(before).Summary(), "no counter changed");
  Counters only_noise = Counters::Parse("client", kNetstat, kSnmp, snmp6_after);
  EXPECT_EQ(
      only_noise.Since(before).Summary(),
      "TCP: none changed; other: Ip6InReceives +3; 3 ICMPv6/IPv6-multicast counters left out");
}

TEST(CountersTest, MalformedFilesAreErrors) {
  EXPECT_THROW(Counters::Parse("s", "TcpExt: A B\nTcpExt: 1\n", "", ""), Error);
  EXPECT_THROW(Counters::Parse("s", "TcpExt: A\nIpExt: 1\n", "", ""), Error);
  EXPECT_THROW(Counters::Parse("s", "TcpExt: A\nTcpExt: x\n", "", ""), Error);
  EXPECT_THROW(Counters::Parse("s", "", "", "Ip6InReceives\n"), Error);
}

// A file of `text`, read from its start by ReadFromStart.
std::string ReadBack(const std::string& text) {
  Fd f(::memfd_create("nstest-read-from-start", MFD_CLOEXEC));
  EXPECT_TRUE(f.valid());
  EXPECT_EQ(::write(f.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  std::string out = "left over";
  EXPECT_TRUE(ReadFromStart(f.get(), &out));
  return out;
}

// Larger than the first buffer (16 KiB) twice over, then small: each read gives the whole file
// and only it, from its start wherever the descriptor's offset is.
TEST(ReadFromStartTest, GivesTheWholeFileWhateverItsSize) {
  std::string big;
  for (int i = 0; big.size() < 40000; ++i) big += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(ReadBack(big), big);
  EXPECT_EQ(ReadBack("Ip6InReceives 12\n"), "Ip6InReceives 12\n");
  EXPECT_EQ(ReadBack(""), "");
  std::string out;
  EXPECT_FALSE(ReadFromStart(-1, &out));
}

}  // namespace
}  // namespace nstest
