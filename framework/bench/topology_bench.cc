// Builds and tears down the usual two-namespace test topology, through nstest and through the
// `ip`/`sysctl` commands that shell selftests use, side by side in one run; then measures how many
// namespaces can be alive at once and what their (asynchronous) destruction costs the kernel.
//
// Usage: nstest_bench_topology [iterations=100] [max_namespaces=1024] [teardown_pairs=64]
// Needs root. Named namespaces of the command variant are called nstb-<pid>-{s,c} and removed.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "nstest/error.h"
#include "nstest/link.h"
#include "nstest/preflight.h"
#include "nstest/process.h"
#include "nstest/sysctl.h"
#include "nstest/topology.h"
#include "nstest/wait.h"

namespace nstest {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

const std::vector<std::pair<std::string, std::string>> kSysctls = {
    {"net.core.somaxconn", "128"},
    {"net.ipv4.tcp_synack_retries", "2"},
    {"net.ipv4.tcp_abort_on_overflow", "1"},
};

double MsSince(Clock::time_point start) { return Ms(Clock::now() - start).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void NstestTopology() {
  PairTopology t = PairTopology::Create();
  for (Netns* ns : {&t.server(), &t.client()}) {
    for (const auto& [k, v] : kSysctls) SetSysctl(*ns, k, v);
  }
}  // destroyed here: descriptors closed, the kernel destroys the namespaces asynchronously

void Run(const std::vector<std::string>& argv) {
  ProcessOptions o;
  o.argv = argv;
  o.timeout = std::chrono::milliseconds(10000);
  ProcessResult r = RunProcess(nullptr, o);
  if (r.exit_code != 0) {
    throw Error(fmt::format("run '{}': {}: {}", fmt::join(argv, " "), r.Describe(), r.stderr_text));
  }
}

// The same topology the way shell selftests build it: one command per step.
void CommandTopology() {
  std::string s = fmt::format("nstb-{}-s", ::getpid());
  std::string c = fmt::format("nstb-{}-c", ::getpid());
  Run({"ip", "netns", "add", s});
  Run({"ip", "netns", "add", c});
  Run({"ip", "-n", s, "link", "set", "lo", "up"});
  Run({"ip", "-n", c, "link", "set", "lo", "up"});
  Run({"ip", "-n", s, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", c});
  Run({"ip", "-n", s, "addr", "add", "198.18.0.1/24", "dev", "eth0"});
  Run({"ip", "-n", c, "addr", "add", "198.18.0.2/24", "dev", "eth0"});
  Run({"ip", "-n", s, "addr", "add", "2001:2::1/64", "dev", "eth0", "nodad"});
  Run({"ip", "-n", c, "addr", "add", "2001:2::2/64", "dev", "eth0", "nodad"});
  Run({"ip", "-n", s, "link", "set", "eth0", "up"});
  Run({"ip", "-n", c, "link", "set", "eth0", "up"});
  for (const std::string& ns : {s, c}) {
    for (const auto& [k, v] : kSysctls)
      Run({"ip", "netns", "exec", ns, "sysctl", "-qw", k + "=" + v});
  }
  Run({"ip", "netns", "del", s});
  Run({"ip", "netns", "del", c});
}

void CompareBuildAndTeardown(int iterations) {
  std::vector<double> lib, cmd;
  NstestTopology();  // warm up: module loads, page cache
  CommandTopology();
  for (int i = 0; i < iterations; ++i) {
    auto t0 = Clock::now();
    NstestTopology();
    lib.push_back(MsSince(t0));
    auto t1 = Clock::now();
    CommandTopology();
    cmd.push_back(MsSince(t1));
  }
  fmt::print(
      "build + teardown of 2 netns, veth, 4 addresses, link up, 3 sysctls per netns "
      "({} iterations, interleaved)\n",
      iterations);
  fmt::print("  {:<26} median {:7.2f} ms   p10 {:7.2f}   p90 {:7.2f}\n", "nstest (netlink)",
             Percentile(lib, 0.5), Percentile(lib, 0.1), Percentile(lib, 0.9));
  fmt::print("  {:<26} median {:7.2f} ms   p10 {:7.2f}   p90 {:7.2f}\n", "ip/sysctl commands",
             Percentile(cmd, 0.5), Percentile(cmd, 0.1), Percentile(cmd, 0.9));
  fmt::print("  speed-up (median)          {:.1f}x\n", Percentile(cmd, 0.5) / Percentile(lib, 0.5));
}

void MaxAlive(int max_namespaces) {
  std::vector<Netns> alive;
  alive.reserve(static_cast<size_t>(max_namespaces));
  auto t0 = Clock::now();
  std::string stop = "reached the requested maximum";
  try {
    while (static_cast<int>(alive.size()) < max_namespaces) {
      alive.push_back(Netns::Create(fmt::format("n{}", alive.size())));
    }
  } catch (const Error& e) {
    stop = e.what();
  }
  double create_ms = MsSince(t0);
  auto t1 = Clock::now();
  size_t n = alive.size();
  alive.clear();
  double close_ms = MsSince(t1);
  fmt::print("namespaces alive at once: {} ({}); creation {:.3f} ms each, release {:.3f} ms each\n",
             n, stop, create_ms / static_cast<double>(n), close_ms / static_cast<double>(n));
}

// Destroys `pairs` namespaces, each joined by a veth to a witness namespace, and waits until the
// kernel has removed every veth end in the witness: that is when cleanup_net() has run for them.
void AsyncTeardown(int pairs) {
  Netns witness = Netns::Create("witness");
  std::optional<std::vector<Netns>> doomed(std::in_place);
  for (int i = 0; i < pairs; ++i) {
    doomed->push_back(Netns::Create(fmt::format("d{}", i)));
    AddVethPair(doomed->back(), "eth0", witness, fmt::format("w{}", i));
  }
  auto t0 = Clock::now();
  doomed.reset();
  double closed_ms = MsSince(t0);
  WaitUntil("the kernel to destroy the namespaces", std::chrono::milliseconds(60000),
            [&] { return ListLinks(witness).size() == 1; });
  double gone_ms = MsSince(t0);
  fmt::print(
      "teardown of {} namespaces with a veth each: descriptors closed in {:.2f} ms, kernel "
      "done after {:.1f} ms ({:.2f} ms per namespace, asynchronous)\n",
      pairs, closed_ms, gone_ms, gone_ms / pairs);
}

}  // namespace
}  // namespace nstest

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  int max_namespaces = argc > 2 ? std::atoi(argv[2]) : 1024;
  int teardown_pairs = argc > 3 ? std::atoi(argv[3]) : 64;
  if (iterations < 1 || max_namespaces < 1 || teardown_pairs < 1) {
    fmt::print(stderr, "usage: {} [iterations] [max_namespaces] [teardown_pairs]\n", argv[0]);
    return 2;
  }
  std::string why = nstest::CachedPreflight().NamespaceSkipReason();
  if (!why.empty()) {
    fmt::print(stderr, "nstest_bench_topology: {}\n", why);
    return 2;
  }
  try {
    nstest::RaiseFileLimit();
    nstest::CompareBuildAndTeardown(iterations);
    nstest::MaxAlive(max_namespaces);
    nstest::AsyncTeardown(teardown_pairs);
  } catch (const nstest::Error& e) {
    fmt::print(stderr, "nstest_bench_topology: {}\n", e.what());
    return 1;
  }
  return 0;
}
