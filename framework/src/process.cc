#include "nstest/process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/search_path.hpp>
#include <boost/process/start_dir.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "nstest/error.h"
#include "src/pidfd.h"
#include "src/wait_util.h"

namespace bp = boost::process;

namespace nstest {
namespace {

struct Pipe {
  Fd source;
  Fd sink;
};

Pipe MakePipe(const std::string& what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) ThrowErrno(what + ": pipe");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// Appends whatever can be read now; returns false at end of file.
bool Drain(int fd, std::string* out) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN;  // any other error ends the stream as EOF would
  }
}

std::string ResolveCommand(const std::string& cmd, const std::string& what) {
  if (cmd.find('/') != std::string::npos) return cmd;
  boost::filesystem::path found = bp::search_path(cmd);
  if (found.empty()) throw Error(what + ": command not found in PATH");
  return found.string();
}

}  // namespace

struct Process::Impl {
  std::string what;
  pid_t pid = -1;
  Fd pidfd;
  Fd out;
  Fd err;
  Deadline deadline{std::chrono::milliseconds(0)};
  std::chrono::milliseconds timeout{0};
  // Kill() may run on another thread while Wait() reaps; the pidfd stays open until the Impl goes,
  // so a late signal reaches at worst an exited process, never a reused PID.
  std::atomic<bool> reaped{false};
  ProcessResult result;

  void Reap() {
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd.get()), &info,
                    WEXITED) != 0) {
      if (errno != EINTR) ThrowErrno(what + ": wait");
    }
    reaped = true;
    if (info.si_code == CLD_EXITED) {
      result.exit_code = info.si_status;
    } else {
      result.signal = info.si_status;
    }
  }
};

std::string ProcessResult::Describe() const {
  if (timed_out) return fmt::format("timed out after {} ms (killed)", timeout_ms);
  if (signal != 0) return fmt::format("killed by signal {} ({})", signal, ::strsignal(signal));
  return fmt::format("exited with status {}", exit_code);
}

