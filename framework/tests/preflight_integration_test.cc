#include <gtest/gtest.h>

#include "nstest/netns.h"
#include "nstest/preflight.h"

namespace nstest {
namespace {

TEST(PreflightTest, EveryFeatureIsReportedWithAReason) {
  const PreflightReport& r = CachedPreflight();
  EXPECT_FALSE(r.kernel_release.empty());
  for (Feature f : AllFeatures()) {
    ASSERT_EQ(r.features.count(f), 1u) << FeatureName(f);
    EXPECT_FALSE(r.features.at(f).detail.empty()) << FeatureName(f);
    EXPECT_EQ(r.Has(f), r.MissingReason(f).empty()) << FeatureName(f);
    EXPECT_EQ(FeatureFromName(FeatureName(f)), f);
  }
  EXPECT_EQ(r.privilege.can_create_netns, r.NamespaceSkipReason().empty());
}

TEST(PreflightTest, NamespaceProbeMatchesReality) {
  const PreflightReport& r = CachedPreflight();
  bool created = true;
  try {
    Netns::Create("probe-check");
  } catch (const std::exception&) {
    created = false;
  }
  EXPECT_EQ(r.privilege.can_create_netns, created);
  if (!created) GTEST_SKIP() << r.NamespaceSkipReason();
  // Where namespaces work, the features the foundation itself relies on must be there.
  EXPECT_TRUE(r.Has(Feature::kVeth)) << r.MissingReason(Feature::kVeth);
  EXPECT_TRUE(r.Has(Feature::kInetDiag)) << r.MissingReason(Feature::kInetDiag);
}

TEST(PreflightTest, ReportNamesEveryFeature) {
  std::string text = CachedPreflight().ToString();
  for (Feature f : AllFeatures()) {
    EXPECT_NE(text.find(FeatureName(f)), std::string::npos) << FeatureName(f);
  }
}

}  // namespace
}  // namespace nstest
