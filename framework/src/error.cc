#include "nstest/error.h"

#include <netlink/errno.h>

#include <cerrno>
#include <cstring>

#include "nstest/fd.h"

namespace nstest {

SystemError::SystemError(const std::string& what, int code) : Error(what), code_(code) {}

NetlinkError::NetlinkError(const std::string& what, int nl_code)
    : Error(what + ": " + nl_geterror(nl_code)), code_(nl_code < 0 ? -nl_code : nl_code) {}

void ThrowSystemError(const std::string& what, int code) {
  throw SystemError(what + ": " + std::strerror(code), code);
}

void ThrowErrno(const std::string& what) { ThrowSystemError(what, errno); }

}  // namespace nstest
