// Plain TCP sockets inside a namespace: the building blocks of listeners and connectors.
#ifndef NSTEST_TCP_H_
#define NSTEST_TCP_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nstest/address.h"
#include "nstest/fd.h"
#include "nstest/names.h"
#include "nstest/netns.h"

namespace nstest {

// TCP header flags.
namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flags

// The kinds of TCP packet a listen-path test asks about, as flag patterns: one definition for
// packet filters, holds, captures and expectations.
enum class TcpFlagPattern {
  kHandshakeAck,  // "handshake-ack": ACK alone (no SYN, FIN, RST, PSH): a handshake's last packet
  kSynAck,        // "syn-ack": SYN and ACK, no RST or FIN
  kSyn,           // "syn": SYN without ACK
  kRst,           // "rst": RST set
  kAck,           // "ack": ACK set, whatever else is
  kFin,           // "fin": FIN set
  kAny,           // "any"
};
// (flags & mask) == value.
struct TcpFlagBits {
  uint8_t mask = 0;
  uint8_t value = 0;
};
TcpFlagBits FlagBitsOf(TcpFlagPattern pattern);
// The patterns' names: "handshake-ack", "syn-ack", "syn", "rst", "ack", "fin", "any".
const NameTable<TcpFlagPattern>& TcpFlagPatterns();
const char* TcpFlagPatternName(TcpFlagPattern pattern);

// Socket options a listener sets before bind().
struct ListenSocketOptions {
  bool reuseport = false;  // SO_REUSEPORT: one of a group of sockets on the same address and port
  bool ipv6_only = false;  // IPV6_V6ONLY on an IPv6 socket: no IPv4 connections on "::"
};

// A TCP socket in `ns`, bound to `address`:`port` (SO_REUSEADDR) and listening with `backlog`
// (passed to listen() as given: -1 and values above net.core.somaxconn are the kernel's to clamp).
// Throws SystemError: "listen on 198.18.0.1:8080 in netns 'server': Address already in use".
Fd TcpListen(const Netns& ns, const IpAddress& address, uint16_t port, int backlog,
             const ListenSocketOptions& options = {});

// Starts a non-blocking connect() from `ns` to `address`:`port`; the SYN is on its way when this
// returns. Throws SystemError if connect() fails at once (e.g. ENETUNREACH).
Fd TcpConnectStart(const Netns& ns, const IpAddress& address, uint16_t port);

enum class ConnectResult { kEstablished, kRefused, kTimedOut, kReset, kPending, kError };
// "established", "refused", "timed out", "reset", "pending", "error".
const char* ConnectResultName(ConnectResult result);
// The outcome an errno from connect()/SO_ERROR, send() or recv() means: 0 established,
// ECONNREFUSED refused, ETIMEDOUT timed out, ECONNRESET/EPIPE reset, anything else an error.
ConnectResult ConnectResultFromErrno(int err);

// Waits up to `timeout` for a connect started by TcpConnectStart() to finish. kPending: still in
// progress when the timeout passed. `error` (optional) receives SO_ERROR.
ConnectResult TcpConnectWait(const Fd& fd, std::chrono::milliseconds timeout, int* error = nullptr);

}  // namespace nstest

#endif  // NSTEST_TCP_H_
