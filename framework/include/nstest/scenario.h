// One test's world: its namespaces and links, and everything the test made in them (listeners,
// labelled connections, packet filters and holds, captures, the output of processes it started,
// counter baselines), with the failure context, artifacts and properties they leave. Suites
// (`nstest run`) and GoogleTest (nstest::NetnsTest) are both thin layers over it, so a test can
// build the same topology either way and gets the same diagnostics.
//
//   ScenarioSpec spec;
//   spec.namespaces = {"client", "lb", "server"};
//   spec.links = {{.a = "client", .b = "lb"}, {.a = "lb", .b = "server"}};
//   Scenario s(spec);                    // lb: eth0 198.18.0.2 and eth1 198.18.1.1
//   Listener& l = s.Listen("server", {.port = 8080, .backlog = 4});
//   Connections c = Connect(s.ns("lb"), {.address = s.AddressOf("server"), .port = 8080});
#ifndef NSTEST_SCENARIO_H_
#define NSTEST_SCENARIO_H_

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nstest/address.h"
#include "nstest/capture.h"
#include "nstest/counters.h"
#include "nstest/fd.h"
#include "nstest/impair.h"
#include "nstest/link.h"
#include "nstest/netns.h"
#include "nstest/peer.h"
#include "nstest/process.h"
#include "nstest/sockdiag.h"

namespace nstest {

struct PairTopologyOptions;

// A veth pair between two namespaces of a scenario.
struct ScenarioLink {
  std::string a{};
  std::string b{};
  // Interface names; "": eth0, eth1, ... in the order of the namespace's links.
  std::string a_ifname{};
  std::string b_ifname{};
  // Selects the addresses: 198.18.<index>.1 on a, .2 on b, 2001:2:0:<index>::1/::2 with IPv6
  // (DefaultPairAddresses); -1: the link's position in the list.
  int index = -1;
  unsigned mtu = 0;  // 0: the kernel's default
  bool ipv6 = true;  // also the IPv6 addresses, awaited until usable (no DAD wait left)
};

struct ScenarioSpec {
  std::vector<std::string> namespaces{};  // at least one; names as Netns::Create takes them
  std::vector<ScenarioLink> links{};
  std::chrono::milliseconds link_timeout{5000};  // for each link to come up
  // Whether the build waits until each link's IPv6 addresses can be used (their solicited-node
  // groups joined, not tentative). The addresses are there either way; a scenario that sends no
  // IPv6 traffic, and starts no command that might, can skip the wait (about 1 ms).
  bool await_ipv6 = true;

  // The usual preset: `server` and `client` joined by one veth (names, interfaces, MTU, IPv6 and
  // address index from `options`).
  static ScenarioSpec Pair(const PairTopologyOptions& options);
};

// What a link got when it was built.
struct BuiltLink {
  ScenarioLink spec{};  // interface names and index filled in
  VethPair veth{};
  DefaultAddresses addresses{};
};

// Owns everything it holds and destroys it in the safe order (holds, captures, peers and
// connections before the filters and namespaces they live in). Neither copied nor moved: what it
// made refers to its namespaces. One thread at a time.
class Scenario {
 public:
  // Creates the namespaces, then each link: the veth pair, its addresses, both ends up (awaited
  // through netlink) and, with IPv6, its addresses usable. Throws
  // what Netns::Create, AddVethPair, AddAddress and the waits throw, and Error for a link to a
  // namespace not in the list.
  explicit Scenario(const ScenarioSpec& spec);
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  // --- Namespaces and links ---
  // Throws Error for a name not in the scenario ("no namespace 'sever'; did you mean 'server'?").
  Netns& ns(const std::string& name);
  const Netns& ns(const std::string& name) const;
  bool has(const std::string& name) const { return ns_.count(name) != 0; }
  // In the order of the spec.
  const std::vector<std::string>& names() const { return order_; }
  const std::vector<BuiltLink>& links() const { return links_; }
  // The namespace's IPv4 / IPv6 address and its veth: those of its first link. Throw Error for a
  // namespace without a link (or, for the IPv6 one, without IPv6 on it).
  const IpAddress& AddressOf(const std::string& name) const;
  const IpAddress& Address6Of(const std::string& name) const;
  const std::string& InterfaceOf(const std::string& name) const;

