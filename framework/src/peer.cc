#include "nstest/peer.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "nstest/error.h"
#include "src/socket_util.h"
#include "src/wait_util.h"

namespace nstest {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

const NameTable<AcceptPolicy>& AcceptPolicies() {
  static const NameTable<AcceptPolicy> names = {{AcceptPolicy::kNever, "never"},
                                                {AcceptPolicy::kAll, "all"},
                                                {AcceptPolicy::kFirstN, "first-n"},
                                                {AcceptPolicy::kOnDemand, "on-demand"}};
  return names;
}

const char* AcceptPolicyName(AcceptPolicy policy) { return AcceptPolicies().Name(policy); }

const NameTable<ConnectMode>& ConnectModes() {
  static const NameTable<ConnectMode> names = {{ConnectMode::kSequential, "sequential"},
                                               {ConnectMode::kBurst, "burst"}};
  return names;
}

struct Listener::State {
  std::string netns_name;
  Fd listen_fd;
  Fd stop;  // eventfd that wakes the accepting thread to exit
  uint16_t port = 0;
  int backlog = 0;
  AcceptPolicy policy = AcceptPolicy::kNever;
  int limit = 0;
  mutable std::mutex mu;
  std::vector<AcceptedConnection> accepted;
  std::vector<Fd> connections;
  std::string error;     // why the acceptor thread stopped early
  int accept_errno = 0;  // of the last accept4() that failed
  std::thread thread;

  // Accepts one connection if one is queued; returns false if none is.
  bool AcceptQueued() {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                       SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      accept_errno = errno;
      return false;
    }
    AcceptedConnection c;
    c.peer = FromSockaddr(ss, &c.peer_port);
    c.at = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    accepted.push_back(c);
    connections.emplace_back(fd);
    return true;
  }

  size_t Count() const {
    std::lock_guard<std::mutex> lock(mu);
    return accepted.size();
  }

  void AcceptLoop() {
    size_t limit_n = policy == AcceptPolicy::kFirstN ? static_cast<size_t>(limit) : SIZE_MAX;
    while (Count() < limit_n) {
      pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {stop.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      while (Count() < limit_n && AcceptQueued()) {
      }
      // Out of descriptors or memory: retrying would only spin. Stop accepting, say why, and
      // wait to be stopped (so the thread ends when the listener does, not in a starved moment).
      if (int e = std::exchange(accept_errno, 0);
          e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        {
          std::lock_guard<std::mutex> lock(mu);
          error = fmt::format("accepting stopped after {} connections: {}", accepted.size(),
                              std::strerror(e));
        }
        pollfd wake{stop.get(), POLLIN, 0};
        while (::poll(&wake, 1, -1) < 0 && errno == EINTR) {
        }
        return;
      }
    }
  }
};

Listener::Listener(const Netns& ns, const ListenerOptions& options)
    : state_(std::make_unique<State>()) {
  if (options.accept == AcceptPolicy::kFirstN && options.accept_limit <= 0) {
    throw Error(
        fmt::format("start listener in netns '{}': accept policy first-n needs a positive "
                    "accept_limit",
                    ns.name()));
  }
  State& s = *state_;
  s.netns_name = ns.name();
  s.listen_fd = TcpListen(ns, options.address, options.port, options.backlog,
                          {options.reuseport, options.ipv6_only});
  // Non-blocking, so that accepting "what is queued" never waits.
  if (::fcntl(s.listen_fd.get(), F_SETFL, O_NONBLOCK) != 0) {
    ThrowErrno(fmt::format("start listener in netns '{}': fcntl", ns.name()));
  }
  s.port = LocalPort(s.listen_fd.get());
  s.backlog = options.backlog;
  s.policy = options.accept;
  s.limit = options.accept_limit;
  if (s.policy == AcceptPolicy::kAll || s.policy == AcceptPolicy::kFirstN) {
    s.stop.reset(::eventfd(0, EFD_CLOEXEC));
    if (!s.stop) ThrowErrno(fmt::format("start listener in netns '{}': eventfd", ns.name()));
    s.thread = std::thread([&s] { s.AcceptLoop(); });
  }
}

Listener::~Listener() {
  if (state_->thread.joinable()) {
    uint64_t one = 1;
    // The thread exits on this wake-up; a failed write would leave it blocked, so retry EINTR.
    while (::write(state_->stop.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
    state_->thread.join();
  }
}

uint16_t Listener::port() const { return state_->port; }
int Listener::backlog() const { return state_->backlog; }
AcceptPolicy Listener::policy() const { return state_->policy; }
const std::string& Listener::netns_name() const { return state_->netns_name; }
int Listener::fd() const { return state_->listen_fd.get(); }
uint32_t Listener::inode() const {
  struct stat st {};
  return ::fstat(state_->listen_fd.get(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

int Listener::Accept(int n, std::chrono::milliseconds timeout) {
  State& s = *state_;
  if (s.policy != AcceptPolicy::kOnDemand) {
    throw Error(
        fmt::format("accept on port {} in netns '{}': the listener's accept policy is "
                    "'{}', not 'on-demand'",
                    s.port, s.netns_name, AcceptPolicyName(s.policy)));
  }
  Deadline deadline(timeout);
  int done = 0;
  while (done < n) {
    if (s.AcceptQueued()) {
      ++done;
      continue;
    }
    pollfd p{s.listen_fd.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, deadline.RemainingMs());
    if (ready == 0) break;
    if (ready < 0 && errno != EINTR) ThrowErrno("accept: poll");
  }
  return done;
}

std::vector<AcceptedConnection> Listener::accepted() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->accepted;
}

size_t Listener::accepted_count() const { return state_->Count(); }

std::string Listener::error() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->error;
}

std::string Listener::ReadFrom(size_t index) {
  int fd;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    fd = state_->connections.at(index).get();
  }
  std::string out;
  ReadUntil(fd, Deadline(std::chrono::milliseconds(0)), &out);
  return out;
}

}  // namespace nstest
