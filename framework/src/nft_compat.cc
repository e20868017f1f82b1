#include "src/nft_compat.h"

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

namespace nstest {
namespace {

struct MnlCloser {
  void operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }
};
struct RuleFree {
  void operator()(nftnl_rule* r) const noexcept { nftnl_rule_free(r); }
};

}  // namespace

void AddCompatQueueRule(const Netns& ns, const std::string& table, const std::string& chain,
                        uint16_t queue) {
  std::string what =
      fmt::format("add NFQUEUE {} target to chain '{}' in netns '{}'", queue, chain, ns.name());
  std::unique_ptr<mnl_socket, MnlCloser> nl;
  {
    NetnsGuard guard(ns);
    nl.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  }
  if (!nl || mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) ThrowErrno(what + ": netlink");

  std::unique_ptr<nftnl_rule, RuleFree> rule(nftnl_rule_alloc());
  nftnl_expr* target = nftnl_expr_alloc("target");
  // libnftnl frees the target's info with the expression, so it must come from malloc().
  auto* info = static_cast<xt_NFQ_info_v1*>(std::calloc(1, sizeof(xt_NFQ_info_v1)));
  if (!rule || target == nullptr || info == nullptr) {
    if (target != nullptr) nftnl_expr_free(target);
    std::free(info);
    throw Error(what + ": out of memory");
  }
  info->queuenum = queue;
  info->queues_total = 1;
  nftnl_rule_set_u32(rule.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_expr_set_str(target, NFTNL_EXPR_TG_NAME, "NFQUEUE");
  nftnl_expr_set_u32(target, NFTNL_EXPR_TG_REV, 1);
  nftnl_expr_set(target, NFTNL_EXPR_TG_INFO, info, sizeof *info);
  nftnl_rule_add_expr(rule.get(), target);  // the rule owns the expression now

  std::vector<char> buf(static_cast<size_t>(MNL_SOCKET_BUFFER_SIZE));
  auto seq = static_cast<uint32_t>(std::time(nullptr));
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buf.data(), buf.size());
  nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch)),
                                             NFT_MSG_NEWRULE, NFPROTO_INET,
                                             NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK, seq++);
  nftnl_rule_nlmsg_build_payload(nlh, rule.get());
  mnl_nlmsg_batch_next(batch);
  nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  ssize_t sent =
      mnl_socket_sendto(nl.get(), mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch));
  mnl_nlmsg_batch_stop(batch);
  if (sent < 0) ThrowErrno(what + ": send");
  ssize_t n = mnl_socket_recvfrom(nl.get(), buf.data(), buf.size());
  if (n < 0) ThrowErrno(what + ": receive");
  if (mnl_cb_run(buf.data(), static_cast<size_t>(n), 0, mnl_socket_get_portid(nl.get()), nullptr,
                 nullptr) < 0) {
    ThrowErrno(what);
  }
}

}  // namespace nstest