  // --- Counters ---
  // Takes every namespace's counters as the baseline (after the test's sysctls, before its
  // traffic).
  void ResetCounters();
  // Changes in `name` since the last ResetCounters(); Error if there was none.
  CounterDelta CounterChanges(const std::string& name) const;
  // CounterChanges(name).Summary(), or "no counter changed" without parsing anything when the
  // namespace's counter files read as they did at the baseline.
  std::string CounterSummary(const std::string& name) const;

  // --- What the test makes ---
  Listener& Listen(const std::string& name, const ListenerOptions& options);
  const std::vector<std::unique_ptr<Listener>>& listeners() const { return listeners_; }
  // Throws Error if a listener's acceptor stopped early (out of descriptors or memory).
  void CheckListeners() const;
  // Connections kept under a label (a suite's `label`), in the order they were added.
  void AddConnections(const std::string& label, Connections c);
  std::vector<Connections>& Labelled(const std::string& label);
  // The nftables table of `name`, created on first use.
  PacketFilter& Filter(const std::string& name);
  // Holds packets matching `match` in `name` on its own NFQUEUE number (1, 2, ...).
  PacketHold& Hold(const std::string& hold, const std::string& name, const TcpMatch& match);
  PacketHold& held(const std::string& hold);
  // A capture on `ifname` in `name` ("" : the namespace's veth), known by `capture`.
  Capture& StartCapture(const std::string& capture, const std::string& name,
                        const std::string& ifname, const CaptureOptions& options);
  Capture& capture(const std::string& capture);
  bool has_capture(const std::string& capture) const { return captures_.count(capture) != 0; }
  std::vector<std::string> CaptureNames() const;
  // The namespace an address belongs to (by the links' addresses), or "" for any other.
  std::string NamespaceOf(const IpAddress& address) const;
  // --- Processes the test starts and lets run (a server under test) ---
  // Starts `options` in namespace `name`, known as `process`, with its stdout and stderr in a
  // file the scenario keeps (options.output_fd and options.timeout are set here: it runs until
  // stopped). When stopped, or when the scenario goes, it gets `stop_signal`, then SIGKILL after
  // `grace`. Throws Error for a name already used, and what Process::Start throws.
  Process& Start(const std::string& process, const std::string& name, ProcessOptions options,
                 int stop_signal, std::chrono::milliseconds grace);
  // Stops `process` unless it has ended: `signal` (0: its `stop_signal`), then SIGKILL after its
  // grace. Returns how it ended, with its output: stdout_text and stderr_text both hold the last
  // 64 KiB of the one file its stdout and stderr share (interleaved as written), read now.
  const ProcessResult& Stop(const std::string& process, int signal);
  // Whether `process` still runs.
  bool Running(const std::string& process) const;
  // The signal Start() was given to stop `process` with.
  int StopSignal(const std::string& process) const;
  // How `process` ended (reaping it), with its output as Stop() gives it; Error while it runs.
  const ProcessResult& Ended(const std::string& process);
  // Started processes that ended without being stopped, e.g. a server that crashed: "'srv'
  // (python3 srv.py) exited with status 1; its last output:\n  ...", one paragraph each.
  std::string Died();
  // The last `lines` lines `process` wrote to its stdout and stderr (of its last 64 KiB), each
  // indented by two spaces; it may still run.
  std::string OutputTail(const std::string& process, size_t lines) const;
  // Each started process: running or how it ended, and its last 20 lines (nothing is stopped).
  std::string Processes();
  // The sockets listening on `port` in `name`, with their queues (SockDiag::Listeners). Within a
  // SO_REUSEPORT group, the sockets Listen() made come first, in the order it made them, so that
  // `index` i is the i-th Listen() on that address and port.
  std::vector<ListenerQueues> ListenersOn(const std::string& name, uint16_t port) const;
  // The one of them that `which` selects; throws Error listing the candidates otherwise.
  // `how` ends the message when several are selected (SelectListener()).
  ListenerQueues ListenerOn(const std::string& name, uint16_t port,
                            const ListenerSelector& which = {}, const std::string& how = "") const;
  // Sockets listening on `port` in `name` (bound to `address`, if given).
  size_t ListeningCount(const std::string& name, uint16_t port,
                        const std::optional<IpAddress>& address = std::nullopt) const;
  // Stops every started process still running (each with its stop signal and grace), writes
  // each one's output to `<dir>/<prefix>/<process>.log` (file names made safe; no files when
  // `dir` is empty) and returns a paragraph per process: how it ended, its last 20 lines, where
  // the log went.
  std::string StopAll(const std::string& dir, const std::string& prefix);