Process::Process(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Kill();
    if (impl_ && !impl_->reaped) {
      try {
        impl_->Reap();
      } catch (const Error&) {
        // Already gone; nothing left to reap.
      }
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Process::~Process() {
  if (!impl_ || impl_->reaped) return;
  Kill();
  try {
    impl_->Reap();
  } catch (const Error&) {
    // Teardown never throws: a child that cannot be waited for is already gone.
  }
}

Process Process::Start(const Netns* ns, ProcessOptions options) {
  auto impl = std::make_unique<Impl>();
  std::string cmd = options.argv.empty() ? "" : options.argv[0];
  impl->what = ns != nullptr ? fmt::format("start process '{}' in netns '{}'", cmd, ns->name())
                             : fmt::format("start process '{}'", cmd);
  if (options.argv.empty()) throw Error(impl->what + ": empty argv");
  std::string exe = ResolveCommand(cmd, impl->what);
  std::vector<std::string> args(options.argv.begin() + 1, options.argv.end());

  // The environment is built here and handed to execve() directly: Boost.Process 1.74's
  // environment lookup reads past the end of entries shorter than the name it looks for.
  std::vector<std::string> env;
  if (options.inherit_environment) {
    for (char** e = ::environ; *e != nullptr; ++e) {
      std::string entry(*e);
      if (options.env.count(entry.substr(0, entry.find('='))) == 0) env.push_back(std::move(entry));
    }
  }
  for (const auto& [k, v] : options.env) env.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  Pipe out, err;
  if (options.output_fd >= 0) {
    // Both streams go to the caller's file; the "read ends" are placeholders Wait() never reads.
    for (Pipe* p : {&out, &err}) {
      p->sink.reset(::fcntl(options.output_fd, F_DUPFD_CLOEXEC, 3));
      p->source.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!p->sink || !p->source) ThrowErrno(impl->what + ": output file");
    }
  } else {
    out = MakePipe(impl->what);
    err = MakePipe(impl->what);
  }
  bp::pipe out_pipe(out.source.release(), out.sink.release());
  bp::pipe err_pipe(err.source.release(), err.sink.release());
  const int ns_fd = ns != nullptr ? ns->fd() : -1;
  const pid_t parent = ::getpid();
  auto setup = [ns_fd, parent, envp = envp.data()](auto& exec) {
    // In the child, between fork and exec: only async-signal-safe calls.
    exec.env = envp;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the owner died before prctl took effect
    if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) {
      exec.set_error(std::error_code(errno, std::system_category()), "setns");
    }
  };
  std::string cwd = options.working_directory.empty() ? "." : options.working_directory;
  bp::child child;
  try {
    child = bp::child(bp::exe = exe, bp::args = args, bp::start_dir = cwd,
                      bp::std_in<bp::null, bp::std_out> out_pipe, bp::std_err > err_pipe,
                      bp::extend::on_exec_setup = setup);
  } catch (const bp::process_error& e) {
    throw SystemError(impl->what + ": " + e.what(), e.code().value());
  }
  impl->pid = child.id();
  // We reap the child ourselves, through a pidfd; Boost must not wait for or kill it.
  child.detach();
  impl->pidfd.reset(PidfdOpen(impl->pid));
  if (!impl->pidfd) {
    int e = errno;
    ::kill(impl->pid, SIGKILL);
    ::waitpid(impl->pid, nullptr, 0);
    ThrowSystemError(impl->what + ": pidfd_open", e);
  }
  impl->out.reset(out_pipe.native_source());
  out_pipe.assign_source(-1);
  impl->err.reset(err_pipe.native_source());
  err_pipe.assign_source(-1);
  if (options.output_fd >= 0) {
    impl->out.reset();
    impl->err.reset();
  }
  for (int fd : {impl->out.get(), impl->err.get()}) {
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  impl->timeout = options.timeout;
  impl->deadline = Deadline(options.timeout);
  return Process(std::move(impl));
}

pid_t Process::pid() const { return impl_->pid; }

bool Process::Running() const {
  if (impl_->reaped) return false;
  pollfd p{impl_->pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

void Process::Kill(int signal) noexcept {
  if (impl_ && !impl_->reaped) PidfdSendSignal(impl_->pidfd.get(), signal);
}

const ProcessResult& Process::Wait() {
  Impl& p = *impl_;
  if (p.reaped) return p.result;
  bool exited = false;
  while (!exited) {
    pollfd fds[3] = {
        {p.pidfd.get(), POLLIN, 0}, {p.out.get(), POLLIN, 0}, {p.err.get(), POLLIN, 0}};
    int n = ::poll(fds, 3, p.deadline.RemainingMs());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowErrno(p.what + ": poll");
    if (n == 0) {
      p.result.timed_out = true;
      p.result.timeout_ms = p.timeout.count();
      Kill(SIGKILL);
      break;
    }
    if (fds[1].revents != 0 && !Drain(p.out.get(), &p.result.stdout_text)) p.out.reset();
    if (fds[2].revents != 0 && !Drain(p.err.get(), &p.result.stderr_text)) p.err.reset();
    exited = fds[0].revents != 0;
  }
  // What the child wrote before exiting is in the pipes; a grandchild still holding them open
  // must not keep us waiting, so take only what is there now.
  if (p.out) Drain(p.out.get(), &p.result.stdout_text);
  if (p.err) Drain(p.err.get(), &p.result.stderr_text);
  p.out.reset();
  p.err.reset();
  p.Reap();
  return p.result;
}

ProcessResult RunProcess(const Netns* ns, ProcessOptions options) {
  Process p = Process::Start(ns, std::move(options));
  return p.Wait();
}

uint64_t RaiseFileLimit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return 0;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) ::getrlimit(RLIMIT_NOFILE, &files);
  }
  return files.rlim_cur;
}

int RunInOwnPidNamespace(const std::function<int()>& body) {
  const std::string what = "run in a new PID namespace";
  if (::unshare(CLONE_NEWPID) != 0) ThrowErrno(what + ": unshare(CLONE_NEWPID)");
  // The child watches this pidfd to learn whether we died before its death signal was set.
  Fd owner(PidfdOpen(::getpid()));
  if (!owner) ThrowErrno(what + ": pidfd_open");
  pid_t pid = ::fork();
  if (pid < 0) ThrowErrno(what + ": fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    pollfd gone{owner.get(), POLLIN, 0};
    if (::poll(&gone, 1, 0) != 0) ::_exit(127);  // the caller died before prctl took effect
    owner.reset();
    std::exit(body());
  }
  owner.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) ThrowErrno(what + ": wait");
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  const int sig = WTERMSIG(status);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(sig);
  return 128 + sig;  // a signal that does not end a process
}

}  // namespace nstest
