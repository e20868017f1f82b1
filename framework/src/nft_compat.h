// An NFQUEUE verdict for kernels without nftables' native `queue` expression (CONFIG_NFT_QUEUE),
// through the xtables NFQUEUE target that nft_compat exposes. nft's text syntax cannot write such
// a rule, so it is built with libnftnl.
#ifndef NSTEST_SRC_NFT_COMPAT_H_
#define NSTEST_SRC_NFT_COMPAT_H_

#include <cstdint>
#include <string>

#include "nstest/netns.h"

namespace nstest {

// Appends a rule "xt target NFQUEUE --queue-num `queue`" to `chain` of the inet table `table` in
// `ns`. Throws SystemError with the kernel's answer.
void AddCompatQueueRule(const Netns& ns, const std::string& table, const std::string& chain,
                        uint16_t queue);

}  // namespace nstest

#endif  // NSTEST_SRC_NFT_COMPAT_H_
