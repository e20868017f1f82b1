#include "runner/launcher.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "nstest/error.h"
#include "nstest/process.h"
#include "runner/case_process.h"
#include "src/loaded_libs.h"
#include "src/pidfd.h"

namespace nstest {
namespace {

// The part of a crashed or hung case's output shown in its log.
constexpr size_t kOutputInLog = 64 * 1024;

// --- Messages on the launcher's sockets (SOCK_SEQPACKET: one message, one record). ---

// Runner -> launcher: run plan case `index`; carries the reply socket, the file for the child's
// stdout and stderr, and the file for its result.
struct Request {
  uint64_t index = 0;
};
constexpr size_t kRequestFds = 3;

// Launcher -> supervisor thread, on the request's reply socket.
struct Reply {
  enum Kind : int32_t { kStarted = 1, kExited = 2 };
  int32_t kind = 0;
  // kStarted: the child's PID (its pidfd rides along), or -errno when it could not be forked;
  // kExited: its wait status.
  int32_t value = 0;
};

std::pair<Fd, Fd> SocketPair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowErrno("case launcher: socketpair");
  }
  return {Fd(sv[0]), Fd(sv[1])};
}

Fd MemoryFile(const char* name) {
  Fd f(::memfd_create(name, MFD_CLOEXEC));
  if (!f) ThrowErrno(fmt::format("case launcher: memfd_create({})", name));
  return f;
}

// Sends one message with `fds` attached; false if the peer is gone.
bool Send(int sock, const void* data, size_t size, const int* fds, size_t nfds) {
  iovec iov{const_cast<void*>(data), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kRequestFds)] = {};
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(size);
}

// Receives one message of exactly `size` bytes and the descriptors attached (owned by `fds`).
// Returns false at end of stream or on a malformed message.
bool Receive(int sock, void* data, size_t size, std::vector<Fd>* fds) {
  iovec iov{data, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kRequestFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fds != nullptr) {
        fds->emplace_back(fd);
      } else {
        ::close(fd);
      }
    }
  }
  return n == static_cast<ssize_t>(size) && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0;
}

// --- The launcher process and the case children it forks. ---

// Whether the launcher's loop runs on a thread of its own (see LauncherMain).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kLoopOnThread = false;
#else
constexpr bool kLoopOnThread = true;
#endif

struct Running {
  pid_t pid = -1;
  Fd pidfd;
  Fd reply;
};

