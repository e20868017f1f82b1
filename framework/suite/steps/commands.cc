// The step kinds that change a namespace or run something in it: sysctl, run.
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "nstest/process.h"
#include "nstest/sysctl.h"
#include "suite/step_fields.h"

namespace nstest::registry {
namespace {

constexpr size_t kRunOutputInLog = 64 * 1024;

void DoSysctl(Execution& x, const Step&, const SysctlStep& a) {
  std::string value = a.expr ? std::to_string(x.Eval(*a.expr)) : *a.value;
  x.Log(fmt::format("set {} = {} in netns '{}'", a.key, SetSysctl(x.Ns(a.netns), a.key, value),
                    a.netns));
}

void DoRun(Execution& x, const Step& s, const RunStep& a) {
  // The command's output goes to a file that lives as long as the case, not to pipes: a server
  // it leaves running would get SIGPIPE on its next write once the step closed them.
  Fd file(::memfd_create("nstest-run-output", MFD_CLOEXEC));
  if (!file) ThrowErrno("run: create the output file (memfd_create)");
  ProcessOptions po;
  po.argv = a.argv;
  po.timeout = x.Millis(a.timeout_ms);
  po.output_fd = file.get();
  ProcessResult r = RunProcess(&x.Ns(a.netns), po);
  // What the command wrote until it exited; what processes it left running write later is the
  // late output (Execution::LateOutput).
  struct stat st {};
  size_t at_exit = ::fstat(file.get(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  size_t from = at_exit > kRunOutputInLog ? at_exit - kRunOutputInLog : 0;
  std::string output = ReadRange(file.get(), from, at_exit);
  if (from > 0) {
    output =
        fmt::format("[... the first {} bytes are not shown here; the artifacts have all]\n", from) +
        output;
  }
  std::string command = Join(a.argv, ' ');
  x.Log(fmt::format("run '{}' in netns '{}': {}\n{}", command, a.netns, r.Describe(), output));
  x.sc().AddOutput(fmt::format("run-{}.log", s.where.line),
                   fmt::format("run '{}' ({})", command, s.where.ToString()), std::move(file),
                   at_exit);
  int64_t want = x.Eval(a.exit);
  if (r.timed_out || r.exit_code != want) {
    x.Fail(s, fmt::format("'{}': expected exit status {}, got: {}", command, want, r.Describe()));
  }
}

}  // namespace

std::vector<Kind> CommandKinds() {
  return {
      Declare<StepAction, SysctlStep>(
          "sysctl", "sets a per-namespace sysctl",
          {NetnsField(&SysctlStep::netns, "netns", "server", "where"),
           {{"key", "string", "required", "a per-namespace net.* key"},
            [](TableReader& r, const Ctx& c, SysctlStep& s) {
              std::optional<std::string> key = r.String("key");
              if (!key) r.Fail(r.table(), "missing 'key'");
              if (std::string problem = c.scope.keys.Problem(*key, c.scope.newer_kernel);
                  !problem.empty()) {
                r.FailKey("key", problem);
              }
              s.key = *key;
            },
            {}},
           {{"value", "integer or string", "-", "a literal value (or `expr`)"},
            [](TableReader& r, const Ctx& c, SysctlStep& s) {
              const toml::node* v = r.Node("value");
              s.expr = r.Number("expr", c.params, kAny);
              if ((v == nullptr) == !s.expr.has_value()) {
                r.Fail(r.table(),
                       "a sysctl step needs either 'value' (a literal) or 'expr' (an expression)");
              }
              if (v == nullptr) return;
              if (v->is_integer()) {
                s.value = std::to_string(v->as_integer()->get());
              } else if (v->is_string()) {
                s.value = v->as_string()->get();
              } else {
                r.Fail(*v,
                       fmt::format("'value' must be an integer or a string, not {}", TypeName(*v)));
              }
            },
            [](const SysctlStep& s, std::vector<const Value*>* out) {
              if (s.expr) out->push_back(&*s.expr);
            }},
           {{"expr", "integer", "-", "an expression for the value (or `value`)"},
            [](TableReader&, const Ctx&, SysctlStep&) {},
            {}}},
          DoSysctl),
      Declare<StepAction, RunStep>(
          "run",
          "runs a command and waits for it to exit; its output goes to a file that lives as "
          "long as the case (a server it starts in the background can keep writing); "
          "`$NSTEST_CASE` holds the case's full name",
          {NetnsField(&RunStep::netns, "netns", "server", "where"),
           {{"argv", "array of strings", "required", "the command and its arguments (no shell)"},
            [](TableReader& r, const Ctx&, RunStep& s) {
              s.argv = r.Strings("argv");
              if (s.argv.empty())
                r.Fail(r.table(), "'argv' must list the command and its arguments");
            },
            {}},
           Defaulted(&RunStep::timeout_ms, "timeout_ms", kMillis, 10000,
                     "then it is killed and the step fails"),
           Defaulted(&RunStep::exit, "exit", Range{0, 255}, 0, "the exit status expected")},
          DoRun)};
}

}  // namespace nstest::registry
