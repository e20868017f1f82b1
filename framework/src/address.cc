#include "nstest/address.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "nstest/error.h"

namespace nstest {

IpAddress IpAddress::Parse(std::string_view text) {
  IpAddress a;
  std::string s(text);
  if (s.find(':') != std::string::npos) {
    a.family_ = AF_INET6;
    if (::inet_pton(AF_INET6, s.c_str(), a.bytes_.data()) == 1) return a;
  } else {
    a.family_ = AF_INET;
    if (::inet_pton(AF_INET, s.c_str(), a.bytes_.data()) == 1) return a;
  }
  throw Error(fmt::format("parse address '{}': not an IPv4 or IPv6 address", text));
}

IpAddress IpAddress::FromBytes(int family, const void* bytes) {
  IpAddress a;
  a.family_ = family == AF_INET6 ? AF_INET6 : AF_INET;
  std::memcpy(a.bytes_.data(), bytes, a.size());
  return a;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family_, bytes_.data(), buf, sizeof buf);
  return buf;
}

socklen_t IpAddress::ToSockaddr(uint16_t port, sockaddr_storage* out) const {
  std::memset(out, 0, sizeof *out);
  if (family_ == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, bytes_.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(out);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  std::memcpy(&sin->sin_addr, bytes_.data(), 4);
  return sizeof(sockaddr_in);
}

IpPrefix IpPrefix::Parse(std::string_view text) {
  IpPrefix p;
  size_t slash = text.find('/');
  p.address = IpAddress::Parse(text.substr(0, slash));
  int max_len = p.address.is_v6() ? 128 : 32;
  if (slash == std::string_view::npos) {
    p.prefix_len = max_len;
    return p;
  }
  std::string_view len = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), p.prefix_len);
  if (ec != std::errc() || end != len.data() + len.size() || len.empty() || p.prefix_len < 0 ||
      p.prefix_len > max_len) {
    throw Error(
        fmt::format("parse prefix '{}': prefix length must be a number 0-{}", text, max_len));
  }
  return p;
}

std::string IpPrefix::ToString() const {
  return fmt::format("{}/{}", address.ToString(), prefix_len);
}

IpAddress WildcardAddress(Family family) {
  static const uint8_t kZero[16] = {};
  return IpAddress::FromBytes(family == Family::kIPv6 ? AF_INET6 : AF_INET, kZero);
}

std::string FormatEndpoint(const IpAddress& address, uint16_t port) {
  return address.is_v6() ? fmt::format("[{}]:{}", address.ToString(), port)
                         : fmt::format("{}:{}", address.ToString(), port);
}

DefaultAddresses DefaultPairAddresses(int index) {
  if (index < 0 || index > 255) {
    throw Error(fmt::format("choose addresses for veth pair {}: index must be 0-255", index));
  }
  return DefaultAddresses{
      IpPrefix::Parse(fmt::format("198.18.{}.1/24", index)),
      IpPrefix::Parse(fmt::format("198.18.{}.2/24", index)),
      IpPrefix::Parse(fmt::format("2001:2:0:{:x}::1/64", index)),
      IpPrefix::Parse(fmt::format("2001:2:0:{:x}::2/64", index)),
  };
}

}  // namespace nstest
