#include "runner/case_process.h"

#include <fmt/format.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

namespace nstest {
namespace {

// --- The result file: the child writes it, the supervisor reads it. Each field is its length in
// decimal, a newline and its bytes: status, message, detail, log, the number of properties, then
// each property's name and value. ---

constexpr std::string_view kResultMagic = "nstest-result 1\n";

void Put(std::string* out, std::string_view field) {
  out->append(std::to_string(field.size())).append(1, '\n').append(field);
}

// The next field from `*in`, or nullopt if `*in` does not start with one.
std::optional<std::string> Take(std::string_view* in) {
  size_t nl = in->find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 20) return std::nullopt;
  size_t size = 0;
  auto [end, ec] = std::from_chars(in->data(), in->data() + nl, size);
  if (ec != std::errc() || end != in->data() + nl || size > in->size() - nl - 1) {
    return std::nullopt;
  }
  std::string field(in->substr(nl + 1, size));
  in->remove_prefix(nl + 1 + size);
  return field;
}

std::string EncodeResult(const CaseResult& r) {
  std::string out(kResultMagic);
  Put(&out, CaseStatusName(r.status));
  Put(&out, r.message);
  Put(&out, r.detail);
  Put(&out, r.log);
  Put(&out, std::to_string(r.properties.size()));
  for (const auto& [k, v] : r.properties) {
    Put(&out, k);
    Put(&out, v);
  }
  return out;
}

// The result the child wrote; nullopt if it wrote none, or not all of one.
std::optional<CaseResult> ParseResult(std::string_view in) {
  if (in.substr(0, kResultMagic.size()) != kResultMagic) return std::nullopt;
  in.remove_prefix(kResultMagic.size());
  std::optional<std::string> status = Take(&in), message = Take(&in), detail = Take(&in),
                             log = Take(&in), count = Take(&in);
  if (!status || !message || !detail || !log || !count) return std::nullopt;
  CaseResult r;
  r.status = CaseStatusFromName(*status).value_or(CaseStatus::kError);
  r.message = std::move(*message);
  r.detail = std::move(*detail);
  r.log = std::move(*log);
  size_t n = 0;
  auto [end, ec] = std::from_chars(count->data(), count->data() + count->size(), n);
  if (ec != std::errc() || end != count->data() + count->size()) return std::nullopt;
  for (size_t i = 0; i < n; ++i) {
    std::optional<std::string> name = Take(&in), value = Take(&in);
    if (!name || !value) return std::nullopt;
    r.properties.emplace_back(std::move(*name), std::move(*value));
  }
  return r;
}

void WriteAll(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Writes the result of a case that ended with `e`: an ERROR with its message.
void WriteError(int result, const std::exception& e) {
  CaseResult r;
  r.status = CaseStatus::kError;
  r.message = e.what();
  WriteAll(result, EncodeResult(r));
}

// Ends this process at once. A case's process has nothing to tear down that the kernel does not
// (its namespaces go with their last descriptor): freeing its heap and running the exit handlers
// of a large program cost milliseconds a case. Sanitizer builds exit normally so that their
// checks at exit still run.
[[noreturn]] void QuickExit(int code) {
#if defined(__SANITIZE_ADDRESS__)
  std::exit(code);
#else
  std::fflush(nullptr);
  ::_exit(code);
#endif
}

// Runs the case and writes its result; an exception is the case's error.
int RunAndWrite(const Case& c, const RunOptions& options, int result) {
  try {
    WriteAll(result, EncodeResult(RunCase(c, options)));
  } catch (const std::exception& e) {
    WriteError(result, e);
  }
  return 0;
}

// A case's process, up to the case itself: dies with the launcher (`launcher`, a pidfd, tells
// whether it died before the death signal was set), names itself and takes its output files.
void PrepareCaseProcess(int launcher, int output) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  pollfd gone{launcher, POLLIN, 0};
  if (::poll(&gone, 1, 0) != 0) ::_exit(127);
  ::close(launcher);
  ::prctl(PR_SET_NAME, "nstest-case");
  ::signal(SIGINT, SIG_DFL);
  ::dup2(output, STDOUT_FILENO);
  ::dup2(output, STDERR_FILENO);
  ::close(output);
}

}  // namespace

CaseResult DecodeResult(const ProcessResult& p, const std::string& result, double timeout_s) {
  CaseResult r;
  if (p.timed_out) {
    r.status = CaseStatus::kError;
    r.message = fmt::format("timed out after {} s", timeout_s);
    r.log = p.stderr_text;
    return r;
  }
  std::optional<CaseResult> written = ParseResult(result);
  if (!written) {
    r.status = CaseStatus::kError;
    r.message = p.signal != 0 ? fmt::format("crashed: {}", p.Describe())
                              : fmt::format("no result from the case ({})", p.Describe());
    r.log = p.stderr_text;
    return r;
  }
  return *written;
}

pid_t ForkIntoNewPidNamespace(Fd* pidfd) {
  int fd = -1;
  clone_args args{};
  args.flags = CLONE_NEWPID | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uintptr_t>(&fd);
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid > 0) *pidfd = Fd(fd);
  return static_cast<pid_t>(pid);
}

[[noreturn]] void CaseChild(const Case& c, const RunOptions& options, int launcher, int output,
                            int result, bool own_pid_namespace) {
  PrepareCaseProcess(launcher, output);
  if (own_pid_namespace) QuickExit(RunAndWrite(c, options, result));
  int code = 0;
  try {
    code = RunInOwnPidNamespace([&]() -> int { QuickExit(RunAndWrite(c, options, result)); });
  } catch (const std::exception& e) {
    WriteError(result, e);
  }
  ::_exit(code);
}

}  // namespace nstest