  // The output file of a process the test started (it may outlive the process, which keeps
  // writing): shown in the failure context after `shown` bytes, written out as an artifact.
  void AddOutput(const std::string& artifact, const std::string& what, Fd file, size_t shown);

  // --- What it leaves ---
  // Each namespace's effective sysctls, counter changes and listeners (as `ss` shows them), one
  // line each, indented by two spaces under "netns 'NAME':".
  std::string Context() const;
  // What processes the test started wrote after `shown` (the last 20 lines of each).
  std::string LateOutput() const;
  // Writes each capture as `<dir>/<prefix>.<capture>.pcap` and each output as
  // `<dir>/<prefix>.<artifact>`, file names made safe; returns a line per file.
  std::string WriteArtifacts(const std::string& dir, const std::string& prefix) const;
  // Bind-mounts every namespace for `ip netns exec` and keeps the mounts; a line per namespace.
  std::string KeepNamespaces();
  // "sysctl.<netns>.<key>" -> effective value, for every namespace.
  std::vector<std::pair<std::string, std::string>> Properties() const;

 private:
  // `all` (the listeners on `port` in `name`) in the order ListenersOn() gives.
  std::vector<ListenerQueues> InOrderMade(const std::string& name, uint16_t port,
                                          std::vector<ListenerQueues> all) const;
  struct Output {
    std::string artifact;
    std::string what;
    Fd file;
    size_t shown = 0;
  };

  std::map<std::string, std::unique_ptr<Netns>> ns_;
  // A sock_diag socket per namespace, made at its first question and kept: waits ask often.
  SockDiag& Diag(const std::string& name) const;
  mutable std::map<std::string, std::unique_ptr<SockDiag>> diags_;
  std::vector<std::string> order_;
  std::vector<BuiltLink> links_;
  // The counter files as ResetCounters() read them, parsed when a change is first asked for.
  struct Baseline {
    std::string files[3];  // by ProcNetFile
    mutable std::optional<Counters> parsed{};
  };
  const Baseline& BaselineOf(const std::string& name) const;
  std::map<std::string, Baseline> baseline_;
  std::map<std::string, std::unique_ptr<PacketFilter>> filters_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<std::string, std::vector<Connections>> connections_;
  std::map<std::string, std::unique_ptr<Capture>> captures_;
  std::map<std::string, std::unique_ptr<PacketHold>> holds_;
  std::vector<Output> outputs_;
  struct Started {
    std::string command;
    Process process;
    int stop_signal = 15;
    std::chrono::milliseconds grace{2000};
    Fd output;
    bool stopped = false;
    ProcessResult result{};  // how it ended, with its output (Finished())
  };
  Started& started(const std::string& process) const;
  // Reaps `s` and returns its result with its output read now.
  static const ProcessResult& Finished(Started& s);
  std::map<std::string, std::unique_ptr<Started>> started_;
  uint16_t next_queue_ = 1;
};

// `text` with every character but [A-Za-z0-9._-] replaced by '_', for a file name.
std::string SafeFileName(std::string text);

}  // namespace nstest

#endif  // NSTEST_SCENARIO_H_
