// Owners for libnl objects and small helpers shared by the netlink-based modules.
#ifndef NSTEST_SRC_NETLINK_UTIL_H_
#define NSTEST_SRC_NETLINK_UTIL_H_

#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

// An rtnetlink request built by hand, for the few every case makes (a veth, its addresses, links
// up): libnl's objects cost more than the kernel's own work for these. The fixed header that
// follows the netlink header (ifinfomsg, ifaddrmsg) is given at construction.
class RtnlRequest {
 public:
  template <typename Header>
  RtnlRequest(uint16_t type, uint16_t flags, const Header& header) : RtnlRequest(type, flags) {
    Append(&header, sizeof header);
  }
  void Put(uint16_t attr, const void* data, size_t len);
  void PutString(uint16_t attr, const std::string& value) {
    Put(attr, value.c_str(), value.size() + 1);
  }
  void PutU32(uint16_t attr, uint32_t value) { Put(attr, &value, sizeof value); }
  // A nested attribute: Put() and further headers until EndNest(BeginNest(...)) go inside it.
  size_t BeginNest(uint16_t attr);
  void EndNest(size_t nest);
  // Raw bytes, aligned (a nested ifinfomsg, as a veth's peer has).
  void Append(const void* data, size_t len);
  // Sends the request on `sock` and reads the kernel's answer. Returns 0, or a negative libnl
  // error code (for NetlinkError) made from the kernel's errno. A message the kernel answers
  // with before its acknowledgement (the object a RTM_GET... request asked for) goes to
  // `on_reply`.
  int Execute(nl_sock* sock, const std::function<void(const nlmsghdr&)>& on_reply = nullptr);

 private:
  RtnlRequest(uint16_t type, uint16_t flags);
  std::vector<uint32_t> words_;  // the message; 4-byte words keep every header aligned
  size_t size_ = 0;              // bytes used
};

// The attributes of a netlink message that follow its fixed header (`header_size` bytes after the
// netlink header), each with its type, payload and payload size, as RTA_OK and RTA_NEXT walk them.
void ForEachAttribute(const nlmsghdr& m, size_t header_size,
                      const std::function<void(uint16_t type, const void* data, size_t size)>& f);

}  // namespace nstest

#endif  // NSTEST_SRC_NETLINK_UTIL_H_
