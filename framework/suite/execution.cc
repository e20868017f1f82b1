// A suite case's namespaces and what it leaves for the report: building the topology, the
// diagnostics of every namespace, artifacts and properties.
#include "suite/execution.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "nstest/link.h"
#include "nstest/sockdiag.h"
#include "nstest/sysctl.h"
#include "src/strings.h"

namespace nstest {
namespace {

using std::chrono::milliseconds;

constexpr size_t kRunOutputInLog = 64 * 1024;
constexpr size_t kLateOutputLines = 20;

}  // namespace

void Execution::Build() {
  const Suite& suite = *c_.suite;
  for (const NamespaceSpec& n : suite.namespaces) {
    ns_[n.name] = std::make_unique<Netns>(Netns::Create(n.name));
    order_.push_back(n.name);
  }
  std::map<std::string, int> interfaces;
  for (const LinkSpec& l : suite.links) {
    std::string a_if = fmt::format("eth{}", interfaces[l.a]++);
    std::string b_if = fmt::format("eth{}", interfaces[l.b]++);
    VethOptions vo;
    vo.mtu = l.mtu;
    AddVethPair(Ns(l.a), a_if, Ns(l.b), b_if, vo);
    DefaultAddresses d = DefaultPairAddresses(l.index);
    AddAddress(Ns(l.a), a_if, d.a_v4);
    AddAddress(Ns(l.b), b_if, d.b_v4);
    address_.emplace(l.a, d.a_v4.address);
    address_.emplace(l.b, d.b_v4.address);
    ifname_.emplace(l.a, a_if);
    ifname_.emplace(l.b, b_if);
    if (l.ipv6) {
      AddAddress(Ns(l.a), a_if, d.a_v6);
      AddAddress(Ns(l.b), b_if, d.b_v6);
    }
    WaitLinkOperUp(Ns(l.a), a_if, milliseconds(5000));
    WaitLinkOperUp(Ns(l.b), b_if, milliseconds(5000));
    if (l.ipv6) {
      WaitAddressUsable(Ns(l.a), a_if, d.a_v6, milliseconds(5000));
      WaitAddressUsable(Ns(l.b), b_if, d.b_v6, milliseconds(5000));
    }
  }
  // A write the kernel refuses names where the value came from: the suite's line, or the flag.
  for (const auto* list : {&suite.sysctls, &c_.test->sysctls}) {
    for (const SysctlSetting& s : *list) {
      try {
        SetSysctl(Ns(s.netns), s.key, s.value);
      } catch (const Error& e) {
        throw Error(fmt::format("{}: {}", s.where.ToString(), e.what()));
      }
    }
  }
  for (const auto& [key, value] : o_.sysctls) {
    for (const std::string& n : order_) {
      try {
        SetSysctl(Ns(n), key, value);
      } catch (const Error& e) {
        throw Error(fmt::format("the override {}={} (--sysctl or --sysctl-file): {}", key, value,
                                e.what()));
      }
    }
  }
  for (const std::string& n : order_) start_.emplace(n, Counters::Read(Ns(n)));
}

int64_t Execution::Eval(const Value& v) {
  Expression::Context ctx;
  ctx.names = &c_.params;
  ctx.sysctl = [this](const Expression::SysctlRef& r) -> std::optional<int64_t> {
    std::string ns = !r.netns.empty() ? r.netns : ns_.count("server") ? "server" : order_[0];
    if (ns_.count(ns) == 0)
      throw Error(fmt::format("sysctl(\"{}\", ...): no namespace '{}'", ns, ns));
    // Without a default, a missing key is an error that suggests a near name.
    std::optional<std::string> found =
        r.has_default ? FindSysctl(Ns(ns), r.key) : GetSysctl(Ns(ns), r.key);
    if (!found) return std::nullopt;
    const std::string& text = *found;
    char* end = nullptr;
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0') {
      throw Error(fmt::format("sysctl '{}' in netns '{}' is '{}', not a number", r.key, ns, text));
    }
    return n;
  };
  return v.expr.Evaluate(ctx);
}

PacketFilter& Execution::Filter(const std::string& ns) {
  auto& f = filters_[ns];
  if (!f) f = std::make_unique<PacketFilter>(Ns(ns));
  return *f;
}

