// What a case costs: a suite of trivial cases (listen, then expect.listener) through `nstest run`
// against the raw floor of what such a case needs from the kernel (a new process that makes two
// namespaces joined by a veth, both ends and `lo` up, an IPv4 address each, through plain
// netlink), side by side and interleaved in one run. Reports wall time, cases per second and CPU
// per case (user + system of every process below, as wait4() counts it) for -j 1, -j 2 and the
// default -j (auto); the floor runs one and two loops at once, with only the IPv4 addresses and
// with the IPv6 addresses a case's topology also has. Then what the machine charges for
// the parts of a case's process: a bare process (fork, _exit, wait), one that writes 100 pages
// it shares copy-on-write with its parent, one that starts and joins a thread; their "cases" are
// processes.
//
// Usage: nstest_bench_cases [NSTEST[,OTHER_NSTEST...]=build/framework/nstest] [CASES=200]
// [ROUNDS=3] Several nstest binaries (e.g. a build of an older commit) are measured in the same
// rounds. Needs root. The suite is written to a temporary directory and removed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Cost {
  double wall_s = 0;
  double cpu_s = 0;  // user + system of the processes waited for
};

double Seconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

// Runs `work` and measures it: wall time, and the CPU of the children it waited for meanwhile.
Cost MeasureChildren(const std::function<void()>& work) {
  rusage before{};
  ::getrusage(RUSAGE_CHILDREN, &before);
  auto start = Clock::now();
  work();
  Cost c;
  c.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  rusage after{};
  ::getrusage(RUSAGE_CHILDREN, &after);
  c.cpu_s = Seconds(after.ru_utime) + Seconds(after.ru_stime) - Seconds(before.ru_utime) -
            Seconds(before.ru_stime);
  return c;
}

// --- The floor: one case's namespaces through plain netlink, in a new process. ---

