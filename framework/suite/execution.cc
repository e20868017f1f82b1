// Building a suite case's scenario, evaluating its expressions, and its properties.
#include "suite/execution.h"

#include "nstest/sysctl.h"

namespace nstest {

void Execution::Build() {
  const Suite& suite = *c_.suite;
  ScenarioSpec spec;
  for (const NamespaceSpec& n : suite.namespaces) spec.namespaces.push_back(n.name);
  for (const LinkSpec& l : suite.links) {
    spec.links.push_back(
        ScenarioLink{.a = l.a, .b = l.b, .index = l.index, .mtu = l.mtu, .ipv6 = l.ipv6});
  }
  sc_ = std::make_unique<Scenario>(spec);
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
    for (const std::string& n : sc_->names()) {
      try {
        SetSysctl(Ns(n), key, value);
      } catch (const Error& e) {
        throw Error(fmt::format("the override {}={} (--sysctl or --sysctl-file): {}", key, value,
                                e.what()));
      }
    }
  }
  sc_->ResetCounters();
}

int64_t Execution::Eval(const Value& v) {
  Expression::Context ctx;
  ctx.names = &c_.params;
  ctx.sysctl = [this](const Expression::SysctlRef& r) -> std::optional<int64_t> {
    std::string ns = !r.netns.empty() ? r.netns : sc_->has("server") ? "server" : sc_->names()[0];
    if (!sc_->has(ns)) throw Error(fmt::format("sysctl(\"{}\", ...): no namespace '{}'", ns, ns));
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

Capture& Execution::SyncedCapture(const std::string& name) {
  Capture& cap = sc_->capture(name);
  cap.Sync();
  if (std::string problem = cap.DropProblem(); !problem.empty()) {
    throw Error(
        fmt::format("capture '{}': {}: raise `buffer_kb` or narrow `filter`", name, problem));
  }
  return cap;
}

std::vector<std::pair<std::string, std::string>> Execution::Properties() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : c_.params) out.emplace_back("param." + k, std::to_string(v));
  if (sc_) {
    for (auto& p : sc_->Properties()) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace nstest
