#include "nstest/impair.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <mutex>
#include <thread>

#include "nstest/error.h"
#include "nstest/names.h"
#include "nstest/wait.h"
#include "src/loaded_libs.h"
#include "src/nft_compat.h"
#include "src/strings.h"

namespace nstest {
namespace {

constexpr char kTable[] = "inet nstest";

const char* ChainOf(Hook hook) { return hook == Hook::kInput ? "input" : "output"; }

std::string FlagList(uint8_t bits) {
  static constexpr std::pair<uint8_t, const char*> kNames[] = {{tcp_flags::kFin, "fin"},
                                                               {tcp_flags::kSyn, "syn"},
                                                               {tcp_flags::kRst, "rst"},
                                                               {tcp_flags::kPsh, "psh"},
                                                               {tcp_flags::kAck, "ack"},
                                                               {0x20, "urg"},
                                                               {0x40, "ecn"},
                                                               {0x80, "cwr"}};
  std::vector<std::string> names;
  for (const auto& [bit, name] : kNames) {
    if ((bits & bit) != 0) names.emplace_back(name);
  }
  std::string joined;
  for (size_t i = 0; i < names.size(); ++i) joined += (i == 0 ? "" : " | ") + names[i];
  return names.size() == 1 ? joined : "(" + joined + ")";
}

}  // namespace

const NameTable<Hook>& Hooks() {
  static const NameTable<Hook> names = {{Hook::kOutput, "output"}, {Hook::kInput, "input"}};
  return names;
}

const char* HookName(Hook hook) { return Hooks().Name(hook); }

TcpMatch TcpMatch::HandshakeAck(uint16_t dport) {
  TcpMatch m;
  m.hook = Hook::kOutput;
  TcpFlagBits bits = FlagBitsOf(TcpFlagPattern::kHandshakeAck);
  m.flags_mask = bits.mask;
  m.flags_value = bits.value;
  m.dport = dport;
  return m;
}

TcpMatch TcpMatch::SynAck(uint16_t sport) {
  TcpMatch m;
  m.hook = Hook::kOutput;
  TcpFlagBits bits = FlagBitsOf(TcpFlagPattern::kSynAck);
  m.flags_mask = bits.mask;
  m.flags_value = bits.value;
  m.sport_min = sport;
  m.sport_max = sport;
  return m;
}

std::string TcpMatch::Expression() const {
  std::string e = "meta l4proto tcp";
  if (dport != 0) e += fmt::format(" tcp dport {}", dport);
  if (sport_min != 0 || sport_max != 0) {
    e += sport_min == sport_max ? fmt::format(" tcp sport {}", sport_min)
                                : fmt::format(" tcp sport {}-{}", sport_min, sport_max);
  }
  if (flags_mask != 0) {
    e += fmt::format(" tcp flags & {} == {}", FlagList(flags_mask),
                     flags_value == 0 ? "0x0" : FlagList(flags_value));
  }
  return e;
}

struct PacketFilter::Ctx {
  const NftablesLib& lib = Nftables();  // throws when libnftables cannot be loaded
  nft_ctx* nft = nullptr;
  ~Ctx() {
    if (nft != nullptr) lib.ctx_free(nft);
  }
};

PacketFilter::PacketFilter(const Netns& ns) : ns_(ns), ctx_(std::make_unique<Ctx>()) {
  {
    NetnsGuard guard(ns_);
    ctx_->nft = ctx_->lib.ctx_new(NFT_CTX_DEFAULT);
  }
  if (ctx_->nft == nullptr)
    throw Error(fmt::format("create nftables context in netns '{}'", ns.name()));
  ctx_->lib.ctx_buffer_output(ctx_->nft);
  ctx_->lib.ctx_buffer_error(ctx_->nft);
  Run(fmt::format("add table {t}\n"
                  "add chain {t} input {{ type filter hook input priority 0; policy accept; }}\n"
                  "add chain {t} output {{ type filter hook output priority 0; policy accept; }}\n",
                  fmt::arg("t", kTable)),
      "create table 'inet nstest'");
}

PacketFilter::~PacketFilter() {
  try {
    Run(fmt::format("delete table {}\n", kTable), "delete table 'inet nstest'");
  } catch (const Error&) {
    // Teardown never throws; the table dies with the namespace anyway.
  }
}

void PacketFilter::Run(const std::string& commands, const std::string& what) const {
  NetnsGuard guard(ns_);  // libnftables opens its netlink socket in the calling thread's netns
  if (ctx_->lib.run_cmd_from_buffer(ctx_->nft, commands.c_str()) != 0) {
    std::string why = NormalizeSpaces(ctx_->lib.ctx_get_error_buffer(ctx_->nft));
    throw Error(fmt::format("{} in netns '{}': {}", what, ns_.name(), why));
  }
}

void PacketFilter::Install(const std::string& what) {
  std::string cmds =
      fmt::format("flush chain {t} input\nflush chain {t} output\n", fmt::arg("t", kTable));
  for (const Rule& r : rules_) {
    cmds += fmt::format("add rule {} {} {}\n", kTable, ChainOf(r.hook), r.text);
  }
  Run(cmds, what);
}

int PacketFilter::Drop(const TcpMatch& match) {
  rules_.push_back(Rule{next_id_, match.hook, match.Expression() + " drop"});
  try {
    Install(fmt::format("add rule '{} drop'", match.Expression()));
  } catch (...) {
    rules_.pop_back();
    throw;
  }
  return next_id_++;
}

int PacketFilter::Queue(const TcpMatch& match, uint16_t queue) {
  std::string text = fmt::format("{} queue num {}", match.Expression(), queue);
  if (NativeQueue()) {
    rules_.push_back(Rule{next_id_, match.hook, text});
    try {
      Install(fmt::format("add rule '{}'", text));
      return next_id_++;
    } catch (const Error&) {
      rules_.pop_back();
      if (NativeQueue()) throw;  // a failure for another reason than the missing expression
    }
  }
  // No native `queue` here: jump to a chain whose only rule is the xtables NFQUEUE target.
  std::string chain = fmt::format("queue{}", queue);
  Run(fmt::format("add chain {} {}\nflush chain {} {}\n", kTable, chain, kTable, chain),
      fmt::format("add chain '{}'", chain));
  AddCompatQueueRule(ns_, "nstest", chain, queue);
  text = fmt::format("{} jump {}", match.Expression(), chain);
  rules_.push_back(Rule{next_id_, match.hook, text});
  try {
    Install(fmt::format("add rule '{}'", text));
  } catch (...) {
    rules_.pop_back();
    throw;
  }
  return next_id_++;
}

bool PacketFilter::NativeQueue() const {
  // Whether the kernel has nftables' `queue` expression (CONFIG_NFT_QUEUE) is a property of the
  // kernel, probed once per process in this filter's namespace.
  static const bool native = [this] {
    try {
      Run(fmt::format("add chain {t} probe_queue\nadd rule {t} probe_queue queue num 65535 bypass\n"
                      "delete chain {t} probe_queue\n",
                      fmt::arg("t", kTable)),
          "probe nftables queue");
      return true;
    } catch (const Error&) {
      return false;
    }
  }();
  return native;
}

void PacketFilter::RemoveRule(int id) {
  std::erase_if(rules_, [id](const Rule& r) { return r.id == id; });
  Install(fmt::format("remove rule {}", id));
}

std::string PacketFilter::Ruleset() const {
  Run(fmt::format("list table {}\n", kTable), "list table 'inet nstest'");
  return ctx_->lib.ctx_get_output_buffer(ctx_->nft);
}

struct PacketHold::State {
  PacketFilter* filter = nullptr;
  std::string what;
  int rule = 0;
  const NfqueueLib& lib = Nfqueue();  // throws when libnetfilter_queue cannot be loaded
  nfq_handle* h = nullptr;
  nfq_q_handle* qh = nullptr;
  Fd stop;
  std::thread thread;
  mutable std::mutex mu;
  std::deque<uint32_t> held;
  size_t seen = 0;

