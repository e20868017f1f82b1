#include "nstest/capture.h"

#include <gtest/gtest.h>

#include <vector>

namespace nstest {
namespace {

// An Ethernet frame with an IPv4 header and a TCP SYN-ACK from 198.18.0.1:8080 to
// 198.18.0.2:40000, seq 1000, ack 2000, no payload.
std::vector<uint8_t> SynAckFrame() {
  std::vector<uint8_t> f = {
      0,    1,    2,    3,    4,   5,  6,    7,    8,  9, 10, 11, 0x08, 0x00,  // Ethernet, IPv4
      0x45, 0,    0,    40,   0,   0,  0x40, 0,    64, 6, 0,  0,  // IPv4, total 40, TCP
      198,  18,   0,    1,    198, 18, 0,    2,                   // addresses
      0x1f, 0x90, 0x9c, 0x40,                                     // ports 8080 > 40000
      0,    0,    0x03, 0xe8, 0,   0,  0x07, 0xd0,                // seq 1000, ack 2000
      0x50, 0x12, 0xff, 0xff, 0,   0,  0,    0};                  // doff 5, SYN|ACK
  return f;
}

TEST(DecodeEthernetTest, DecodesTcpOverIpv4) {
  std::vector<uint8_t> f = SynAckFrame();
  std::optional<Packet> p = DecodeEthernet(f.data(), f.size(), std::chrono::seconds(1));
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->tcp);
  EXPECT_EQ(p->src.ToString(), "198.18.0.1");
  EXPECT_EQ(p->sport, 8080);
  EXPECT_EQ(p->dport, 40000);
  EXPECT_EQ(p->seq, 1000u);
  EXPECT_EQ(p->ack, 2000u);
  EXPECT_EQ(p->payload, 0u);
  EXPECT_EQ(FlagString(p->flags), "S.");
  EXPECT_EQ(p->ToString(),
            "1.000000 198.18.0.1:8080 > 198.18.0.2:40000 [S.] seq 1000 ack 2000 len 0");
  EXPECT_TRUE(PacketFilterSpec::SynAcksFrom(8080).Matches(*p));
  EXPECT_FALSE(PacketFilterSpec::SynAcksFrom(8081).Matches(*p));
  EXPECT_FALSE(PacketFilterSpec::Rsts().Matches(*p));
}

TEST(DecodeEthernetTest, RejectsTruncatedAndForeignFrames) {
  std::vector<uint8_t> f = SynAckFrame();
  EXPECT_FALSE(DecodeEthernet(f.data(), 10, std::chrono::seconds(0)).has_value());
  f[12] = 0x08;
  f[13] = 0x06;  // ARP
  EXPECT_FALSE(DecodeEthernet(f.data(), f.size(), std::chrono::seconds(0)).has_value());
  f = SynAckFrame();
  std::optional<Packet> p = DecodeEthernet(f.data(), 40, std::chrono::seconds(0));
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->tcp);  // TCP header cut off: an IP packet, not decoded as TCP
}

TEST(FlagStringTest, PrintsLikeTcpdump) {
  EXPECT_EQ(FlagString(0x02), "S");
  EXPECT_EQ(FlagString(0x14), "R.");
  EXPECT_EQ(FlagString(0x11), "F.");
  EXPECT_EQ(FlagString(0x10), ".");
  EXPECT_EQ(FlagString(0x18), "P.");
}

}  // namespace
}  // namespace nstest
