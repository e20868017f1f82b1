// The connector: N connections with their outcomes, and what happens to them afterwards.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "nstest/error.h"
#include "nstest/peer.h"
#include "src/socket_util.h"
#include "src/wait_util.h"

namespace nstest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxConnections = 100000;

// Records an outcome reached now: the connect's own, or a reset of an established connection
// (whose time then runs to the reset, the outcome it is counted under).
void Reached(ConnectionResult* r, int err) {
  r->error = err;
  r->outcome = ConnectResultFromErrno(err);
  r->finished = Clock::now();
}

// Records the outcome of a connect that poll() reported finished.
void Finish(ConnectionResult* r, const Fd& fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  Reached(r, err);
}

}  // namespace

double ConnectionResult::milliseconds() const {
  return std::chrono::duration<double, std::milli>(finished - started).count();
}

int Connections::Count(ConnectResult outcome) const {
  int n = 0;
  for (const ConnectionResult& r : results_) n += r.outcome == outcome ? 1 : 0;
  return n;
}

std::string Connections::Summary() const {
  std::string out =
      fmt::format("{} connection{}", results_.size(), results_.size() == 1 ? "" : "s");
  const char* sep = ": ";
  for (ConnectResult o :
       {ConnectResult::kEstablished, ConnectResult::kRefused, ConnectResult::kTimedOut,
        ConnectResult::kReset, ConnectResult::kPending, ConnectResult::kError}) {
    if (int n = Count(o); n > 0) {
      out += fmt::format("{}{} {}", sep, n, ConnectResultName(o));
      sep = ", ";
    }
  }
  return out;
}

