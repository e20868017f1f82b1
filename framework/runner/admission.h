// How many cases run at once: a fixed number (-j N), or, with -j auto, as many as keep the CPU
// busy. Cases mostly sleep on kernel timers, so running only as many as there are cores leaves
// the machine idle; running all at once would let their busy moments (building namespaces, a burst
// of connections) crowd each other and stretch the timers they measure.
//
// Auto: up to as many cases as there are usable cores start at once, as with -j N. One more
// starts only while the CPU had at least half a core idle over the last 50 ms and no extra case
// started in that time (so that its own start-up shows in the next reading), and never beyond a
// ceiling set by the cores (16 a core), the memory available (64 MiB a case) and the descriptors
// the supervisor may open (8 a case).
#ifndef NSTEST_RUNNER_ADMISSION_H_
#define NSTEST_RUNNER_ADMISSION_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace nstest {

// The -j value that asks for the automatic choice.
constexpr int kAutoJobs = 0;

// The CPU's idle time as /proc/stat counts it, and the usable cores.
struct CpuReading {
  uint64_t idle = 0;   // idle + iowait ticks, all CPUs
  uint64_t total = 0;  // all ticks, all CPUs
};
// Reads the first line of /proc/stat; nullopt-like {0, 0} when it cannot.
CpuReading ReadCpu();
// The cores this process may run on (its affinity mask), at least 1.
int UsableCores();
// The automatic ceiling on `cases` (see above), at least `cores`.
int AutoCeiling(int cores, size_t cases);

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  // `jobs`: N, or kAutoJobs. `cases`: how many the run has (no more can ever run at once).
  Admission(int jobs, size_t cases);

  // The most cases that may ever run at once: the number of worker threads to start.
  int ceiling() const { return ceiling_; }
  // "-j 4" or "-j auto: 2 cores, up to 32 at once".
  std::string Describe() const;
  // The most cases that ran at once so far.
  int peak() const;

  // Blocks until one more case may start; false (without entering) once `stopping()` is true.
  bool Enter(const std::function<bool()>& stopping);
  // A case ended.
  void Leave();

  // The decision itself, for tests: may a case start now, with `running` cases running, the
  // last extra case started at `last_extra`, and `idle_cores` idle over the last reading?
  static bool MayStartExtra(int running, int floor, int ceiling, Clock::time_point now,
                            Clock::time_point last_extra, double idle_cores);

 private:
  // Takes a /proc/stat reading when the last one is at least kWindow old; the idle cores over
  // the last full window.
  double IdleCores(Clock::time_point now);

  const bool automatic_;
  const int floor_;    // start at once up to this many
  const int ceiling_;  // never more than this many
  const int cores_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  int running_ = 0;
  int peak_ = 0;
  Clock::time_point last_extra_{};
  Clock::time_point reading_at_{};
  CpuReading reading_{};
  double idle_cores_ = 0;
};

}  // namespace nstest

#endif  // NSTEST_RUNNER_ADMISSION_H_
