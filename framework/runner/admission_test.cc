#include "runner/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace nstest {
namespace {

using Clock = Admission::Clock;
using std::chrono::milliseconds;

TEST(AdmissionTest, FixedJobsRunThatManyAndNoMore) {
  Admission a(3, 10);
  EXPECT_EQ(a.ceiling(), 3);
  EXPECT_EQ(a.Describe(), "-j 3");
  Admission few(8, 2);
  EXPECT_EQ(few.ceiling(), 2) << "no more workers than cases";
}

TEST(AdmissionTest, AutoStartsAtLeastOneACoreAndSaysItsCeiling) {
  Admission a(kAutoJobs, 1000);
  EXPECT_GE(a.ceiling(), UsableCores());
  EXPECT_LE(a.ceiling(), UsableCores() * 16);
  EXPECT_NE(a.Describe().find("-j auto: "), std::string::npos) << a.Describe();
  EXPECT_NE(a.Describe().find(std::to_string(a.ceiling()) + " at once"), std::string::npos);
  Admission one(kAutoJobs, 1);
  EXPECT_EQ(one.ceiling(), 1);
}

TEST(AdmissionTest, AnExtraCaseStartsOnlyOnIdleCpuAndNotTooSoonAfterTheLast) {
  const Clock::time_point now = Clock::now();
  const Clock::time_point long_ago = now - milliseconds(200);
  // Below the floor: always.
  EXPECT_TRUE(Admission::MayStartExtra(1, 2, 32, now, now, 0.0));
  // At the floor: only with half a core idle...
  EXPECT_TRUE(Admission::MayStartExtra(2, 2, 32, now, long_ago, 0.5));
  EXPECT_FALSE(Admission::MayStartExtra(2, 2, 32, now, long_ago, 0.4));
  // ... and 50 ms after the last extra one started.
  EXPECT_FALSE(Admission::MayStartExtra(2, 2, 32, now, now - milliseconds(20), 2.0));
  // Never at the ceiling.
  EXPECT_FALSE(Admission::MayStartExtra(32, 2, 32, now, long_ago, 2.0));
}

TEST(AdmissionTest, CpuReadingAdvances) {
  CpuReading a = ReadCpu();
  ASSERT_GT(a.total, 0u) << "no /proc/stat";
  EXPECT_LE(a.idle, a.total);
  auto until = Clock::now() + milliseconds(60);
  while (Clock::now() < until) {
  }
  EXPECT_GT(ReadCpu().total, a.total);
}

TEST(AdmissionTest, EnterWaitsForALeaveAtTheCeilingAndStopsWhenAsked) {
  Admission a(1, 5);
  ASSERT_TRUE(a.Enter([] { return false; }));
  std::atomic<bool> entered{false};
  std::thread second([&] { entered = a.Enter([] { return false; }); });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(entered.load()) << "a second case started beside the first at -j 1";
  a.Leave();
  second.join();
  EXPECT_TRUE(entered.load());
  EXPECT_EQ(a.peak(), 1);
  EXPECT_FALSE(a.Enter([] { return true; })) << "entered although the run stops";
}

}  // namespace
}  // namespace nstest