void Execution::CheckListeners() {
  for (const auto& l : listeners_) {
    if (std::string why = l->error(); !why.empty()) {
      throw Error(
          fmt::format("listener on port {} in netns '{}': {}", l->port(), l->netns_name(), why));
    }
  }
}

Capture& Execution::SyncedCapture(const std::string& name) {
  Capture& cap = *captures_.at(name);
  cap.Sync();
  if (std::string problem = cap.DropProblem(); !problem.empty()) {
    throw Error(
        fmt::format("capture '{}': {}: raise `buffer_kb` or narrow `filter`", name, problem));
  }
  return cap;
}

void Execution::Diagnose(std::string* log) {
  for (const std::string& n : order_) {
    Netns& ns = Ns(n);
    *log += fmt::format("netns '{}':\n", n);
    for (const auto& [k, v] : ns.effective_sysctls())
      *log += fmt::format("  sysctl {} = {}\n", k, v);
    try {
      auto base = start_.find(n);
      *log += base == start_.end()
                  ? std::string("  counters: (no baseline: the case stopped before its steps)\n")
                  : "  counters: " + Counters::Read(ns).Since(base->second).ToString() + "\n";
      for (const TcpSocketInfo& t : SockDiag(ns).Dump(1u << static_cast<int>(TcpState::kListen))) {
        ListenerQueues q = GetListener(ns, t.local_port);
        *log += "  " + q.ToString() + "\n";
      }
    } catch (const std::exception& e) {
      *log += fmt::format("  ({})\n", e.what());
    }
  }
}

void Execution::KeepNamespaces(std::string* log) {
  std::string tag = MakeRunTag();
  for (const std::string& n : order_) {
    try {
      std::string path = Ns(n).BindMount(tag);
      Ns(n).KeepBindMount();
      *log += fmt::format("kept netns '{}': ip netns exec {} bash\n", n,
                          path.substr(path.rfind('/') + 1));
    } catch (const Error& e) {
      *log += fmt::format("could not keep netns '{}': {}\n", n, e.what());
    }
  }
}

std::string Execution::ArtifactPath(const std::string& what) const {
  std::string file = c_.FullName() + "." + what;
  for (char& ch : file) {
    if (ch == '/' || ch == '=' || ch == ',') ch = '_';
  }
  return o_.artifacts_dir + "/" + file;
}

void Execution::WriteCaptures(std::string* log) {
  if (o_.artifacts_dir.empty() || (captures_.empty() && run_outputs_.empty())) return;
  ::mkdir(o_.artifacts_dir.c_str(), 0755);
  for (const auto& [name, cap] : captures_) {
    std::string path = ArtifactPath(name + ".pcap");
    try {
      cap->WritePcap(path);
      *log += fmt::format("capture '{}' written to {}\n", name, path);
    } catch (const Error& e) {
      *log += fmt::format("capture '{}': {}\n", name, e.what());
    }
  }
  for (const RunOutput& r : run_outputs_) {
    std::string path = ArtifactPath(fmt::format("run-{}.log", r.where.line));
    std::string text = ReadTail(r.file.get(), 0, SIZE_MAX);
    std::ofstream out(path, std::ios::binary);
    out << text;
    *log += out ? fmt::format("output of run '{}' written to {}\n", r.command, path)
                : fmt::format("output of run '{}': cannot write {}\n", r.command, path);
  }
}

void Execution::LateOutput(std::string* log) {
  for (const RunOutput& r : run_outputs_) {
    std::string late = ReadTail(r.file.get(), r.at_exit, kRunOutputInLog);
    if (late.empty()) continue;
    std::vector<std::string> lines = Split(late, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    size_t first = lines.size() > kLateOutputLines ? lines.size() - kLateOutputLines : 0;
    *log += fmt::format(
        "output of run '{}' ({}) after it exited, from what it left running (last {} lines):\n",
        r.command, r.where.ToString(), lines.size() - first);
    for (size_t i = first; i < lines.size(); ++i) *log += "  " + lines[i] + "\n";
  }
}

std::vector<std::pair<std::string, std::string>> Execution::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : c_.params) out.emplace_back("param." + k, std::to_string(v));
  for (const std::string& n : order_) {
    for (const auto& [k, v] : ns_.at(n)->effective_sysctls())
      out.emplace_back(fmt::format("sysctl.{}.{}", n, k), v);
  }
  return out;
}

}  // namespace nstest