  static int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
    auto* s = static_cast<State*>(data);
    nfqnl_msg_packet_hdr* ph = s->lib.get_msg_packet_hdr(nfa);
    if (ph != nullptr) {
      s->held.push_back(ntohl(ph->packet_id));  // called with mu held
      ++s->seen;
    }
    return 0;
  }

  void Loop() {
    int fd = lib.fd(h);
    alignas(8) char buf[65536];
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) continue;  // EAGAIN, or ENOBUFS when the kernel dropped queued messages
      std::lock_guard<std::mutex> lock(mu);
      lib.handle_packet(h, buf, static_cast<int>(n));
    }
  }

  size_t Verdict(size_t n, uint32_t verdict) {
    std::lock_guard<std::mutex> lock(mu);
    size_t done = 0;
    while (done < n && !held.empty()) {
      lib.set_verdict(qh, held.front(), verdict, 0, nullptr);
      held.pop_front();
      ++done;
    }
    return done;
  }
};

PacketHold::PacketHold(PacketFilter& filter, const TcpMatch& match, uint16_t queue)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.filter = &filter;
  s.what = fmt::format("hold packets '{}' on NFQUEUE {} in netns '{}'", match.Expression(), queue,
                       filter.netns().name());
  {
    NetnsGuard guard(filter.netns());  // the queue's netlink socket belongs to this namespace
    s.h = s.lib.open();
  }
  if (s.h == nullptr) ThrowErrno(s.what + ": open nfnetlink_queue");
  s.qh = s.lib.create_queue(s.h, queue, &State::OnPacket, &s);
  if (s.qh == nullptr) {
    int err = errno;
    s.lib.close(s.h);
    ThrowSystemError(s.what + ": bind queue (no nfnetlink_queue, or the number is in use)", err);
  }
  s.lib.set_mode(s.qh, NFQNL_COPY_META, 0);
  s.stop.reset(::eventfd(0, EFD_CLOEXEC));
  s.thread = std::thread([&s] { s.Loop(); });
  try {
    s.rule = filter.Queue(match, queue);
  } catch (...) {
    Shutdown();
    throw;
  }
}

