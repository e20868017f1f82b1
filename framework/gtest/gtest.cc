#include "nstest/gtest.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <functional>

#include "nstest/error.h"
#include "nstest/userns.h"
#include "nstest/wait.h"

namespace nstest {
namespace {

std::string ArtifactDir() {
  for (const char* var : {"NSTEST_ARTIFACTS_DIR", "TEST_UNDECLARED_OUTPUTS_DIR"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  }
  return "nstest-artifacts";
}

// Rootless: the first fixture of the process enters a user namespace of its own, as `nstest run`
// does; why that failed (empty: it did not, or was not needed) is every test's skip reason.
const std::string& RootlessFailure() {
  static const std::string failure = []() -> std::string {
    if (!NeedsOwnUserNamespace()) return "";
    try {
      EnterOwnUserNamespace();
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }();
  return failure;
}

}  // namespace

NetnsTest::NetnsTest() = default;
NetnsTest::~NetnsTest() = default;

void NetnsTest::SetUp() {
  if (const std::string& why = RootlessFailure(); !why.empty()) {
    GTEST_SKIP() << "not privileged, and cannot become root in a user namespace of its own: "
                 << why;
  }
  const PreflightReport& preflight = CachedPreflight();
  if (std::string why = preflight.NamespaceSkipReason(); !why.empty()) GTEST_SKIP() << why;
  RecordProperty("kernel_release", preflight.kernel_release);
  scenario_ = std::make_unique<Scenario>(Topology());
  ResetCounters();
}

void NetnsTest::TearDown() {
  if (!scenario_) return;
  for (const auto& [k, v] : scenario_->Properties()) RecordProperty(k, v);
  if (HasFailure()) {
    std::string context = Context();
    std::cout << context << std::flush;
    RecordProperty("nstest_context", context);
  }
  pair_.reset();
  scenario_.reset();  // what lives in the namespaces first, then the namespaces
}

PairTopology& NetnsTest::topology() {
  if (!pair_) {
    PairTopologyOptions o = TopologyOptions();
    pair_.emplace(PairTopology::Of(*scenario_, o.server_name, o.client_name));
  }
  return *pair_;
}

void NetnsTest::SetSysctl(Netns& ns, const std::string& key, const std::string& value) {
  nstest::SetSysctl(ns, key, value);
  RecordProperty(fmt::format("sysctl.{}.{}", ns.name(), SysctlDisplayKey(key)), value);
}

long NetnsTest::SysctlNumber(const Netns& ns, const std::string& key) const {
  std::string v = GetSysctl(ns, key);
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0') {
    throw Error(
        fmt::format("read sysctl '{}' in netns '{}': '{}' is not a number", key, ns.name(), v));
  }
  return n;
}

Listener& NetnsTest::Listen(ListenerOptions options) {
  return Listen(TopologyOptions().server_name, options);
}

Listener& NetnsTest::Listen(const std::string& name, ListenerOptions options) {
  if (options.address == IpAddress()) options.address = scenario_->AddressOf(name);
  return scenario_->Listen(name, options);
}

Listener& NetnsTest::Listen(uint16_t port, int backlog, AcceptPolicy accept, Family family) {
  ListenerOptions o;
  if (family == Family::kIPv6) o.address = scenario_->Address6Of(TopologyOptions().server_name);
  o.port = port;
  o.backlog = backlog;
  o.accept = accept;
  return Listen(o);
}

Connections NetnsTest::ConnectToServer(uint16_t port, int count, ConnectMode mode,
                                       std::chrono::milliseconds deadline, Family family) {
  ConnectOptions o;
  if (family == Family::kIPv6) o.address = scenario_->Address6Of(TopologyOptions().server_name);
  o.port = port;
  o.count = count;
  o.mode = mode;
  o.deadline = deadline;
  return Connect(o);
}

Connections NetnsTest::Connect(ConnectOptions options) {
  PairTopologyOptions t = TopologyOptions();
  return Connect(t.client_name, t.server_name, options);
}

Connections NetnsTest::Connect(const std::string& from, const std::string& to,
                               ConnectOptions options) {
  if (options.address == IpAddress()) options.address = scenario_->AddressOf(to);
  return nstest::Connect(ns(from), options);
}

namespace {

constexpr char kPickListener[] =
    "pass a ListenerSelector (address, family, index within a SO_REUSEPORT group), or take them "
    "together with ListenerGroup()";

}  // namespace

ListenerQueues NetnsTest::ServerListener(uint16_t port, const ListenerSelector& which) {
  return ListenerIn(server().name(), port, which);
}

ListenerQueues NetnsTest::ListenerIn(const std::string& name, uint16_t port,
                                     const ListenerSelector& which) {
  return scenario_->ListenerOn(name, port, which, kPickListener);
}

std::vector<ListenerQueues> NetnsTest::ListenersIn(const std::string& name, uint16_t port,
                                                   const ListenerSelector& which) {
  return FilterListeners(scenario_->ListenersOn(name, port), which);
}

ListenerQueues NetnsTest::ListenerGroup(const std::string& name, uint16_t port,
                                        const ListenerSelector& which) {
  return SumListeners(ListenersIn(name, port, which));
}

namespace {

// Records `message` as a non-fatal gtest failure at `where`.
void FailAt(const std::source_location& where, const std::string& message) {
  GTEST_MESSAGE_AT_(where.file_name(), static_cast<int>(where.line()), message.c_str(),
                    ::testing::TestPartResult::kNonFatalFailure);
}

// Runs a wait and turns its TimeoutError, or any other Error that ends it (a dead server, an
// ambiguous listener), into a gtest failure at the caller's line.
bool WaitAt(const std::source_location& where, const std::function<void()>& wait) {
  try {
    wait();
    return true;
  } catch (const Error& e) {
    FailAt(where, e.what());
    return false;
  }
}

// A QueueWait: how the message words it, and the comparison.
struct QueueComparison {
  const char* words;
  bool (*holds)(uint32_t got, uint32_t n);
};

QueueComparison ComparisonOf(QueueWait how) {
  switch (how) {
    case QueueWait::kAtLeast:
      return {"reach", [](uint32_t got, uint32_t n) { return got >= n; }};
    case QueueWait::kExactly:
      return {"be exactly", [](uint32_t got, uint32_t n) { return got == n; }};
    case QueueWait::kAtMost:
      return {"be at most", [](uint32_t got, uint32_t n) { return got <= n; }};
  }
  throw Error("wait for accept queue: unknown QueueWait");
}

}  // namespace

bool NetnsTest::WaitForAcceptQueue(uint16_t port, uint32_t n, std::chrono::milliseconds timeout,
                                   std::source_location where) {
  return WaitForAcceptQueue(server(), port, ListenerSelector{}, n, QueueWait::kAtLeast, timeout,
                            where);
}

bool NetnsTest::WaitForAcceptQueue(uint16_t port, uint32_t n, QueueWait how,
                                   std::chrono::milliseconds timeout, std::source_location where) {
  return WaitForAcceptQueue(server(), port, ListenerSelector{}, n, how, timeout, where);
}

bool NetnsTest::WaitForAcceptQueue(const Netns& ns, uint16_t port, const ListenerSelector& which,
                                   uint32_t n, QueueWait how, std::chrono::milliseconds timeout,
                                   std::source_location where) {
  QueueComparison compare = ComparisonOf(how);
  std::string in =
      ns.name() == TopologyOptions().server_name ? "" : fmt::format(" in netns '{}'", ns.name());
  std::string last;
  // As a suite's wait.accept_queue (suite/steps/wait.cc): waits for the listener to exist, fails
  // at once on a dead server or on several selected listeners.
  auto done = [&] {
    std::vector<ListenerQueues> all = scenario_->ListenersOn(ns.name(), port);
    if (FilterListeners(all, which).empty()) {
      last = fmt::format("no listener on port {} yet", port);
      if (std::string died = scenario_->Died(); !died.empty()) {
        throw Error("a started process ended: " + died);
      }
      return false;
    }
    ListenerQueues q = SelectListener(
        all, which, fmt::format("read listener on port {} in netns '{}'", port, ns.name()),
        kPickListener);
    last = q.ToString();
    return compare.holds(q.accept_queue, n);
  };
  return WaitAt(where, [&] {
    nstest::WaitUntil(fmt::format("accept queue of port {}{} to {} {}", port, in, compare.words, n),
                      timeout, done, [&] { return last; });
  });
}

bool NetnsTest::WaitForSockets(const Netns& ns, TcpState state, int n,
                               std::chrono::milliseconds timeout, std::source_location where) {
  SockDiag diag(ns);
  return WaitAt(where, [&] {
    nstest::WaitUntil(
        fmt::format("{} sockets in {} in netns '{}'", n, TcpStateName(state), ns.name()), timeout,
        [&] { return diag.CountByState()[state] == n; },
        [&] { return fmt::format("{}", diag.CountByState()[state]); });
  });
}

Process& NetnsTest::StartServer(const std::string& name, std::vector<std::string> argv,
                                const ServerOptions& options) {
  return StartServer(name, server(), std::move(argv), options);
}

Process& NetnsTest::StartServer(const std::string& name, const Netns& ns,
                                std::vector<std::string> argv, const ServerOptions& options) {
  ProcessOptions po;
  po.argv = std::move(argv);
  po.env = options.env;
  return scenario_->Start(name, ns.name(), po, options.stop_signal, options.grace);
}

const ProcessResult& NetnsTest::StopServer(const std::string& name, int signal) {
  return scenario_->Stop(name, signal);
}

bool NetnsTest::WaitForListening(uint16_t port, size_t count, std::chrono::milliseconds timeout,
                                 std::source_location where) {
  return WaitForListening(server(), port, count, timeout, where);
}

bool NetnsTest::WaitForListening(const Netns& ns, uint16_t port, size_t count,
                                 std::chrono::milliseconds timeout, std::source_location where) {
  return WaitForListening(ns, port, ListenerSelector{}, count, timeout, where);
}

bool NetnsTest::WaitForListening(const Netns& ns, uint16_t port, const ListenerSelector& which,
                                 size_t count, std::chrono::milliseconds timeout,
                                 std::source_location where) {
  std::string last;
  return WaitAt(where, [&] {
    nstest::WaitUntil(
        fmt::format("{} listening on port {} in netns '{}'", count, port, ns.name()), timeout,
        [&] {
          if (std::string died = scenario_->Died(); !died.empty()) {
            throw Error("a started process ended: " + died);
          }
          size_t n = FilterListeners(scenario_->ListenersOn(ns.name(), port), which).size();
          last = fmt::format("{} listening", n);
          return n >= count;
        },
        [&] { return last; });
  });
}

CounterDelta NetnsTest::CounterChanges(const Netns& ns) const {
  return scenario_->CounterChanges(ns.name());
}

void NetnsTest::ResetCounters() { scenario_->ResetCounters(); }

bool NetnsTest::WaitForCounter(const Netns& ns, const std::string& counter, int64_t delta,
                               std::chrono::milliseconds timeout, std::source_location where) {
  return WaitAt(where, [&] {
    nstest::WaitUntil(
        fmt::format("{} in netns '{}' to grow by {}", counter, ns.name(), delta), timeout,
        [&] { return CounterChanges(ns).Get(counter) >= delta; },
        [&] { return CounterChanges(ns).ToString(); });
  });
}

bool NetnsTest::WaitUntil(const std::string& what, std::chrono::milliseconds timeout,
                          const std::function<bool()>& condition,
                          const std::function<std::string()>& seen, std::source_location where) {
  return WaitAt(where, [&] { nstest::WaitUntil(what, timeout, condition, seen); });
}

bool NetnsTest::WaitHeld(const PacketHold& hold, size_t n, std::chrono::milliseconds timeout,
                         std::source_location where) {
  return WaitAt(where, [&] { hold.WaitHeld(n, timeout); });
}

Capture& NetnsTest::StartCapture(const Netns& ns, const std::string& filter) {
  return StartCapture(ns, CaptureOptions{.filter = filter});
}

Capture& NetnsTest::StartCapture(const Netns& ns, const CaptureOptions& options) {
  return scenario_->StartCapture(fmt::format("{}-{}", ns.name(), captures_++), ns.name(), "",
                                 options);
}

PacketFilter& NetnsTest::Filter(const Netns& ns) { return scenario_->Filter(ns.name()); }

std::string NetnsTest::Context() {
  std::string out = "nstest context:\n";
  if (!scenario_) return out + "(no namespaces)\n";
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string prefix =
      info != nullptr ? fmt::format("{}.{}", info->test_suite_name(), info->name()) : "test";
  out += scenario_->Context();
  out += scenario_->Processes();
  out += scenario_->WriteArtifacts(ArtifactDir(), prefix);
  return out;
}

void PrintTo(const ListenerQueues& q, std::ostream* os) { *os << q.ToString(); }
void PrintTo(const CounterDelta& d, std::ostream* os) {
  *os << "counter changes in netns '" << d.netns_name() << "': " << d.ToString();
}
void PrintTo(const Connections& c, std::ostream* os) { *os << c.Summary(); }
void PrintTo(const Capture& c, std::ostream* os) {
  *os << c.description() << " (" << c.Packets().size() << " packets)";
}
void PrintTo(ConnectResult r, std::ostream* os) { *os << ConnectResultName(r); }

std::chrono::milliseconds TimerWheelSlack(std::chrono::milliseconds timeout, int hz) {
  int64_t jiffies = (timeout.count() * hz + 999) / 1000;
  int64_t granularity = 1;  // 8^level jiffies; level L holds timeouts below 64 * 8^L
  while (jiffies >= 64 * granularity && granularity < (int64_t{1} << 24)) granularity *= 8;
  return std::chrono::milliseconds((granularity * 1000 + hz - 1) / hz);
}

int KernelHz() {
  static const int hz = [] {
    gzFile f = gzopen("/proc/config.gz", "rb");
    if (f == nullptr) return 100;
    char line[512];
    int found = 100;
    while (gzgets(f, line, sizeof line) != nullptr) {
      if (std::strncmp(line, "CONFIG_HZ=", 10) == 0) {
        found = std::atoi(line + 10);
        break;
      }
    }
    gzclose(f);
    return found > 0 ? found : 100;
  }();
  return hz;
}

}  // namespace nstest
