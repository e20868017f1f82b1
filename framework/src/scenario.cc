#include "nstest/scenario.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "nstest/error.h"
#include "nstest/sockdiag.h"
#include "nstest/topology.h"
#include "src/proc_net.h"
#include "src/strings.h"
#include "src/wait_util.h"

namespace nstest {
namespace {

constexpr size_t kLateOutputLines = 20;
constexpr size_t kLateOutputBytes = 64 * 1024;

template <typename Map>
auto& Find(Map& map, const std::string& key, const char* what) {
  auto it = map.find(key);
  if (it == map.end()) {
    std::vector<std::string> names;
    for (const auto& [k, v] : map) names.push_back(k);
    std::string near = ClosestName(key, names);
    throw Error(fmt::format("no {} '{}'{}", what, key,
                            near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
  }
  return it->second;
}

}  // namespace

ScenarioSpec ScenarioSpec::Pair(const PairTopologyOptions& o) {
  ScenarioSpec spec;
  spec.namespaces = {o.server_name, o.client_name};
  spec.links = {ScenarioLink{o.server_name, o.client_name, o.server_ifname, o.client_ifname,
                             o.pair_index, o.mtu, o.ipv6}};
  spec.link_timeout = o.link_timeout;
  return spec;
}

Scenario::Scenario(const ScenarioSpec& spec) {
  for (const std::string& n : spec.namespaces) {
    ns_[n] = std::make_unique<Netns>(Netns::Create(n));
    order_.push_back(n);
  }
  std::map<std::string, int> interfaces;
  // The namespaces are new, with `lo` (index 1) only, and every link in them is made here.
  std::map<std::string, std::set<int>> used;
  for (const std::string& n : spec.namespaces) used[n] = {1};
  for (const ScenarioLink& l : spec.links) {
    BuiltLink b{l, {}, {}};
    Netns& a = ns(l.a);
    Netns& z = ns(l.b);
    if (b.spec.a_ifname.empty()) b.spec.a_ifname = fmt::format("eth{}", interfaces[l.a]);
    if (b.spec.b_ifname.empty()) b.spec.b_ifname = fmt::format("eth{}", interfaces[l.b]);
    ++interfaces[l.a];
    ++interfaces[l.b];
    if (b.spec.index < 0) b.spec.index = static_cast<int>(links_.size());
    b.addresses = DefaultPairAddresses(b.spec.index);
    VethOptions vo;
    vo.mtu = l.mtu;
    vo.used_a = used[l.a];
    vo.used_b = used[l.b];
    b.veth = AddVethPair(a, b.spec.a_ifname, z, b.spec.b_ifname, vo);
    used[l.a].insert(b.veth.a_index);
    used[l.b].insert(b.veth.b_index);
    AddAddress(a, b.spec.a_ifname, b.veth.a_index, b.addresses.a_v4);
    AddAddress(z, b.spec.b_ifname, b.veth.b_index, b.addresses.b_v4);
    if (l.ipv6) {
      AddAddress(a, b.spec.a_ifname, b.veth.a_index, b.addresses.a_v6);
      AddAddress(z, b.spec.b_ifname, b.veth.b_index, b.addresses.b_v6);
    }
    WaitLinkOperUp(a, b.spec.a_ifname, spec.link_timeout);
    WaitLinkOperUp(z, b.spec.b_ifname, spec.link_timeout);
    if (l.ipv6 && spec.await_ipv6) {
      WaitAddressUsable(a, b.spec.a_ifname, b.addresses.a_v6, spec.link_timeout);
      WaitAddressUsable(z, b.spec.b_ifname, b.addresses.b_v6, spec.link_timeout);
    }
    links_.push_back(std::move(b));
  }
}

Scenario::~Scenario() {
  // What lives in the namespaces goes before them: started processes (stopped gracefully), then
  // holds and captures.
  try {
    (void)StopAll("", "");
  } catch (const std::exception&) {
    // Teardown never throws; the processes die with their owner anyway.
  }
  started_.clear();
  holds_.clear();
  captures_.clear();
  listeners_.clear();
  connections_.clear();
  filters_.clear();
}

Netns& Scenario::ns(const std::string& name) { return *Find(ns_, name, "namespace"); }
const Netns& Scenario::ns(const std::string& name) const { return *Find(ns_, name, "namespace"); }

const IpAddress& Scenario::AddressOf(const std::string& name) const {
  for (const BuiltLink& l : links_) {
    if (l.spec.a == name) return l.addresses.a_v4.address;
    if (l.spec.b == name) return l.addresses.b_v4.address;
  }
  throw Error(fmt::format(
      "netns '{}' has no link, so no address of its own: link it in the [topology] or give the "
      "step an `address`",
      name));
}

const IpAddress& Scenario::Address6Of(const std::string& name) const {
  for (const BuiltLink& l : links_) {
    if (l.spec.a != name && l.spec.b != name) continue;
    if (!l.spec.ipv6) {
      throw Error(fmt::format("netns '{}': its first link has no IPv6 (ipv6 = false)", name));
    }
    return l.spec.a == name ? l.addresses.a_v6.address : l.addresses.b_v6.address;
  }
  throw Error(fmt::format("netns '{}' has no link, so no IPv6 address of its own", name));
}

const std::string& Scenario::InterfaceOf(const std::string& name) const {
  for (const BuiltLink& l : links_) {
    if (l.spec.a == name) return l.spec.a_ifname;
    if (l.spec.b == name) return l.spec.b_ifname;
  }
  throw Error(fmt::format(
      "netns '{}' has no link to capture on: give the capture an `interface` (e.g. \"lo\")", name));
}

void Scenario::ResetCounters() {
  baseline_.clear();
  for (const std::string& n : order_) {
    Baseline& b = baseline_[n];
    for (ProcNetFile f : {ProcNetFile::kNetstat, ProcNetFile::kSnmp, ProcNetFile::kSnmp6}) {
      b.files[static_cast<int>(f)] = ReadProcNet(ns(n), f);
    }
  }
}

const Scenario::Baseline& Scenario::BaselineOf(const std::string& name) const {
  (void)ns(name);  // an unknown namespace is that error, not a missing baseline
  auto base = baseline_.find(name);
  if (base == baseline_.end()) {
    throw Error(fmt::format("no counter baseline in netns '{}' yet (ResetCounters())", name));
  }
  return base->second;
}

CounterDelta Scenario::CounterChanges(const std::string& name) const {
  const Baseline& b = BaselineOf(name);
  if (!b.parsed) b.parsed = Counters::Parse(name, b.files[0], b.files[1], b.files[2]);
  return Counters::Read(ns(name)).Since(*b.parsed);
}

std::string Scenario::CounterSummary(const std::string& name) const {
  const Baseline& b = BaselineOf(name);
  bool same = true;
  for (ProcNetFile f : {ProcNetFile::kNetstat, ProcNetFile::kSnmp, ProcNetFile::kSnmp6}) {
    same = same && ReadProcNet(ns(name), f) == b.files[static_cast<int>(f)];
  }
  return same ? "no counter changed" : CounterChanges(name).Summary();
}

Listener& Scenario::Listen(const std::string& name, const ListenerOptions& options) {
  listeners_.push_back(std::make_unique<Listener>(ns(name), options));
  return *listeners_.back();
}

void Scenario::CheckListeners() const {
  for (const auto& l : listeners_) {
    if (std::string why = l->error(); !why.empty()) {
      throw Error(
          fmt::format("listener on port {} in netns '{}': {}", l->port(), l->netns_name(), why));
    }
  }
}

void Scenario::AddConnections(const std::string& label, Connections c) {
  connections_[label].push_back(std::move(c));
}

std::vector<Connections>& Scenario::Labelled(const std::string& label) {
  return Find(connections_, label, "connections labelled");
}

PacketFilter& Scenario::Filter(const std::string& name) {
  auto& f = filters_[name];
  if (!f) f = std::make_unique<PacketFilter>(ns(name));
  return *f;
}

PacketHold& Scenario::Hold(const std::string& hold, const std::string& name,
                           const TcpMatch& match) {
  auto& h = holds_[hold];
  h = std::make_unique<PacketHold>(Filter(name), match, next_queue_++);
  return *h;
}

PacketHold& Scenario::held(const std::string& hold) { return *Find(holds_, hold, "hold"); }

Capture& Scenario::StartCapture(const std::string& capture, const std::string& name,
                                const std::string& ifname, const CaptureOptions& options) {
  auto& c = captures_[capture];
  c = std::make_unique<Capture>(ns(name), ifname.empty() ? InterfaceOf(name) : ifname, options);
  return *c;
}

Capture& Scenario::capture(const std::string& capture) {
  return *Find(captures_, capture, "capture");
}

void Scenario::AddOutput(const std::string& artifact, const std::string& what, Fd file,
                         size_t shown) {
  outputs_.push_back(Output{artifact, what, std::move(file), shown});
}

Process& Scenario::Start(const std::string& process, const std::string& name,
                         ProcessOptions options, int stop_signal, std::chrono::milliseconds grace) {
  if (started_.count(process) != 0) {
    throw Error(fmt::format("a process named '{}' was started already", process));
  }
  Fd file(::memfd_create("nstest-started-output", MFD_CLOEXEC));
  if (!file) ThrowErrno(fmt::format("start '{}': create its output file (memfd_create)", process));
  options.output_fd = file.get();
  options.timeout = std::chrono::hours(24 * 365);  // it runs until stopped
  // The command as messages show it: one line, at most 120 characters.
  std::string command = NormalizeSpaces(ShellQuoted(options.argv));
  if (command.size() > 120) command = command.substr(0, 117) + "...";
  auto s = std::make_unique<Started>(
      Started{command, Process::Start(&ns(name), options), stop_signal, grace, std::move(file)});
  return started_.emplace(process, std::move(s)).first->second->process;
}

Scenario::Started& Scenario::started(const std::string& process) const {
  return *Find(started_, process, "started process");
}

const ProcessResult& Scenario::Stop(const std::string& process, int signal) {
  Started& s = started(process);
  s.stopped = true;
  if (s.process.Running()) {
    s.process.Kill(signal != 0 ? signal : s.stop_signal);
    Deadline grace(s.grace);
    while (s.process.Running() && !grace.Passed()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (s.process.Running()) s.process.Kill(SIGKILL);
  }
  return Finished(s);
}

const ProcessResult& Scenario::Finished(Started& s) {
  s.result = s.process.Wait();
  // Both streams went to one file: each field gets all of it, bounded as the context's tail.
  s.result.stdout_text = ReadTail(s.output.get(), 0, kLateOutputBytes);
  s.result.stderr_text = s.result.stdout_text;
  return s.result;
}

int Scenario::StopSignal(const std::string& process) const { return started(process).stop_signal; }

bool Scenario::Running(const std::string& process) const {
  return started(process).process.Running();
}

const ProcessResult& Scenario::Ended(const std::string& process) {
  Started& s = started(process);
  if (s.process.Running()) throw Error(fmt::format("process '{}' is still running", process));
  return Finished(s);
}

std::string Scenario::OutputTail(const std::string& process, size_t lines) const {
  std::string tail = ReadTail(started(process).output.get(), 0, kLateOutputBytes);
  std::vector<std::string> all = Split(tail, '\n');
  if (!all.empty() && all.back().empty()) all.pop_back();
  size_t first = all.size() > lines ? all.size() - lines : 0;
  std::string out;
  for (size_t i = first; i < all.size(); ++i) out += "  " + all[i] + "\n";
  return out;
}

std::string Scenario::Died() {
  std::string out;
  for (auto& [name, s] : started_) {
    if (s->stopped || s->process.Running()) continue;
    out += fmt::format("process '{}' ({}) {}; its last output:\n{}", name, s->command,
                       s->process.Wait().Describe(), OutputTail(name, kLateOutputLines));
  }
  return out;
}

std::string Scenario::Processes() {
  std::string out;
  for (auto& [name, s] : started_) {
    bool running = s->process.Running();
    out += fmt::format("process '{}' ({}) {}; its last output:\n{}", name, s->command,
                       running ? "is running" : s->process.Wait().Describe(),
                       OutputTail(name, kLateOutputLines));
  }
  return out;
}

SockDiag& Scenario::Diag(const std::string& name) const {
  std::unique_ptr<SockDiag>& d = diags_[name];
  if (!d) d = std::make_unique<SockDiag>(ns(name));
  return *d;
}

std::vector<ListenerQueues> Scenario::ListenersOn(const std::string& name, uint16_t port) const {
  return InOrderMade(name, port, Diag(name).Listeners(port));
}

std::vector<ListenerQueues> Scenario::InOrderMade(const std::string& name, uint16_t port,
                                                  std::vector<ListenerQueues> all) const {
  std::map<uint32_t, size_t> made;  // inode -> place among the listeners made here
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i]->netns_name() == name && listeners_[i]->port() == port) {
      made[listeners_[i]->inode()] = i;
    }
  }
  auto rank = [&made](const ListenerQueues& l) {
    auto it = made.find(l.inode);
    return it != made.end() ? std::make_pair(0, static_cast<uint64_t>(it->second))
                            : std::make_pair(1, static_cast<uint64_t>(l.inode));
  };
  // Members of a group are adjacent (SockDiag sorts by address): reorder each group, and keep
  // its SYN-RECV count on its new member 0.
  for (size_t first = 0; first < all.size();) {
    size_t end = first + 1;
    while (end < all.size() && all[end].address == all[first].address) ++end;
    uint32_t syn_recv = 0;
    for (size_t i = first; i < end; ++i) syn_recv += std::exchange(all[i].syn_recv, 0);
    std::stable_sort(
        all.begin() + static_cast<std::ptrdiff_t>(first),
        all.begin() + static_cast<std::ptrdiff_t>(end),
        [&rank](const ListenerQueues& a, const ListenerQueues& b) { return rank(a) < rank(b); });
    for (size_t i = first; i < end; ++i) all[i].index = static_cast<uint32_t>(i - first);
    all[first].syn_recv = syn_recv;
    first = end;
  }
  return all;
}

ListenerQueues Scenario::ListenerOn(const std::string& name, uint16_t port,
                                    const ListenerSelector& which, const std::string& how) const {
  std::string what = fmt::format("read listener on port {} in netns '{}'", port, name);
  if (how.empty()) return SelectListener(ListenersOn(name, port), which, what);
  return SelectListener(ListenersOn(name, port), which, what, how);
}

size_t Scenario::ListeningCount(const std::string& name, uint16_t port,
                                const std::optional<IpAddress>& address) const {
  size_t n = 0;
  for (const TcpSocketInfo& t : Diag(name).Dump(1u << static_cast<int>(TcpState::kListen))) {
    if (t.local_port == port && (!address || t.local == *address)) ++n;
  }
  return n;
}

std::string Scenario::StopAll(const std::string& dir, const std::string& prefix) {
  std::string out;
  for (auto& [name, s] : started_) {
    bool was_running = s->process.Running();
    const ProcessResult& r =
        s->stopped || !was_running ? s->process.Wait() : Stop(name, s->stop_signal);
    out += fmt::format("process '{}' ({}) {}{}; its last output:\n{}", name, s->command,
                       was_running ? "stopped: " : "", r.Describe(),
                       OutputTail(name, kLateOutputLines));
    if (dir.empty()) continue;
    std::string folder = dir + "/" + SafeFileName(prefix);
    ::mkdir(dir.c_str(), 0755);
    ::mkdir(folder.c_str(), 0755);
    std::string path = folder + "/" + SafeFileName(name) + ".log";
    std::ofstream file(path, std::ios::binary);
    file << ReadTail(s->output.get(), 0, SIZE_MAX);
    out += file ? fmt::format("  (all of it: {})\n", path)
                : fmt::format("  (cannot write {})\n", path);
  }
  return out;
}

std::string Scenario::Context() const {
  std::string out;
  for (const std::string& n : order_) {
    const Netns& space = ns(n);
    out += fmt::format("netns '{}':\n", n);
    for (const auto& [k, v] : space.effective_sysctls())
      out += fmt::format("  sysctl {} = {}\n", k, v);
    try {
      out += "  counters: " + CounterSummary(n) + "\n";
      for (auto& [port, listeners] : Diag(n).ListenersByPort()) {
        for (const ListenerQueues& l : InOrderMade(n, port, std::move(listeners)))
          out += "  " + l.ToString() + "\n";
      }
    } catch (const std::exception& e) {
      out += fmt::format("  ({})\n", e.what());
    }
  }
  return out;
}

std::string Scenario::LateOutput() const {
  std::string out;
  for (const Output& o : outputs_) {
    std::string late = ReadTail(o.file.get(), o.shown, kLateOutputBytes);
    if (late.empty()) continue;
    std::vector<std::string> lines = Split(late, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    size_t first = lines.size() > kLateOutputLines ? lines.size() - kLateOutputLines : 0;
    out += fmt::format("output of {} after it exited, from what it left running (last {} lines):\n",
                       o.what, lines.size() - first);
    for (size_t i = first; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  }
  return out;
}

std::string Scenario::WriteArtifacts(const std::string& dir, const std::string& prefix) const {
  if (dir.empty() || (captures_.empty() && outputs_.empty())) return "";
  ::mkdir(dir.c_str(), 0755);
  std::string out;
  for (const auto& [name, cap] : captures_) {
    std::string path = dir + "/" + SafeFileName(prefix + "." + name + ".pcap");
    try {
      cap->WritePcap(path);
      out += fmt::format("capture '{}' ({} packets) written to {}\n", name, cap->Packets().size(),
                         path);
    } catch (const Error& e) {
      out += fmt::format("capture '{}': {}\n", name, e.what());
    }
  }
  for (const Output& o : outputs_) {
    std::string path = dir + "/" + SafeFileName(prefix + "." + o.artifact);
    std::ofstream file(path, std::ios::binary);
    file << ReadTail(o.file.get(), 0, SIZE_MAX);
    out += file ? fmt::format("output of {} written to {}\n", o.what, path)
                : fmt::format("output of {}: cannot write {}\n", o.what, path);
  }
  return out;
}

std::string Scenario::KeepNamespaces() {
  std::string tag = MakeRunTag();
  std::string out;
  for (const std::string& n : order_) {
    try {
      std::string path = ns(n).BindMount(tag);
      ns(n).KeepBindMount();
      out += fmt::format("kept netns '{}': ip netns exec {} bash\n", n,
                         path.substr(path.rfind('/') + 1));
    } catch (const Error& e) {
      out += fmt::format("could not keep netns '{}': {}\n", n, e.what());
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Scenario::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& n : order_) {
    for (const auto& [k, v] : ns(n).effective_sysctls()) {
      out.emplace_back(fmt::format("sysctl.{}.{}", n, k), v);
    }
  }
  return out;
}

std::vector<std::string> Scenario::CaptureNames() const {
  std::vector<std::string> out;
  for (const auto& [name, c] : captures_) out.push_back(name);
  return out;
}

std::string Scenario::NamespaceOf(const IpAddress& address) const {
  for (const BuiltLink& l : links_) {
    const DefaultAddresses& a = l.addresses;
    if (address == a.a_v4.address || address == a.a_v6.address) return l.spec.a;
    if (address == a.b_v4.address || address == a.b_v6.address) return l.spec.b;
  }
  return "";
}

std::string SafeFileName(std::string text) {
  for (char& c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) c = '_';
  }
  return text;
}

}  // namespace nstest
