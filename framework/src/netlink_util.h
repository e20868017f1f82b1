// Owners for libnl objects and small helpers shared by the netlink-based modules.
#ifndef NSTEST_SRC_NETLINK_UTIL_H_
#define NSTEST_SRC_NETLINK_UTIL_H_

#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include <memory>
#include <string>

#include "nstest/netns.h"

namespace nstest {

template <typename T, void (*Free)(T*)>
struct NlDeleter {
  void operator()(T* p) const noexcept { Free(p); }
};

using LinkPtr = std::unique_ptr<rtnl_link, NlDeleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlDeleter<rtnl_addr, rtnl_addr_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlDeleter<nl_addr, nl_addr_put>>;
using NlMsgPtr = std::unique_ptr<nl_msg, NlDeleter<nl_msg, nlmsg_free>>;

// Allocates a libnl socket and connects it to `protocol` in the calling thread's namespace.
// Throws NetlinkError naming `context` ("netns 'server'").
NlSockPtr ConnectNetlink(int protocol, const std::string& context);

}  // namespace nstest

#endif  // NSTEST_SRC_NETLINK_UTIL_H_
