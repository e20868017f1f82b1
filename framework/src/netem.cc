// netem delay and loss (impair.h), through libnl-route.
#include <fmt/format.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/tc.h>

#include <cmath>
#include <limits>

#include "nstest/error.h"
#include "nstest/impair.h"
#include "nstest/link.h"
#include "src/netlink_util.h"

namespace nstest {
namespace {

using QdiscPtr = std::unique_ptr<rtnl_qdisc, NlDeleter<rtnl_qdisc, rtnl_qdisc_put>>;

QdiscPtr RootQdisc(const Netns& ns, const std::string& ifname, const std::string& what) {
  QdiscPtr q(rtnl_qdisc_alloc());
  if (!q) throw Error(what + ": out of memory");
  rtnl_tc_set_ifindex(TC_CAST(q.get()), GetLink(ns, ifname).index);
  rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_ROOT);
  return q;
}

}  // namespace

void SetNetem(const Netns& ns, const std::string& ifname, const NetemOptions& o) {
  std::string what = fmt::format("set netem on link '{}' in netns '{}'", ifname, ns.name());
  if (o.loss_percent < 0 || o.loss_percent > 100 || std::isnan(o.loss_percent)) {
    throw Error(what + ": loss must be 0-100 percent");
  }
  if (o.delay.count() < 0 || o.delay > std::chrono::seconds(60)) {
    throw Error(what + ": delay must be 0-60 s");
  }
  QdiscPtr q = RootQdisc(ns, ifname, what);
  int err = rtnl_tc_set_kind(TC_CAST(q.get()), "netem");
  if (err < 0) throw NetlinkError(what, err);
  rtnl_netem_set_limit(q.get(), static_cast<int>(o.limit));
  rtnl_netem_set_delay(q.get(), static_cast<int>(o.delay.count()));
  // netem takes the loss probability as a fraction of 2^32 - 1.
  double fraction = o.loss_percent / 100.0 * std::numeric_limits<uint32_t>::max();
  rtnl_netem_set_loss(q.get(), static_cast<int>(static_cast<uint32_t>(fraction)));
  err = rtnl_qdisc_add(ns.route_socket(), q.get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err < 0) throw NetlinkError(what, err);
}

void ClearNetem(const Netns& ns, const std::string& ifname) {
  std::string what = fmt::format("remove netem from link '{}' in netns '{}'", ifname, ns.name());
  QdiscPtr q = RootQdisc(ns, ifname, what);
  int err = rtnl_qdisc_delete(ns.route_socket(), q.get());
  if (err < 0) throw NetlinkError(what, err);
}

}  // namespace nstest