int Connections::Send(const std::string& data) {
  int whole = 0;
  for (size_t i = 0; i < results_.size(); ++i) {
    if (results_[i].outcome != ConnectResult::kEstablished || !sockets_[i]) continue;
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(sockets_[i].get(), data.data() + done, data.size() - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        if (errno != EAGAIN) Reached(&results_[i], errno);
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (done == data.size()) ++whole;
  }
  return whole;
}

int Connections::Update() {
  std::vector<pollfd> fds;
  std::vector<size_t> which;
  for (size_t i = 0; i < results_.size(); ++i) {
    ConnectResult o = results_[i].outcome;
    if (!sockets_[i] || (o != ConnectResult::kPending && o != ConnectResult::kEstablished)) {
      continue;
    }
    // An established socket is asked for nothing: poll() reports POLLERR once it was reset.
    fds.push_back({sockets_[i].get(), o == ConnectResult::kPending ? short{POLLOUT} : short{0}, 0});
    which.push_back(i);
  }
  if (fds.empty()) return 0;
  int n;
  do {
    n = ::poll(fds.data(), fds.size(), 0);
  } while (n < 0 && errno == EINTR);
  int changed = 0;
  for (size_t k = 0; n > 0 && k < fds.size(); ++k) {
    ConnectionResult& r = results_[which[k]];
    if (r.outcome == ConnectResult::kPending && fds[k].revents != 0) {
      Finish(&r, sockets_[which[k]]);
      ++changed;
    } else if (r.outcome == ConnectResult::kEstablished && (fds[k].revents & POLLERR) != 0) {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(sockets_[which[k]].get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err != 0) {
        Reached(&r, err);
        ++changed;
      }
    }
  }
  return changed;
}

int Connections::Unsettled() const {
  int n = 0;
  for (size_t i = 0; i < results_.size(); ++i) {
    n += results_[i].outcome == ConnectResult::kPending && sockets_[i] ? 1 : 0;
  }
  return n;
}

int Connections::Close(bool abort) {
  int closed = 0;
  for (Fd& fd : sockets_) {
    if (!fd) continue;
    if (abort) {
      linger l{1, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    fd.reset();
    ++closed;
  }
  return closed;
}

void Connections::Read(std::chrono::milliseconds duration) {
  Deadline deadline(duration);
  std::vector<size_t> open;
  for (size_t i = 0; i < results_.size(); ++i) {
    if (results_[i].outcome == ConnectResult::kEstablished && sockets_[i]) open.push_back(i);
  }
  while (!open.empty()) {
    std::vector<pollfd> fds;
    for (size_t i : open) fds.push_back({sockets_[i].get(), POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), deadline.RemainingMs());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    std::vector<size_t> still_open;
    for (size_t k = 0; k < open.size(); ++k) {
      size_t i = open[k];
      if (fds[k].revents == 0) {
        still_open.push_back(i);
        continue;
      }
      char buf[4096];
      ssize_t got = ::recv(sockets_[i].get(), buf, sizeof buf, MSG_DONTWAIT);
      if (got > 0) {
        results_[i].received.append(buf, static_cast<size_t>(got));
        still_open.push_back(i);
      } else if (got < 0 && errno != EAGAIN && errno != EINTR) {
        Reached(&results_[i], errno);
      } else if (got < 0) {
        still_open.push_back(i);
      }  // got == 0: the peer closed; the connection stays established
    }
    open = std::move(still_open);
  }
}

namespace {

// How many more descriptors this process may open: the soft RLIMIT_NOFILE less those open now,
// less a few for what a case opens besides its sockets (netlink, pipes, capture).
long FreeDescriptors() {
  constexpr long kReserve = 64;
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return LONG_MAX;
  long open = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) open += e->d_name[0] != '.' ? 1 : 0;
    ::closedir(d);
  }
  return std::max(0L, static_cast<long>(r.rlim_cur) - open - kReserve);
}

// Creates connection `index`'s socket (the caller is inside the namespace) and starts connect().
void StartOne(const ConnectOptions& o, int index, ConnectionResult* r, Fd* fd) {
  r->index = index;
  r->started = Clock::now();
  fd->reset(::socket(o.address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!*fd) {
    r->error = errno;
    r->outcome = ConnectResult::kError;
    r->finished = Clock::now();
    return;
  }
  sockaddr_storage ss{};
  if (o.source_port != 0) {
    int one = 1;
    ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    IpAddress any = IpAddress::FromBytes(o.address.family(), "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    socklen_t len = any.ToSockaddr(static_cast<uint16_t>(o.source_port + index), &ss);
    if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      r->error = errno;
      r->outcome = ConnectResult::kError;
      r->finished = Clock::now();
      return;
    }
  }
  socklen_t len = o.address.ToSockaddr(o.port, &ss);
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    r->error = errno;
    r->outcome = ConnectResultFromErrno(errno);
    r->finished = Clock::now();
  }
  r->local_port = LocalPort(fd->get());
}

// Sends options.send and reads for options.read_for on an established connection.
void Exchange(const ConnectOptions& o, ConnectionResult* r, const Fd& fd) {
  if (!o.send.empty() && ::send(fd.get(), o.send.data(), o.send.size(), MSG_NOSIGNAL) < 0) {
    Reached(r, errno);
    return;
  }
  if (o.read_for.count() > 0) {
    int err = ReadUntil(fd.get(), Deadline(o.read_for), &r->received);
    if (err != 0) Reached(r, err);
  }
}

void ConnectSequential(const ConnectOptions& o, std::vector<ConnectionResult>* results,
                       std::vector<Fd>* sockets) {
  for (int i = 0; i < o.count; ++i) {
    ConnectionResult& r = results->emplace_back();
    Fd& fd = sockets->emplace_back();
    StartOne(o, i, &r, &fd);
    if (r.outcome == ConnectResult::kPending && r.error == 0) {
      pollfd p{fd.get(), POLLOUT, 0};
      Deadline deadline(o.deadline);
      int n;
      do {
        n = ::poll(&p, 1, deadline.RemainingMs());
      } while (n < 0 && errno == EINTR);
      if (n > 0) {
        Finish(&r, fd);
      } else {
        r.finished = Clock::now();
      }
    }
    if (r.outcome == ConnectResult::kEstablished) Exchange(o, &r, fd);
    if (o.stop_at_first_failure && r.outcome != ConnectResult::kEstablished) break;
  }
}

void ConnectBurst(const ConnectOptions& o, std::vector<ConnectionResult>* results,
                  std::vector<Fd>* sockets) {
  results->resize(static_cast<size_t>(o.count));
  sockets->resize(static_cast<size_t>(o.count));
  for (size_t i = 0; i < results->size(); ++i) {
    StartOne(o, static_cast<int>(i), &(*results)[i], &(*sockets)[i]);
  }
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) ThrowErrno("connect burst: epoll_create1");
  int pending = 0;
  for (size_t i = 0; i < results->size(); ++i) {
    ConnectionResult& r = (*results)[i];
    if (r.outcome != ConnectResult::kPending || r.error != 0) continue;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = static_cast<uint32_t>(i);
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, (*sockets)[i].get(), &ev) != 0) {
      ThrowErrno("connect burst: epoll_ctl");
    }
    ++pending;
  }
  Deadline deadline(o.deadline);
  std::vector<epoll_event> events(256);
  while (pending > 0) {
    int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()),
                         deadline.RemainingMs());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (int k = 0; k < n; ++k) {
      size_t i = events[static_cast<size_t>(k)].data.u32;
      Finish(&(*results)[i], (*sockets)[i]);
      ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, (*sockets)[i].get(), nullptr);
      --pending;
    }
  }
  for (size_t i = 0; i < results->size(); ++i) {
    ConnectionResult& r = (*results)[i];
    if (r.outcome == ConnectResult::kPending) r.finished = Clock::now();
    if (r.outcome == ConnectResult::kEstablished) Exchange(o, &r, (*sockets)[i]);
  }
}

}  // namespace

Connections Connect(const Netns& ns, const ConnectOptions& o) {
  std::string what =
      fmt::format("connect to {}:{} from netns '{}'", o.address.ToString(), o.port, ns.name());
  if (o.count < 1 || o.count > kMaxConnections) {
    throw Error(fmt::format("{}: count must be 1-{}, not {}", what, kMaxConnections, o.count));
  }
  if (o.source_port != 0 && o.source_port + o.count - 1 > 65535) {
    throw Error(fmt::format("{}: source ports {}+{} run past 65535", what, o.source_port, o.count));
  }
  if (long free_fds = FreeDescriptors(); o.count > free_fds) {
    throw Error(fmt::format(
        "{}: {} connections need {} descriptors, but this process may open only {} more "
        "(RLIMIT_NOFILE); lower the count or raise the limit (ulimit -n)",
        what, o.count, o.count, free_fds));
  }
  Connections c;
  c.results_.reserve(static_cast<size_t>(o.count));
  c.sockets_.reserve(static_cast<size_t>(o.count));
  // Every socket is created inside the namespace; one guard for all of them.
  NetnsGuard guard(ns);
  if (o.mode == ConnectMode::kBurst) {
    ConnectBurst(o, &c.results_, &c.sockets_);
  } else {
    ConnectSequential(o, &c.results_, &c.sockets_);
  }
  return c;
}

}  // namespace nstest