// Appends an attribute to the request in `buf`.
void Attr(nlmsghdr* n, uint16_t type, const void* data, size_t len) {
  auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(n) + NLMSG_ALIGN(n->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  if (len > 0) std::memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

rtattr* Nest(nlmsghdr* n, uint16_t type) {
  auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(n) + NLMSG_ALIGN(n->nlmsg_len));
  Attr(n, type, nullptr, 0);
  return rta;
}

void EndNest(nlmsghdr* n, rtattr* nest) {
  nest->rta_len = static_cast<uint16_t>(reinterpret_cast<char*>(n) + n->nlmsg_len -
                                        reinterpret_cast<char*>(nest));
}

// Sends a request and reads its acknowledgement; exits the process on an error.
void Talk(int fd, nlmsghdr* n) {
  n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  char reply[4096];
  if (::send(fd, n, n->nlmsg_len, 0) < 0 || ::recv(fd, reply, sizeof reply, 0) <= 0) ::_exit(2);
  auto* h = reinterpret_cast<nlmsghdr*>(reply);
  if (h->nlmsg_type == NLMSG_ERROR && static_cast<nlmsgerr*>(NLMSG_DATA(h))->error != 0) {
    ::_exit(3);
  }
}

struct Request {
  nlmsghdr n;
  union {
    ifinfomsg link;
    ifaddrmsg addr;
  };
  char attrs[512];
};

void Up(int fd, int ifindex) {
  Request r{};
  r.n.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  r.n.nlmsg_type = RTM_NEWLINK;
  r.link.ifi_index = ifindex;
  r.link.ifi_flags = IFF_UP;
  r.link.ifi_change = IFF_UP;
  Talk(fd, &r.n);
}

// Adds an IPv4 address (4 bytes, a /24) or, as nstest does, an IPv6 one (16 bytes, a /64, no
// duplicate address detection).
void Address(int fd, int ifindex, const void* address, size_t size) {
  Request r{};
  r.n.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  r.n.nlmsg_type = RTM_NEWADDR;
  r.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  r.addr.ifa_family = size == 4 ? AF_INET : AF_INET6;
  r.addr.ifa_prefixlen = size == 4 ? 24 : 64;
  r.addr.ifa_flags = size == 4 ? 0 : IFA_F_NODAD;
  r.addr.ifa_index = static_cast<uint32_t>(ifindex);
  Attr(&r.n, IFA_LOCAL, address, size);
  Attr(&r.n, IFA_ADDRESS, address, size);
  Talk(fd, &r.n);
}

// Makes a namespace; returns its route socket (the thread goes back to `home`).
int NewNamespace(int home, int* ns_fd) {
  if (::unshare(CLONE_NEWNET) != 0) ::_exit(4);
  *ns_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int route = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  Up(route, 1);
  if (::setns(home, CLONE_NEWNET) != 0) ::_exit(5);
  return route;
}

// One case's namespaces; `ipv6` adds the IPv6 addresses a case's topology also has.
[[noreturn]] void FloorCase(bool ipv6) {
  int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int server_ns = -1, client_ns = -1;
  int server = NewNamespace(home, &server_ns);
  int client = NewNamespace(home, &client_ns);
  Request r{};
  r.n.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  r.n.nlmsg_type = RTM_NEWLINK;
  r.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  r.link.ifi_index = 2;
  Attr(&r.n, IFLA_IFNAME, "eth0", 5);
  rtattr* info = Nest(&r.n, IFLA_LINKINFO);
  Attr(&r.n, IFLA_INFO_KIND, "veth", 5);
  rtattr* data = Nest(&r.n, IFLA_INFO_DATA);
  rtattr* peer = Nest(&r.n, VETH_INFO_PEER);
  ifinfomsg peer_link{};
  peer_link.ifi_index = 3;
  std::memcpy(reinterpret_cast<char*>(&r.n) + r.n.nlmsg_len, &peer_link, sizeof peer_link);
  r.n.nlmsg_len += sizeof peer_link;
  Attr(&r.n, IFLA_IFNAME, "eth0", 5);
  Attr(&r.n, IFLA_NET_NS_FD, &client_ns, 4);
  EndNest(&r.n, peer);
  EndNest(&r.n, data);
  EndNest(&r.n, info);
  Talk(server, &r.n);
  Up(server, 2);
  Up(client, 3);
  uint32_t v4[2] = {htonl(0xc6120001), htonl(0xc6120002)};  // 198.18.0.1, .2
  Address(server, 2, &v4[0], 4);
  Address(client, 3, &v4[1], 4);
  if (ipv6) {
    in6_addr v6[2];
    ::inet_pton(AF_INET6, "2001:2:0:0::1", &v6[0]);
    ::inet_pton(AF_INET6, "2001:2:0:0::2", &v6[1]);
    Address(server, 2, &v6[0], 16);
    Address(client, 3, &v6[1], 16);
  }
  ::_exit(0);
}

// Runs `n` floor cases one after the other, `loops` such sequences at once.
Cost Floor(int n, int loops, bool ipv6 = false) {
  return MeasureChildren([&] {
    std::vector<pid_t> sequences;
    for (int l = 0; l < loops; ++l) {
      pid_t seq = ::fork();
      if (seq == 0) {
        for (int i = 0; i < n / loops; ++i) {
          pid_t c = ::fork();
          if (c == 0) FloorCase(ipv6);
          int status = 0;
          ::waitpid(c, &status, 0);
          if (status != 0) ::_exit(1);
        }
        ::_exit(0);
      }
      sequences.push_back(seq);
    }
    for (pid_t s : sequences) {
      int status = 0;
      ::waitpid(s, &status, 0);
      if (status != 0) {
        fmt::print(stderr, "the floor's namespaces could not be made (root needed)\n");
        std::exit(1);
      }
    }
  });
}

// --- What this machine charges for the parts of a case's process, in the same rounds. ---

constexpr size_t kSharedPages = 100;

// Pages this process wrote before it forks: a child's first write to each one copies it.
std::vector<char>& SharedPages() {
  static std::vector<char> pages(kSharedPages * 4096, 1);
  return pages;
}

// Forks `n` children one after the other, each running `in_child` and then _exit.
Cost Processes(int n, const std::function<void()>& in_child) {
  return MeasureChildren([&] {
    for (int i = 0; i < n; ++i) {
      pid_t c = ::fork();
      if (c == 0) {
        in_child();
        ::_exit(0);
      }
      ::waitpid(c, nullptr, 0);
    }
  });
}

void WriteSharedPages() {
  std::vector<char>& pages = SharedPages();
  for (size_t i = 0; i < pages.size(); i += 4096) pages[i] = 2;
}

void StartAndJoinThread() {
  std::thread t([] {});
  t.join();
}

// --- nstest run on the trivial suite. ---

Cost Nstest(const std::string& nstest, const std::string& suite, const std::string& jobs) {
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    if (jobs.empty()) {  // the binary's default
      ::execl(nstest.c_str(), nstest.c_str(), "run", suite.c_str(), "--cost-file", "none",
              static_cast<char*>(nullptr));
    }
    ::execl(nstest.c_str(), nstest.c_str(), "run", suite.c_str(), "-j", jobs.c_str(), "--cost-file",
            "none", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "nstest run {} -j {} failed (status {})\n", suite, jobs, status);
    std::exit(1);
  }
  Cost c;
  c.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  c.cpu_s = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
  return c;
}

