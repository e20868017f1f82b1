#include "nstest/address.h"

#include <gtest/gtest.h>

#include "nstest/error.h"

namespace nstest {
namespace {

TEST(IpAddressTest, ParsesBothFamilies) {
  EXPECT_EQ(IpAddress::Parse("198.18.0.1").ToString(), "198.18.0.1");
  EXPECT_FALSE(IpAddress::Parse("198.18.0.1").is_v6());
  EXPECT_EQ(IpAddress::Parse("2001:2:0:0::1").ToString(), "2001:2::1");
  EXPECT_TRUE(IpAddress::Parse("2001:2::1").is_v6());
}

TEST(IpAddressTest, RejectsGarbageWithMessage) {
  try {
    IpAddress::Parse("198.18.0.256");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "parse address '198.18.0.256': not an IPv4 or IPv6 address");
  }
}

TEST(IpPrefixTest, ParsesAndDefaultsToHostPrefix) {
  EXPECT_EQ(IpPrefix::Parse("198.18.0.1/24").ToString(), "198.18.0.1/24");
  EXPECT_EQ(IpPrefix::Parse("198.18.0.1").prefix_len, 32);
  EXPECT_EQ(IpPrefix::Parse("2001:2::1").prefix_len, 128);
}

TEST(IpPrefixTest, RejectsBadLengths) {
  for (const char* bad :
       {"198.18.0.1/33", "198.18.0.1/", "198.18.0.1/-1", "198.18.0.1/2x", "2001:2::1/129"}) {
    EXPECT_THROW(IpPrefix::Parse(bad), Error) << bad;
  }
  try {
    IpPrefix::Parse("198.18.0.1/33");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "parse prefix '198.18.0.1/33': prefix length must be a number 0-32");
  }
}

TEST(DefaultPairAddressesTest, UsesBenchmarkRanges) {
  DefaultAddresses a = DefaultPairAddresses(0);
  EXPECT_EQ(a.a_v4.ToString(), "198.18.0.1/24");
  EXPECT_EQ(a.b_v4.ToString(), "198.18.0.2/24");
  EXPECT_EQ(a.a_v6.ToString(), "2001:2::1/64");
  EXPECT_EQ(DefaultPairAddresses(17).b_v6.ToString(), "2001:2:0:11::2/64");
  EXPECT_THROW(DefaultPairAddresses(256), Error);
}

TEST(IpAddressTest, ToSockaddrSetsPortInNetworkOrder) {
  sockaddr_storage ss{};
  socklen_t len = IpAddress::Parse("198.18.0.1").ToSockaddr(8080, &ss);
  ASSERT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&ss)->sin_port, htons(8080));
}

}  // namespace
}  // namespace nstest
