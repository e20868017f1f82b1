// `nstest serve`: a small TCP echo server, a real program for suites to put under test (`start`
// with `{nstest}`), where no other server is at hand (the container image, the kernel matrix's
// guest). One process, one thread, epoll; it runs in the namespace it is started in.
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "nstest/address.h"
#include "nstest/error.h"
#include "nstest/fd.h"

namespace nstest::cli {
namespace {

// Listening sockets as the options say; throws SystemError.
std::vector<Fd> ListenAll(const ServeOptions& o, const IpAddress& address) {
  std::vector<Fd> out;
  std::string what = fmt::format("listen on {}", FormatEndpoint(address, o.port));
  for (int i = 0; i < o.sockets; ++i) {
    Fd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!fd) ThrowErrno(what);
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o.sockets > 1 && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ThrowErrno(what + ": SO_REUSEPORT");
    }
    if (o.ipv6_only && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      ThrowErrno(what + ": IPV6_V6ONLY");
    }
    sockaddr_storage ss{};
    socklen_t len = address.ToSockaddr(o.port, &ss);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) ThrowErrno(what);
    if (::listen(fd.get(), o.backlog) != 0) ThrowErrno(what);
    out.push_back(std::move(fd));
  }
  return out;
}

void Add(int ep, int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) ThrowErrno("serve: epoll_ctl");
}

}  // namespace

int RunServe(std::ostream& out, const ServeOptions& o) {
  try {
    IpAddress address = IpAddress::Parse(o.address);
    if (o.ipv6_only && !address.is_v6()) throw Error("serve: --ipv6-only needs an IPv6 address");
    // SIGTERM and SIGINT end the server through its loop, so that it says how much it served.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &stop, nullptr) != 0) ThrowErrno("serve: sigprocmask");
    Fd signals(::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) ThrowErrno("serve: signalfd");
    ::signal(SIGPIPE, SIG_IGN);
    std::vector<Fd> listeners = ListenAll(o, address);
    out << fmt::format(
               "nstest serve: listening on {} (backlog {}, {} socket{}){}\n",
               FormatEndpoint(address, o.port), o.backlog, o.sockets, o.sockets == 1 ? "" : "s",
               o.accept_after_ms > 0 ? fmt::format("; accepting after {} ms", o.accept_after_ms)
                                     : "")
        << std::flush;
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) ThrowErrno("serve: epoll_create1");
    Add(ep.get(), signals.get(), EPOLLIN);
    // Not accepting for a while: completed connections wait in the accept queue meanwhile.
    if (o.accept_after_ms > 0) {
      epoll_event ev{};
      int n;
      do {
        n = ::epoll_wait(ep.get(), &ev, 1, o.accept_after_ms);
      } while (n < 0 && errno == EINTR);
      if (n > 0) {
        out << "nstest serve: stopped before accepting\n" << std::flush;
        return 0;
      }
      out << "nstest serve: accepting\n" << std::flush;
    }
    for (const Fd& l : listeners) Add(ep.get(), l.get(), EPOLLIN);
    std::map<int, Fd> connections;
    long accepted = 0;
    std::vector<epoll_event> events(64);
    for (;;) {
      int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) ThrowErrno("serve: epoll_wait");
      for (int k = 0; k < n; ++k) {
        int fd = events[static_cast<size_t>(k)].data.fd;
        if (fd == signals.get()) {
          out << fmt::format("nstest serve: stopping after {} connections\n", accepted)
              << std::flush;
          return 0;
        }
        if (connections.count(fd) == 0) {  // a listener: take everything queued
          for (;;) {
            // Blocking connections: an echo is written whole (the reads never block: epoll
            // said there is data).
            int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) {
              connections.emplace(c, Fd(c));
              Add(ep.get(), c, EPOLLIN);
              ++accepted;
              continue;
            }
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) {
              // Out of descriptors or memory: say so and stop accepting on this socket, rather
              // than spin on a queue it cannot drain.
              out << fmt::format("nstest serve: accept: {}; no longer accepting\n",
                                 std::strerror(errno))
                  << std::flush;
              ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr);
            }
            break;
          }
          continue;
        }
        char buf[4096];
        ssize_t got = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        bool open = got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR));
        for (ssize_t sent = 0; got > 0 && sent < got;) {  // echo
          ssize_t wrote = ::send(fd, buf + sent, static_cast<size_t>(got - sent), MSG_NOSIGNAL);
          if (wrote < 0 && errno == EINTR) continue;
          if (wrote < 0) {
            open = false;
            break;
          }
          sent += wrote;
        }
        if (!open) connections.erase(fd);  // closes it; epoll forgets it
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "nstest serve: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace nstest::cli
