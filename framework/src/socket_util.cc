#include "src/socket_util.h"

#include <netinet/in.h>
#include <poll.h>

#include <cerrno>

namespace nstest {

IpAddress FromSockaddr(const sockaddr_storage& ss, uint16_t* port) {
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    *port = ntohs(sin6->sin6_port);
    return IpAddress::FromBytes(AF_INET6, &sin6->sin6_addr);
  }
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
  *port = ntohs(sin->sin_port);
  return IpAddress::FromBytes(AF_INET, &sin->sin_addr);
}

uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  uint16_t port = 0;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) FromSockaddr(ss, &port);
  return port;
}

int ReadUntil(int fd, const Deadline& deadline, std::string* out) {
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, deadline.RemainingMs());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    ssize_t got = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got > 0) {
      out->append(buf, static_cast<size_t>(got));
      continue;
    }
    if (got == 0) return 0;
    if (errno == EAGAIN || errno == EINTR) continue;
    return errno;
  }
}

}  // namespace nstest
