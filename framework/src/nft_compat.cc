#include "src/nft_compat.h"

// <arpa/inet.h> brings <netinet/in.h> before the kernel's <linux/in.h>, which the netfilter
// headers include (the other order does not compile).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <vector>

#include "nstest/error.h"
#include "src/loaded_libs.h"

namespace nstest {
namespace {

struct MnlCloser {
  const NftnlLib* lib;
  void operator()(mnl_socket* s) const noexcept { lib->socket_close(s); }
};
struct RuleFree {
  const NftnlLib* lib;
  void operator()(nftnl_rule* r) const noexcept { lib->rule_free(r); }
};

}  // namespace

void AddCompatQueueRule(const Netns& ns, const std::string& table, const std::string& chain,
                        uint16_t queue) {
  const NftnlLib& lib = Nftnl();  // throws when libnftnl or libmnl cannot be loaded
  std::string what =
      fmt::format("add NFQUEUE {} target to chain '{}' in netns '{}'", queue, chain, ns.name());
  std::unique_ptr<mnl_socket, MnlCloser> nl(nullptr, MnlCloser{&lib});
  {
    NetnsGuard guard(ns);
    nl.reset(lib.socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  }
  if (!nl || lib.socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) ThrowErrno(what + ": netlink");

  std::unique_ptr<nftnl_rule, RuleFree> rule(lib.rule_alloc(), RuleFree{&lib});
  nftnl_expr* target = lib.expr_alloc("target");
  // libnftnl frees the target's info with the expression, so it must come from malloc().
  auto* info = static_cast<xt_NFQ_info_v1*>(std::calloc(1, sizeof(xt_NFQ_info_v1)));
  if (!rule || target == nullptr || info == nullptr) {
    if (target != nullptr) lib.expr_free(target);
    std::free(info);
    throw Error(what + ": out of memory");
  }
  info->queuenum = queue;
  info->queues_total = 1;
  lib.rule_set_u32(rule.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  lib.rule_set_str(rule.get(), NFTNL_RULE_TABLE, table.c_str());
  lib.rule_set_str(rule.get(), NFTNL_RULE_CHAIN, chain.c_str());
  lib.expr_set_str(target, NFTNL_EXPR_TG_NAME, "NFQUEUE");
  lib.expr_set_u32(target, NFTNL_EXPR_TG_REV, 1);
  lib.expr_set(target, NFTNL_EXPR_TG_INFO, info, sizeof *info);
  lib.rule_add_expr(rule.get(), target);  // the rule owns the expression now

  std::vector<char> buf(static_cast<size_t>(MNL_SOCKET_BUFFER_SIZE));
  auto seq = static_cast<uint32_t>(std::time(nullptr));
  mnl_nlmsg_batch* batch = lib.nlmsg_batch_start(buf.data(), buf.size());
  lib.batch_begin(static_cast<char*>(lib.nlmsg_batch_current(batch)), seq++);
  lib.nlmsg_batch_next(batch);
  nlmsghdr* nlh =
      lib.rule_nlmsg_build_hdr(static_cast<char*>(lib.nlmsg_batch_current(batch)), NFT_MSG_NEWRULE,
                               NFPROTO_INET, NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK, seq++);
  lib.rule_nlmsg_build_payload(nlh, rule.get());
  lib.nlmsg_batch_next(batch);
  lib.batch_end(static_cast<char*>(lib.nlmsg_batch_current(batch)), seq++);
  lib.nlmsg_batch_next(batch);
  ssize_t sent =
      lib.socket_sendto(nl.get(), lib.nlmsg_batch_head(batch), lib.nlmsg_batch_size(batch));
  lib.nlmsg_batch_stop(batch);
  if (sent < 0) ThrowErrno(what + ": send");
  ssize_t n = lib.socket_recvfrom(nl.get(), buf.data(), buf.size());
  if (n < 0) ThrowErrno(what + ": receive");
  if (lib.cb_run(buf.data(), static_cast<size_t>(n), 0, lib.socket_get_portid(nl.get()), nullptr,
                 nullptr) < 0) {
    ThrowErrno(what);
  }
}

}  // namespace nstest
