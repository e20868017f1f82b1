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
        std::fprintf(stderr, "at start: pcap %d nftables %d; ", PcapLoaded(), NftablesLoaded());
        pcap_t* dead =
            Pcap().open_dead_with_tstamp_precision(DLT_EN10MB, 96, PCAP_TSTAMP_PRECISION_NANO);
        std::fprintf(stderr, "after a capture call: pcap %d (handle %d) nftables %d; ",
                     PcapLoaded(), dead != nullptr, NftablesLoaded());
        Pcap().close(dead);
        nft_ctx* nft = Nftables().ctx_new(NFT_CTX_DEFAULT);
        std::fprintf(stderr, "after a filter call: nftables %d (context %d)\n", NftablesLoaded(),
                     nft != nullptr);
        Nftables().ctx_free(nft);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0),
      "at start: pcap 0 nftables 0; after a capture call: pcap 1 \\(handle 1\\) nftables 0; "
      "after a filter call: nftables 1 \\(context 1\\)");
}

TEST(LoadedLibsDeathTest, PreloadLoadsOnlyWhatItIsAskedFor) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        PreloadLibraries(false, true);
        std::fprintf(stderr, "nftables asked for: pcap %d nftables %d; ", PcapLoaded(),
                     NftablesLoaded());
        PreloadLibraries(true, false);
        std::fprintf(stderr, "pcap asked for: pcap %d nftables %d\n", PcapLoaded(),
                     NftablesLoaded());
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0),
      "nftables asked for: pcap 0 nftables 1; pcap asked for: pcap 1 nftables 1");
}

}  // namespace
}  // namespace nstest
