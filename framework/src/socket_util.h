// Socket helpers shared by the listener (peer.cc) and the connector (connect.cc).
#ifndef NSTEST_SRC_SOCKET_UTIL_H_
#define NSTEST_SRC_SOCKET_UTIL_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "nstest/address.h"
#include "src/wait_util.h"

namespace nstest {

IpAddress FromSockaddr(const sockaddr_storage& ss, uint16_t* port);
// The port a socket is bound to, or 0.
uint16_t LocalPort(int fd);
// Appends what can be read before `deadline`; returns the errno that ended reading (0 at EOF or
// when the time ran out).
int ReadUntil(int fd, const Deadline& deadline, std::string* out);

}  // namespace nstest

#endif  // NSTEST_SRC_SOCKET_UTIL_H_
