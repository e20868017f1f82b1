#include "src/loaded_libs.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace nstest {
namespace {

// In a process of its own (the death test runs the test binary again for it): neither library
// is there until its first use, and then both tables work.
TEST(LoadedLibsDeathTest, EachLibraryLoadsOnItsFirstUse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto loaded = [](const char* after) {
          std::fprintf(stderr, "%s: pcap %d nftables %d nfqueue %d nftnl %d; ", after, PcapLoaded(),
                       NftablesLoaded(), NfqueueLoaded(), NftnlLoaded());
        };
        loaded("at start");
        pcap_t* dead =
            Pcap().open_dead_with_tstamp_precision(DLT_EN10MB, 96, PCAP_TSTAMP_PRECISION_NANO);
        loaded(dead != nullptr ? "a pcap handle" : "no pcap handle");
        Pcap().close(dead);
        nftnl_rule* rule = Nftnl().rule_alloc();
        loaded(rule != nullptr ? "an nftnl rule" : "no nftnl rule");
        Nftnl().rule_free(rule);
        loaded(Nfqueue().open != nullptr ? "nfq_open" : "no nfq_open");
        nft_ctx* nft = Nftables().ctx_new(NFT_CTX_DEFAULT);
        loaded(nft != nullptr ? "an nft context" : "no nft context");
        Nftables().ctx_free(nft);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0),
      "at start: pcap 0 nftables 0 nfqueue 0 nftnl 0; "
      "a pcap handle: pcap 1 nftables 0 nfqueue 0 nftnl 0; "
      "an nftnl rule: pcap 1 nftables 0 nfqueue 0 nftnl 1; "
      "nfq_open: pcap 1 nftables 0 nfqueue 1 nftnl 1; "
      "an nft context: pcap 1 nftables 1 nfqueue 1 nftnl 1; ");
}

TEST(LoadedLibsDeathTest, PreloadLoadsOnlyWhatItIsAskedFor) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto loaded = [](const char* after) {
          std::fprintf(stderr, "%s: pcap %d nftables %d nfqueue %d nftnl %d; ", after, PcapLoaded(),
                       NftablesLoaded(), NfqueueLoaded(), NftnlLoaded());
        };
        // libnftables loads libnftnl and libmnl itself: queues first shows they load without it.
        PreloadLibraries(false, false, true);
        loaded("queues");
        PreloadLibraries(false, true, false);
        loaded("filters");
        PreloadLibraries(true, false, false);
        loaded("pcap");
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0),
      "queues: pcap 0 nftables 0 nfqueue 1 nftnl 1; filters: pcap 0 nftables 1 nfqueue 1 nftnl 1; "
      "pcap: pcap 1 nftables 1 nfqueue 1 nftnl 1; ");
}

}  // namespace
}  // namespace nstest
