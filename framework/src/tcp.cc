#include "nstest/tcp.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "nstest/error.h"
#include "nstest/names.h"
#include "src/wait_util.h"

namespace nstest {
Fd TcpListen(const Netns& ns, const IpAddress& address, uint16_t port, int backlog,
             const ListenSocketOptions& options) {
  std::string what =
      fmt::format("listen on {} in netns '{}'", FormatEndpoint(address, port), ns.name());
  Fd fd = ns.Socket(address.family(), SOCK_STREAM, IPPROTO_TCP);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (options.reuseport &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    ThrowErrno(what + ": SO_REUSEPORT");
  }
  if (options.ipv6_only) {
    if (!address.is_v6()) throw Error(what + ": ipv6_only needs an IPv6 address");
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      ThrowErrno(what + ": IPV6_V6ONLY");
    }
  }
  sockaddr_storage ss{};
  socklen_t len = address.ToSockaddr(port, &ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) ThrowErrno(what);
  if (::listen(fd.get(), backlog) != 0) ThrowErrno(what);
  return fd;
}

Fd TcpConnectStart(const Netns& ns, const IpAddress& address, uint16_t port) {
  Fd fd = ns.Socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
  sockaddr_storage ss{};
  socklen_t len = address.ToSockaddr(port, &ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    ThrowErrno(
        fmt::format("connect to {} from netns '{}'", FormatEndpoint(address, port), ns.name()));
  }
  return fd;
}

namespace {

const NameTable<ConnectResult>& ConnectResultNames() {
  static const NameTable<ConnectResult> names = {
      {ConnectResult::kEstablished, "established"}, {ConnectResult::kRefused, "refused"},
      {ConnectResult::kTimedOut, "timed out"},      {ConnectResult::kReset, "reset"},
      {ConnectResult::kPending, "pending"},         {ConnectResult::kError, "error"},
  };
  return names;
}

}  // namespace

const NameTable<TcpFlagPattern>& TcpFlagPatterns() {
  static const NameTable<TcpFlagPattern> names = {
      {TcpFlagPattern::kHandshakeAck, "handshake-ack"},
      {TcpFlagPattern::kSynAck, "syn-ack"},
      {TcpFlagPattern::kSyn, "syn"},
      {TcpFlagPattern::kRst, "rst"},
      {TcpFlagPattern::kAck, "ack"},
      {TcpFlagPattern::kFin, "fin"},
      {TcpFlagPattern::kAny, "any"},
  };
  return names;
}

const char* ConnectResultName(ConnectResult result) { return ConnectResultNames().Name(result); }

TcpFlagBits FlagBitsOf(TcpFlagPattern pattern) {
  using namespace tcp_flags;
  switch (pattern) {
    case TcpFlagPattern::kHandshakeAck:
      return {kFin | kSyn | kRst | kPsh | kAck, kAck};
    case TcpFlagPattern::kSynAck:
      return {kSyn | kAck | kRst | kFin, kSyn | kAck};
    case TcpFlagPattern::kSyn:
      return {kSyn | kAck, kSyn};
    case TcpFlagPattern::kRst:
      return {kRst, kRst};
    case TcpFlagPattern::kAck:
      return {kAck, kAck};
    case TcpFlagPattern::kFin:
      return {kFin, kFin};
    case TcpFlagPattern::kAny:
      break;
  }
  return {0, 0};
}

const char* TcpFlagPatternName(TcpFlagPattern pattern) { return TcpFlagPatterns().Name(pattern); }

ConnectResult TcpConnectWait(const Fd& fd, std::chrono::milliseconds timeout, int* error) {
  Deadline deadline(timeout);
  pollfd p{fd.get(), POLLOUT, 0};
  int n;
  do {
    n = ::poll(&p, 1, deadline.RemainingMs());
  } while (n < 0 && errno == EINTR);
  if (n == 0) return ConnectResult::kPending;
  int err = 0;
  socklen_t len = sizeof err;
  if (n < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (error != nullptr) *error = err;
  return ConnectResultFromErrno(err);
}

ConnectResult ConnectResultFromErrno(int err) {
  switch (err) {
    case 0:
      return ConnectResult::kEstablished;
    case ECONNREFUSED:
      return ConnectResult::kRefused;
    case ETIMEDOUT:
      return ConnectResult::kTimedOut;
    case ECONNRESET:
    case EPIPE:
      return ConnectResult::kReset;
    default:
      return ConnectResult::kError;
  }
}

}  // namespace nstest
