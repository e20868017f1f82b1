// `nstest demo`: backlog+1, proven on the running kernel in two fresh namespaces.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <vector>

#include "cli/commands.h"
#include "nstest/counters.h"
#include "nstest/error.h"
#include "nstest/preflight.h"
#include "nstest/sockdiag.h"
#include "nstest/sysctl.h"
#include "nstest/tcp.h"
#include "nstest/topology.h"
#include "nstest/wait.h"

namespace nstest::cli {
namespace {

constexpr auto kTimeout = std::chrono::milliseconds(3000);

void PrintSysctlComparison(std::ostream& out, const Netns& ns) {
  fmt::print(out,
             "Listen-path sysctls of a new namespace (kernel defaults, not the host's) beside the "
             "host's:\n");
  fmt::print(out, "  {:<34} {:>10} {:>10}\n", "key", "new netns", "host");
  for (const SysctlComparison& c : CompareWithHost(ns, ListenPathSysctls())) {
    fmt::print(out, "  {:<34} {:>10} {:>10}{}\n", c.key, c.netns_value, c.host_value,
               c.netns_value != c.host_value ? "  (differs)" : "");
  }
}

// Opens backlog+2 connections one at a time and returns how many completed the handshake.
int ConnectUntilFull(std::ostream& out, PairTopology& t, SockDiag& diag, const DemoOptions& o,
                     std::vector<Fd>* clients) {
  int completed = 0;
  for (int i = 0; i <= o.backlog; ++i) {
    clients->push_back(TcpConnectStart(t.client(), t.server_v4(), o.port));
    ConnectResult r = TcpConnectWait(clients->back(), kTimeout);
    if (r != ConnectResult::kEstablished) {
      fmt::print(out, "connection {}: {}\n", i + 1, ConnectResultName(r));
      return completed;
    }
    ++completed;
    uint32_t want = static_cast<uint32_t>(completed);
    WaitUntil(
        fmt::format("Recv-Q {} on port {}", want, o.port), kTimeout,
        [&] { return diag.Listener(o.port).accept_queue == want; },
        [&] { return diag.Listener(o.port).ToString(); });
  }
  return completed;
}

}  // namespace

int RunDemo(std::ostream& out, const DemoOptions& o) {
  const PreflightReport& preflight = CachedPreflight();
  if (std::string why = preflight.NamespaceSkipReason(); !why.empty()) {
    fmt::print(out, "nstest demo: {}\n", why);
    return kExitUsage;
  }
  try {
    fmt::print(out, "kernel {}\n", preflight.kernel_release);
    auto start = std::chrono::steady_clock::now();
    PairTopology t = PairTopology::Create();
    auto took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    fmt::print(out,
               "topology: netns 'server' {} <-> netns 'client' {} over veth, up in {:.1f} ms\n",
               t.server_v4().ToString(), t.client_v4().ToString(), took.count());
    PrintSysctlComparison(out, t.server());
    SetSysctl(t.client(), "net.ipv4.tcp_syn_retries", "1");
    for (const auto& [k, v] : t.client().effective_sysctls()) {
      fmt::print(out, "set in netns 'client': {} = {}\n", k, v);
    }

    SockDiag diag(t.server());
    Fd listener = TcpListen(t.server(), t.server_v4(), o.port, o.backlog);
    fmt::print(out, "listen(backlog={}): {}\n", o.backlog, diag.Listener(o.port).ToString());
    Counters before = Counters::Read(t.server());
    std::vector<Fd> clients;
    int completed = ConnectUntilFull(out, t, diag, o, &clients);

    // One more: the accept queue is full (backlog+1 > backlog), so its SYN is dropped.
    clients.push_back(TcpConnectStart(t.client(), t.server_v4(), o.port));
    WaitUntil("TcpExtListenOverflows to move in netns 'server'", kTimeout, [&] {
      return Counters::Read(t.server()).Since(before).Get("TcpExtListenOverflows") >= 1;
    });
    bool extra_pending =
        TcpConnectWait(clients.back(), std::chrono::milliseconds(0)) == ConnectResult::kPending;
    ListenerQueues q = diag.Listener(o.port);
    CounterDelta delta = Counters::Read(t.server()).Since(before);
    fmt::print(out, "connections completed without accept(): {}; connection {}: {}\n", completed,
               completed + 1, extra_pending ? "SYN dropped, still SYN-SENT" : "not pending");
    fmt::print(out, "listener now: {}\n", q.ToString());
    fmt::print(out, "server counters: TcpExtListenOverflows {:+d}, TcpExtListenDrops {:+d}\n",
               delta.Get("TcpExtListenOverflows"), delta.Get("TcpExtListenDrops"));

    bool ok = completed == o.backlog + 1 &&
              q.accept_queue == static_cast<uint32_t>(o.backlog + 1) &&
              q.max_accept_queue == static_cast<uint32_t>(o.backlog) && extra_pending &&
              delta.Get("TcpExtListenOverflows") >= 1;
    fmt::print(out, "{}: listen({}) completed {} handshakes (expected backlog+1 = {})\n",
               ok ? "PASS" : "FAIL", o.backlog, completed, o.backlog + 1);
    return ok ? kExitOk : kExitFailed;
  } catch (const Error& e) {
    fmt::print(out, "nstest demo: {}\n", e.what());
    return kExitFailed;
  }
}

}  // namespace nstest::cli
