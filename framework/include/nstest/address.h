// IPv4/IPv6 addresses and prefixes, parsed and printed in the usual notations.
#ifndef NSTEST_ADDRESS_H_
#define NSTEST_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace nstest {

// An address family, as tests choose one.
enum class Family { kIPv4, kIPv6 };

// An IPv4 or IPv6 address.
class IpAddress {
 public:
  IpAddress() = default;
  // Parses "198.18.0.1" or "2001:2::1". Throws Error on anything else.
  static IpAddress Parse(std::string_view text);
  // From raw network-order bytes: 4 for AF_INET, 16 for AF_INET6.
  static IpAddress FromBytes(int family, const void* bytes);

  int family() const noexcept { return family_; }  // AF_INET or AF_INET6
  bool is_v6() const noexcept { return family_ == AF_INET6; }
  const uint8_t* bytes() const noexcept { return bytes_.data(); }
  size_t size() const noexcept { return family_ == AF_INET6 ? 16 : 4; }
  std::string ToString() const;

  // A socket address for this address and `port` (host byte order); returns its length.
  socklen_t ToSockaddr(uint16_t port, sockaddr_storage* out) const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }

 private:
  int family_ = AF_INET;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length, as assigned to an interface: "198.18.0.1/24".
struct IpPrefix {
  IpAddress address{};
  int prefix_len = 0;

  // Parses "ADDR/LEN"; a missing length means a host prefix (/32 or /128). Throws Error.
  static IpPrefix Parse(std::string_view text);
  std::string ToString() const;
};

// 0.0.0.0 or ::.
IpAddress WildcardAddress(Family family);

// "198.18.0.1:8080" or "[2001:2::1]:8080".
std::string FormatEndpoint(const IpAddress& address, uint16_t port);

// The default addresses of veth pair `index` (0..255) between two namespaces, taken from the
// ranges reserved for network benchmark tests (RFC 2544: 198.18.0.0/15, RFC 5180: 2001:2::/48),
// so they never collide with a real network: side A gets .1/::1, side B .2/::2.
struct DefaultAddresses {
  IpPrefix a_v4{}, b_v4{}, a_v6{}, b_v6{};
};
// Throws Error if `index` is out of range.
DefaultAddresses DefaultPairAddresses(int index);

}  // namespace nstest

#endif  // NSTEST_ADDRESS_H_
