// Plain TCP sockets inside a namespace: the building blocks of listeners and connectors.
#ifndef NSTEST_TCP_H_
#define NSTEST_TCP_H_

#include <chrono>
#include <cstdint>

#include "nstest/address.h"
#include "nstest/fd.h"
#include "nstest/netns.h"

namespace nstest {

// A TCP socket in `ns`, bound to `address`:`port` (SO_REUSEADDR) and listening with `backlog`
// (passed to listen() as given: -1 and values above net.core.somaxconn are the kernel's to clamp).
// Throws SystemError: "listen on 198.18.0.1:8080 in netns 'server': Address already in use".
Fd TcpListen(const Netns& ns, const IpAddress& address, uint16_t port, int backlog);

// Starts a non-blocking connect() from `ns` to `address`:`port`; the SYN is on its way when this
// returns. Throws SystemError if connect() fails at once (e.g. ENETUNREACH).
Fd TcpConnectStart(const Netns& ns, const IpAddress& address, uint16_t port);

enum class ConnectResult { kEstablished, kRefused, kTimedOut, kReset, kPending, kError };
const char* ConnectResultName(ConnectResult result);
// The outcome an errno from connect()/SO_ERROR, send() or recv() means: 0 established,
// ECONNREFUSED refused, ETIMEDOUT timed out, ECONNRESET/EPIPE reset, anything else an error.
ConnectResult ConnectResultFromErrno(int err);

// Waits up to `timeout` for a connect started by TcpConnectStart() to finish. kPending: still in
// progress when the timeout passed. `error` (optional) receives SO_ERROR.
ConnectResult TcpConnectWait(const Fd& fd, std::chrono::milliseconds timeout, int* error = nullptr);

}  // namespace nstest

#endif  // NSTEST_TCP_H_
