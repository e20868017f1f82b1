#include "src/netlink_util.h"

#include <fmt/format.h>
#include <netlink/socket.h>

#include "nstest/error.h"

namespace nstest {

NlSockPtr ConnectNetlink(int protocol, const std::string& context) {
  NlSockPtr sock(nl_socket_alloc());
  if (!sock) throw Error(fmt::format("allocate netlink socket for {}: out of memory", context));
  // libnl opens its sockets with SOCK_CLOEXEC (lib/nl.c, nl_connect).
  int err = nl_connect(sock.get(), protocol);
  if (err < 0) throw NetlinkError(fmt::format("open netlink socket for {}", context), err);
  return sock;
}

}  // namespace nstest