// Starts the case's process for one request and replies with its PID and pidfd.
void Start(const Plan& plan, const RunOptions& options, int control, int self,
           std::vector<Running>* running, const Request& req, std::vector<Fd> fds) {
  Fd& reply = fds[0];
  static bool clone3_works = true;
  Fd pidfd;
  pid_t pid = clone3_works ? ForkIntoNewPidNamespace(&pidfd) : -1;
  if (pid < 0 && errno == ENOSYS) clone3_works = false;
  const bool own_pid_namespace = clone3_works;
  if (!clone3_works) pid = ::fork();
  if (pid == 0) {
    ::close(control);
    for (Running& r : *running) {
      ::close(r.pidfd.release());
      ::close(r.reply.release());
    }
    ::close(reply.release());
    CaseChild(plan.cases[req.index], options, self, fds[1].get(), fds[2].get(), own_pid_namespace);
  }
  if (pid > 0 && !pidfd) pidfd = Fd(PidfdOpen(pid));
  Reply started{Reply::kStarted, pid > 0 ? pid : -errno};
  if (pid > 0 && !pidfd) {
    started.value = -errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  int pfd = pidfd.get();
  Send(reply.get(), &started, sizeof started, &pfd, started.value > 0 ? 1 : 0);
  if (started.value > 0) running->push_back(Running{pid, std::move(pidfd), std::move(reply)});
}

// The launcher's loop: starts a child per request, reports each child's end. Exits the process
// when the runner closes its end of `control` (or dies: the death signal).
[[noreturn]] void LauncherLoop(int control, const Plan& plan, const RunOptions& options, int self) {
  std::vector<Running> running;
  std::vector<pollfd> fds;
  for (;;) {
    fds.assign(1, pollfd{control, POLLIN, 0});
    for (const Running& r : running) fds.push_back(pollfd{r.pidfd.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    for (size_t k = running.size(); k-- > 0;) {
      if (fds[k + 1].revents == 0) continue;
      int status = 0;
      while (::waitpid(running[k].pid, &status, 0) < 0 && errno == EINTR) {
      }
      Reply exited{Reply::kExited, status};
      Send(running[k].reply.get(), &exited, sizeof exited, nullptr, 0);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
    }
    if (fds[0].revents == 0) continue;
    Request req;
    std::vector<Fd> got;
    if (!Receive(control, &req, sizeof req, &got)) {
      if ((fds[0].revents & POLLIN) == 0 || got.empty()) ::_exit(0);  // the runner is done
      continue;
    }
    if (got.size() == kRequestFds && req.index < plan.cases.size()) {
      Start(plan, options, control, self, &running, req, std::move(got));
    }
  }
}

// The launcher process: sets itself up, then runs its loop.
[[noreturn]] void LauncherMain(int control, const Plan& plan, const RunOptions& options,
                               pid_t runner) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != runner) ::_exit(0);
  ::prctl(PR_SET_NAME, "nstest-launcher");
  ::signal(SIGINT, SIG_IGN);  // a terminal's Ctrl-C is the runner's to handle
  // Each case's process watches it to learn whether the launcher died before its death signal
  // was set.
  Fd self(PidfdOpen(::getpid()));
  if (!self) ::_exit(1);
  // The loop runs on a thread of its own, so every case's process is forked from that thread and
  // allocates from its malloc arena, which holds only the loop's few objects: a case's
  // allocations land on fresh pages, packed together. The main thread's arena has the free
  // chunks that loading the plan left scattered over pages a case's process shares with the
  // launcher, and a case's first write to each of them copies the page: most of a case's page
  // faults, before. A thread in each case's process did the same at a price of its own (0.8 ms
  // a case here). A case's death signal follows the thread that forked it (prctl(2)); this one
  // ends only with the process. Sanitizer builds keep the loop on the main thread: their leak
  // check at a case's exit sees only the threads the case's process has, and the objects only
  // the main thread's stack points to would look leaked.
  // The supervisor checked whether each case can run here, once for all cases; the cases'
  // processes read these options where they are.
  RunOptions checked = options;
  checked.skip_checked = true;
  NeededLibraries needed = LibrariesFor(plan);
  PreloadLibraries(needed.pcap, needed.filters, needed.queues);
  if (kLoopOnThread) {
    try {
      std::thread loop([&] { LauncherLoop(control, plan, checked, self.get()); });
      loop.join();  // never returns: the loop ends the process
    } catch (const std::system_error&) {
      // No thread to be had (a process limit): the same loop, the cases only slower.
    }
  }
  LauncherLoop(control, plan, checked, self.get());
}

}  // namespace

NeededLibraries LibrariesFor(const Plan& plan) {
  NeededLibraries needed;
  const TestSpec* last = nullptr;
  for (const Case& c : plan.cases) {
    if (c.test == last) continue;  // a matrix's cases follow one another unless shuffled
    last = c.test;
    for (const Step& step : c.test->steps) {
      bool holds = std::holds_alternative<HoldStep>(step.action);
      needed.pcap |= std::holds_alternative<CaptureStep>(step.action);
      needed.filters |= holds || std::holds_alternative<DropStep>(step.action);
      needed.queues |= holds;
    }
  }
  return needed;
}

ForkLauncher::ForkLauncher(const Plan& plan, const RunOptions& options) : plan_(plan) {
  auto [mine, theirs] = SocketPair();
  const pid_t runner = ::getpid();
  std::fflush(nullptr);  // nothing buffered may be written twice
  pid_ = ::fork();
  if (pid_ < 0) ThrowErrno("start the case launcher: fork");
  if (pid_ == 0) {
    mine.reset();
    LauncherMain(theirs.get(), plan, options, runner);
  }
  control_ = std::move(mine);
}

