// The seed's experiment at full size: connect to listen(-1) with net.core.somaxconn 4096 until a
// connection fails (4097 complete), through nstest::Connect() and through a plain C loop, side by
// side in the same namespaces, interleaved over several rounds; medians.
//
// Usage: nstest_bench_connect [rounds=5]     (needs root)
//        nstest_bench_connect --naive         (the seeds' experiment with default timers, once)
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nstest/error.h"
#include "nstest/peer.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/sysctl.h"
#include "nstest/topology.h"

namespace nstest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint16_t kPort = 8080;
constexpr int kDeadlineMs = 200;  // how long the connection after the last one may try

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The plain loop: what a C programmer would write to reproduce the seed, with the same
// non-blocking connect and the same deadline for the final, failing connection.
int PlainLoop(const Netns& client, const IpAddress& server, std::vector<int>* fds) {
  NetnsGuard guard(client);
  sockaddr_storage ss{};
  socklen_t len = server.ToSockaddr(kPort, &ss);
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fds->push_back(fd);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) break;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kDeadlineMs) != 1) break;
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) break;
  }
  return static_cast<int>(fds->size()) - 1;
}

struct Round {
  double ms;
  int established;
};

Round RunPlain() {
  PairTopology t = PairTopology::Create();
  Fd listener = TcpListen(t.server(), t.server_v4(), kPort, -1);
  std::vector<int> fds;
  fds.reserve(4200);
  auto start = Clock::now();
  int n = PlainLoop(t.client(), t.server_v4(), &fds);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  for (int fd : fds) ::close(fd);
  return {ms, n};
}

Round RunFramework() {
  PairTopology t = PairTopology::Create();
  Fd listener = TcpListen(t.server(), t.server_v4(), kPort, -1);
  ConnectOptions o;
  o.address = t.server_v4();
  o.port = kPort;
  o.count = 5000;
  o.deadline = std::chrono::milliseconds(kDeadlineMs);
  o.stop_at_first_failure = true;
  auto start = Clock::now();
  Connections c = Connect(t.client(), o);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return {ms, c.Count(ConnectResult::kEstablished)};
}

// The seeds' experiment as written: listen(4), blocking connect() in a loop until one fails, with
// the namespace's default timers (tcp_syn_retries 6): the last connect waits for the kernel to
// give up.
void Naive() {
  PairTopology t = PairTopology::Create();
  Fd listener = TcpListen(t.server(), t.server_v4(), kPort, 4);
  NetnsGuard guard(t.client());
  sockaddr_storage ss{};
  socklen_t len = t.server_v4().ToSockaddr(kPort, &ss);
  std::vector<Fd> fds;
  auto start = Clock::now();
  for (;;) {
    fds.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fds.back().get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) break;
  }
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print(
      "naive experiment (listen(4), blocking connects, default timers): {} connected, the "
      "next failed ({}) after {:.1f} s in all\n",
      fds.size() - 1, std::strerror(errno), s);
}

}  // namespace
}  // namespace nstest

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--naive") {
    try {
      nstest::Naive();
      return 0;
    } catch (const nstest::Error& e) {
      fmt::print(stderr, "nstest_bench_connect: {}\n", e.what());
      return 1;
    }
  }
  int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  if (rounds < 1) {
    fmt::print(stderr, "usage: {} [rounds]\n", argv[0]);
    return 2;
  }
  if (std::string why = nstest::CachedPreflight().NamespaceSkipReason(); !why.empty()) {
    fmt::print(stderr, "nstest_bench_connect: {}\n", why);
    return 2;
  }
  nstest::RaiseFileLimit();
  std::vector<double> plain, framework;
  int plain_n = 0, framework_n = 0;
  try {
    for (int i = 0; i < rounds; ++i) {
      nstest::Round a = nstest::RunFramework();
      nstest::Round b = nstest::RunPlain();
      framework.push_back(a.ms);
      plain.push_back(b.ms);
      framework_n = a.established;
      plain_n = b.established;
    }
  } catch (const nstest::Error& e) {
    fmt::print(stderr, "nstest_bench_connect: {}\n", e.what());
    return 1;
  }
  double f = nstest::Median(framework), p = nstest::Median(plain);
  fmt::print("connects to listen(-1), somaxconn 4096, until the first failure ({} rounds):\n",
             rounds);
  fmt::print("  nstest::Connect   median {:8.1f} ms  ({} established)\n", f, framework_n);
  fmt::print("  plain C loop      median {:8.1f} ms  ({} established)\n", p, plain_n);
  fmt::print("  ratio             {:.2f}x (both include the {} ms wait on the last, dropped SYN)\n",
             f / p, nstest::kDeadlineMs);
  return 0;
}