PacketHold::~PacketHold() { Shutdown(); }

void PacketHold::Shutdown() noexcept {
  if (!state_) return;
  State& s = *state_;
  if (s.rule != 0) {
    try {
      s.filter->RemoveRule(s.rule);
    } catch (const Error&) {
      // Teardown never throws; the rule goes with the namespace.
    }
    s.rule = 0;
  }
  s.Verdict(SIZE_MAX, NF_ACCEPT);
  uint64_t one = 1;
  while (::write(s.stop.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  if (s.thread.joinable()) s.thread.join();
  s.lib.destroy_queue(s.qh);
  s.lib.close(s.h);
  state_.reset();
}

size_t PacketHold::held() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->held.size();
}

size_t PacketHold::seen() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->seen;
}

size_t PacketHold::Release(size_t n) { return state_->Verdict(n, NF_ACCEPT); }

size_t PacketHold::DropHeld(size_t n) { return state_->Verdict(n, NF_DROP); }

void PacketHold::StopHolding() {
  if (state_->rule == 0) return;
  state_->filter->RemoveRule(state_->rule);
  state_->rule = 0;
}

void PacketHold::WaitHeld(size_t n, std::chrono::milliseconds timeout) const {
  WaitUntil(
      fmt::format("{} packets held by {}", n, state_->what), timeout, [&] { return held() >= n; },
      [&] { return fmt::format("{} held, {} seen", held(), seen()); });
}

}  // namespace nstest
