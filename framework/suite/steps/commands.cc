// The step kinds that change a namespace or run something in it: sysctl, run, start, stop.
#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <string_view>

#include "nstest/process.h"
#include "nstest/sysctl.h"
#include "suite/step_fields.h"

namespace nstest::registry {
namespace {

constexpr size_t kRunOutputInLog = 64 * 1024;

const NameTable<int>& Signals() {
  static const NameTable<int> names = {
      {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGHUP, "SIGHUP"},   {SIGQUIT, "SIGQUIT"},
      {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGKILL, "SIGKILL"},
  };
  return names;
}

// `{nstest}`: the path of the nstest binary running the suite (for `nstest serve`).
constexpr char kSelf[] = "nstest";

std::string SelfPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) ThrowErrno("{nstest}: readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

// Whether `name` (the text between a '{' and the next '}') has a placeholder's shape: an
// identifier (`backlog`, `nstest`) or `env:` and a variable name. Any other brace is literal text,
// so a Python dict or an awk program in argv stays as written.
bool PlaceholderShaped(std::string_view name) {
  if (name.rfind("env:", 0) == 0) return name.find_first_of("\n'\"") == std::string_view::npos;
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

// Walks the placeholders of `text`: `literal` gets the text between them ({{ and }} as single
// braces; a brace around what is not placeholder-shaped, or after a '$' as in a shell's ${HOME},
// as itself), `placeholder` each name between braces.
void WalkPlaceholders(const std::string& text, const std::function<void(std::string_view)>& literal,
                      const std::function<void(const std::string&)>& placeholder) {
  for (size_t i = 0; i < text.size();) {
    size_t brace = text.find_first_of("{}", i);
    literal(std::string_view(text).substr(i, brace - i));
    if (brace == std::string::npos) break;
    if (brace + 1 < text.size() && text[brace + 1] == text[brace]) {
      literal(std::string_view(text).substr(brace, 1));
      i = brace + 2;
      continue;
    }
    size_t end = text[brace] == '{' ? text.find('}', brace) : std::string::npos;
    if (end == std::string::npos || (brace > 0 && text[brace - 1] == '$') ||
        !PlaceholderShaped(std::string_view(text).substr(brace + 1, end - brace - 1))) {
      literal(std::string_view(text).substr(brace, 1));
      i = brace + 1;
      continue;
    }
    placeholder(text.substr(brace + 1, end - brace - 1));
    i = end + 1;
  }
}

bool ValidEnvName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Refuses, at load time, placeholders that name neither a matrix parameter nor {env:NAME}.
void CheckPlaceholders(TableReader& r, const Ctx& c, const toml::node& at,
                       const std::string& text) {
  std::string problem;
  WalkPlaceholders(
      text, [](std::string_view) {},
      [&](const std::string& name) {
        if (!problem.empty()) return;
        if (name == kSelf && c.params.count(name) == 0) return;
        if (name.rfind("env:", 0) == 0) {
          if (!ValidEnvName(name.substr(4))) {
            problem = fmt::format(
                "'{{{}}}': an environment variable name is [A-Za-z_][A-Za-z0-9_]*", name);
          }
        } else if (c.params.count(name) == 0) {
          std::string near = ClosestName(name, {c.params.begin(), c.params.end()});
          problem = fmt::format(
              "'{{{}}}' is no matrix parameter of this test{} (placeholders are matrix "
              "parameters, {{env:NAME}} and {{nstest}}; write '{{{{{}}}}}' for the text itself)",
              name, near.empty() ? "" : fmt::format("; did you mean '{{{}}}'?", near), name);
        }
      });
  if (!problem.empty()) r.Fail(at, problem);
}

// `text` with its placeholders replaced: matrix parameters by their value, {env:NAME} by the
// variable (`{env:NSTEST_CASE}` by the case's full name, which the commands it starts find in
// their environment). Throws Error for a variable that is not set.
std::string Substitute(const std::string& text, const Case& c) {
  const std::map<std::string, int64_t>& params = c.params;
  std::string out;
  WalkPlaceholders(
      text, [&](std::string_view s) { out += s; },
      [&](const std::string& name) {
        if (name == kSelf && params.count(name) == 0) {
          out += SelfPath();
        } else if (name == "env:NSTEST_CASE") {
          out += c.FullName();
        } else if (name.rfind("env:", 0) == 0) {
          const char* v = std::getenv(name.substr(4).c_str());
          if (v == nullptr) {
            throw Error(
                fmt::format("'{{{}}}': the environment has no {} (set it for the run, "
                            "e.g. {}=... nstest run ...)",
                            name, name.substr(4), name.substr(4)));
          }
          out += v;
        } else {
          out += std::to_string(params.at(name));
        }
      });
  return out;
}

std::vector<std::string> SubstitutedArgv(const Execution& x, const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (const std::string& a : argv) out.push_back(Substitute(a, x.test_case()));
  return out;
}

template <typename S>
Field<S> ArgvField(std::vector<std::string> S::*m) {
  return {{"argv", "array of strings", "required",
           "the command and its arguments (no shell); `{param}` is replaced by a matrix "
           "parameter's value, `{env:NAME}` by an environment variable of the run, `{nstest}` by "
           "the nstest binary"},
          [m](TableReader& r, const Ctx& c, S& s) {
            s.*m = r.Strings("argv");
            if ((s.*m).empty()) r.Fail(r.table(), "'argv' must list the command and its arguments");
            const toml::array& items = *r.table().get("argv")->as_array();
            for (size_t i = 0; i < items.size(); ++i) {
              CheckPlaceholders(r, c, items[i], (s.*m)[i]);
            }
          },
          {}};
}

void DoSysctl(Execution& x, const Step&, const SysctlStep& a) {
  std::string value = a.expr ? std::to_string(x.Eval(*a.expr)) : *a.value;
  x.Log(fmt::format("set {} = {} in netns '{}'", a.key, SetSysctl(x.Ns(a.netns), a.key, value),
                    a.netns));
}

// A command's options as every command a case starts gets them: `$NSTEST_CASE` holds the case's
// full name (set here, not in the case's own environment: a setenv() there costs every case a
// copy of the environment's pages, commands or not, and is no safe call once a case has threads).
ProcessOptions CommandOptions(Execution& x, const std::vector<std::string>& argv) {
  ProcessOptions po;
  po.argv = SubstitutedArgv(x, argv);
  po.env["NSTEST_CASE"] = x.test_case().FullName();
  return po;
}

void DoRun(Execution& x, const Step& s, const RunStep& a) {
  // The command's output goes to a file that lives as long as the case, not to pipes: a server
  // it leaves running would get SIGPIPE on its next write once the step closed them.
  Fd file(::memfd_create("nstest-run-output", MFD_CLOEXEC));
  if (!file) ThrowErrno("run: create the output file (memfd_create)");
  ProcessOptions po = CommandOptions(x, a.argv);
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
  std::string command = ShellQuoted(po.argv);
  x.Log(fmt::format("run [{}] in netns '{}': {}\n{}", command, a.netns, r.Describe(), output));
  x.sc().AddOutput(fmt::format("run-{}.log", s.where.line),
                   fmt::format("run [{}] ({})", command, s.where.ToString()), std::move(file),
                   at_exit);
  int64_t want = x.Eval(a.exit);
  if (r.timed_out || r.exit_code != want) {
    x.Fail(s, fmt::format("[{}]: expected exit status {}, got: {}", command, want, r.Describe()));
  }
}

// A started process's name, unique in its test.
Field<StartStep> ProcessNameField() {
  return {{"name", "string", "required", "the name `stop`, `expect.process` and the log use"},
          [](TableReader& r, const Ctx& c, StartStep& s) {
            std::optional<std::string> name = r.String("name");
            if (!name || name->empty()) {
              r.Fail(r.table(), "missing 'name' (stop and expect.process use it)");
            }
            if (!c.processes->insert(*name).second) {
              r.FailKey("name", fmt::format("a second process named '{}' in this test", *name));
            }
            s.name = *name;
          },
          {}};
}

// `env = { NAME = "value" }`: names as the environment takes them, values with placeholders.
Field<StartStep> EnvField() {
  return {
      {"env", "table of strings", "{}",
       "variables set on top of the run's environment (placeholders as in argv)"},
      [](TableReader& r, const Ctx& c, StartStep& s) {
        const toml::table* env = r.Table("env");
        if (env == nullptr) return;
        for (auto&& [key, node] : *env) {
          std::string k(key.str());
          if (!ValidEnvName(k)) {
            throw SuiteError(
                PosOf(key, c.file),
                fmt::format("'{}' is no environment variable name ([A-Za-z_][A-Za-z0-9_]*)", k));
          }
          if (!node.is_string()) {
            r.Fail(node, fmt::format("env.{} must be a string, not {}", k, TypeName(node)));
          }
          CheckPlaceholders(r, c, node, node.as_string()->get());
          s.env[k] = node.as_string()->get();
        }
      },
      {}};
}

void DoStart(Execution& x, const Step&, const StartStep& a) {
  ProcessOptions po = CommandOptions(x, a.argv);
  for (const auto& [k, v] : a.env) po.env[k] = Substitute(v, x.test_case());
  Process& p = x.sc().Start(a.name, a.netns, po, a.stop_signal, x.Millis(a.grace_ms));
  x.Log(fmt::format("start [{}] in netns '{}' as '{}' (pid {})", ShellQuoted(po.argv), a.netns,
                    a.name, p.pid()));
}

void DoStop(Execution& x, const Step&, const StopStep& a) {
  bool running = x.sc().Running(a.name);
  const ProcessResult& r = x.sc().Stop(a.name, a.signal);
  int signal = a.signal != 0 ? a.signal : x.sc().StopSignal(a.name);
  x.Log(fmt::format("stop '{}' with {}: {}", a.name,
                    running ? Signals().Name(signal) : "nothing (it had ended)", r.Describe()));
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
              if (v != nullptr) s.value = IntegerOrString(r, *v);
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
          {NetnsField(&RunStep::netns, "netns", "server", "where"), ArgvField(&RunStep::argv),
           Defaulted(&RunStep::timeout_ms, "timeout_ms", kMillis, 10000,
                     "then it is killed and the step fails"),
           Defaulted(&RunStep::exit, "exit", Range{0, 255}, 0, "the exit status expected")},
          DoRun),
      Declare<StepAction, StartStep>(
          "start",
          "starts a long-lived command (a server under test) and goes on; it runs in the case's "
          "PID namespace, its output goes to `<artifacts>/<case>/<name>.log` and its last lines "
          "to the case's log; when the case ends it gets `stop_signal`, then SIGKILL after "
          "`grace_ms`",
          {NetnsField(&StartStep::netns, "netns", "server", "where"), ProcessNameField(),
           ArgvField(&StartStep::argv), EnvField(),
           Choice(&StartStep::stop_signal, "stop_signal", Signals(), SIGTERM,
                  "the signal it gets when the case ends"),
           Defaulted(&StartStep::grace_ms, "grace_ms", kMillis, 2000,
                     "how long it may take to exit after that signal; then SIGKILL")},
          DoStart),
      Declare<StepAction, StopStep>(
          "stop",
          "stops a started process: `signal`, then SIGKILL after its `grace_ms`; the step waits "
          "until it has exited",
          {Earlier(&StopStep::name, "name", &Ctx::processes, "process started as",
                   "the start step's name"),
           {{"signal", Alternatives(Signals().Names()), "its `stop_signal`",
             "the signal to send; by default the one the start step named (SIGTERM unless it "
             "named another)"},
            [](TableReader& r, const Ctx&, StopStep& s) {
              s.signal = r.Node("signal") == nullptr
                             ? 0
                             : *Signals().Find(r.Choice("signal", Signals().Names(), "SIGTERM"));
            },
            {}}},
          DoStop)};
}

}  // namespace nstest::registry