ForkLauncher::~ForkLauncher() {
  control_.reset();
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::string ForkLauncher::LauncherGone(const std::string& when) const {
  siginfo_t info{};
  std::string how;
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
      info.si_pid == pid_) {
    how = info.si_code == CLD_EXITED ? fmt::format(" (exited with status {})", info.si_status)
                                     : fmt::format(" (killed by signal {}, {})", info.si_status,
                                                   ::sigdescr_np(info.si_status));
  }
  return fmt::format("the case launcher (pid {}) ended{} {}", pid_, how, when);
}

void ForkLauncher::Register(int pidfd) {
  std::lock_guard<std::mutex> lock(mu_);
  running_.insert(pidfd);
  if (killing_) PidfdSendSignal(pidfd, SIGKILL);
}

void ForkLauncher::Unregister(int pidfd) {
  std::lock_guard<std::mutex> lock(mu_);
  running_.erase(pidfd);
}

void ForkLauncher::KillAll() {
  std::lock_guard<std::mutex> lock(mu_);
  killing_ = true;
  for (int pidfd : running_) PidfdSendSignal(pidfd, SIGKILL);
}

CaseResult ForkLauncher::Run(size_t index) {
  const Case& c = plan_.cases[index];
  CaseResult r;
  if (std::string why = CaseSkipReason(c); !why.empty()) {
    r.status = CaseStatus::kSkipped;  // the machine cannot run it: no child at all
    r.message = why;
    return r;
  }
  const double timeout_s = c.test->timeout_s;
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  try {
    auto [mine, theirs] = SocketPair();
    Fd output = MemoryFile("nstest-case-output");
    Fd result = MemoryFile("nstest-case-result");
    Fd pidfd = Launch(index, std::move(theirs), output.get(), result.get(), mine.get());
    Register(pidfd.get());
    struct Unregister {  // out of the set before the pidfd closes, however this ends
      ForkLauncher* launcher;
      int pidfd;
      ~Unregister() { launcher->Unregister(pidfd); }
    } unregister{this, pidfd.get()};
    ProcessResult p = AwaitExit(mine.get(), pidfd.get(), deadline);
    p.stderr_text = ReadTail(output.get(), 0, kOutputInLog);
    r = DecodeResult(p, ReadTail(result.get(), 0, SIZE_MAX), timeout_s);
  } catch (const Error& e) {
    r.status = CaseStatus::kError;
    r.message = e.what();
  }
  return r;
}

Fd ForkLauncher::Launch(size_t index, Fd theirs, int output, int result, int reply) {
  Request req{index};
  int fds[kRequestFds] = {theirs.get(), output, result};
  if (!Send(control_.get(), &req, sizeof req, fds, kRequestFds)) {
    throw Error(LauncherGone("before this case: no case can start any more"));
  }
  theirs.reset();  // the launcher holds it now; its end of the reply socket closes with it
  Reply started;
  std::vector<Fd> pidfds;
  if (!Receive(reply, &started, sizeof started, &pidfds) || started.kind != Reply::kStarted) {
    throw Error(LauncherGone("before it started the case"));
  }
  if (started.value < 0 || pidfds.size() != 1) {
    throw Error(fmt::format("start the case's process: {}", std::strerror(-started.value)));
  }
  return std::move(pidfds[0]);
}

ProcessResult ForkLauncher::AwaitExit(int reply, int pidfd, Clock::time_point deadline) {
  ProcessResult p;
  pollfd done{reply, POLLIN, 0};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int n = ::poll(&done, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n > 0 || (n < 0 && errno != EINTR)) break;
    if (n == 0) {
      PidfdSendSignal(pidfd, SIGKILL);
      p.timed_out = true;
      break;
    }
  }
  Reply exited;
  if (!Receive(reply, &exited, sizeof exited, nullptr) || exited.kind != Reply::kExited) {
    PidfdSendSignal(pidfd, SIGKILL);
    throw Error(LauncherGone("while the case ran"));
  }
  if (WIFEXITED(exited.value)) p.exit_code = WEXITSTATUS(exited.value);
  if (WIFSIGNALED(exited.value)) p.signal = WTERMSIG(exited.value);
  return p;
}

}  // namespace nstest