std::string WriteSuite(int cases) {
  char dir[] = "/tmp/nstest-bench-cases-XXXXXX";
  if (::mkdtemp(dir) == nullptr) std::exit(1);
  std::string path = std::string(dir) + "/trivial.toml";
  std::ofstream out(path);
  out << "name = \"trivial\"\n";
  for (int i = 0; i < cases; ++i) {
    out << fmt::format(
        "\n[[test]]\nname = \"t{}\"\n  [[test.step]]\n  listen = {{ port = 9000, backlog = 4 }}\n"
        "  [[test.step]]\n  expect.listener = {{ port = 9000, send_q = 4 }}\n",
        i);
  }
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> binaries;
  {
    std::string list = argc > 1 ? argv[1] : "build/framework/nstest";
    for (size_t at = 0; at <= list.size();) {
      size_t comma = std::min(list.find(',', at), list.size());
      if (comma > at) binaries.push_back(list.substr(at, comma - at));
      at = comma + 1;
    }
  }
  int cases = argc > 2 ? std::atoi(argv[2]) : 200;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  if (cases < 2 || rounds < 1) {
    fmt::print(stderr, "usage: nstest_bench_cases [NSTEST] [CASES>=2] [ROUNDS>=1]\n");
    return 2;
  }
  std::string suite = WriteSuite(cases);
  struct Variant {
    std::string name;
    std::function<Cost()> run;
  };
  std::vector<Variant> variants;
  for (const std::string& b : binaries) {
    std::string who = binaries.size() == 1 ? "nstest run" : b + " run";
    for (const char* jobs : {"1", "2", ""}) {
      std::string name = *jobs != '\0' ? fmt::format("{} -j {}", who, jobs) : who + " (default -j)";
      variants.push_back({name, [&, b, jobs] { return Nstest(b, suite, jobs); }});
    }
  }
  variants.push_back({"raw floor, 1 at once", [&] { return Floor(cases, 1); }});
  variants.push_back({"raw floor, 2 at once", [&] { return Floor(cases, 2); }});
  variants.push_back(
      {"raw floor with IPv6 addresses, 1 at once", [&] { return Floor(cases, 1, true); }});
  variants.push_back(
      {"raw floor with IPv6 addresses, 2 at once", [&] { return Floor(cases, 2, true); }});
  SharedPages();
  variants.push_back({"a process: fork, _exit, wait", [&] { return Processes(cases, [] {}); }});
  variants.push_back({fmt::format("a process that writes {} shared pages", kSharedPages),
                      [&] { return Processes(cases, WriteSharedPages); }});
  variants.push_back(
      {"a process that starts a thread", [&] { return Processes(cases, StartAndJoinThread); }});
  std::map<std::string, std::vector<Cost>> costs;
  for (int r = 0; r < rounds; ++r) {
    for (const Variant& v : variants) costs[v.name].push_back(v.run());
  }
  fmt::print("{} trivial cases (listen, then expect.listener), {} rounds interleaved; medians:\n",
             cases, rounds);
  for (const Variant& v : variants) {
    std::vector<Cost> c = costs[v.name];
    std::sort(c.begin(), c.end(), [](const Cost& a, const Cost& b) { return a.wall_s < b.wall_s; });
    const Cost& m = c[c.size() / 2];
    fmt::print("  {:<46} wall {:6.2f} s  {:6.0f} cases/s  CPU {:5.2f} ms a case\n", v.name,
               m.wall_s, cases / m.wall_s, m.cpu_s * 1000 / cases);
  }
  ::unlink(suite.c_str());
  ::rmdir(suite.substr(0, suite.rfind('/')).c_str());
  return 0;
}
