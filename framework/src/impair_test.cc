#include "nstest/impair.h"

#include <gtest/gtest.h>

namespace nstest {
namespace {

TEST(TcpMatchTest, BuildsNftablesExpressionsFromNumbers) {
  EXPECT_EQ(TcpMatch::HandshakeAck(8080).Expression(),
            "meta l4proto tcp tcp dport 8080 tcp flags & (fin | syn | rst | psh | ack) == ack");
  EXPECT_EQ(TcpMatch::SynAck(8080).Expression(),
            "meta l4proto tcp tcp sport 8080 tcp flags & (fin | syn | rst | ack) == (syn | ack)");
  TcpMatch m;
  EXPECT_EQ(m.Expression(), "meta l4proto tcp");
  m.sport_min = 41000;
  m.sport_max = 41003;
  m.flags_mask = tcp_flags::kRst;
  EXPECT_EQ(m.Expression(), "meta l4proto tcp tcp sport 41000-41003 tcp flags & rst == 0x0");
}

}  // namespace
}  // namespace nstest
