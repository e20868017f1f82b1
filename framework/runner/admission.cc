#include "runner/admission.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "nstest/fd.h"

namespace nstest {
namespace {

constexpr auto kWindow = std::chrono::milliseconds(50);
constexpr double kIdleToStart = 0.5;  // cores
constexpr int kCasesPerCore = 16;
constexpr uint64_t kMemoryPerCase = 64ull << 20;
constexpr uint64_t kDescriptorsPerCase = 8;

// MemAvailable from /proc/meminfo, in bytes; 0 if unknown.
uint64_t MemoryAvailable() {
  Fd f(::open("/proc/meminfo", O_RDONLY | O_CLOEXEC));
  char buf[4096] = {};
  if (!f || ::read(f.get(), buf, sizeof buf - 1) <= 0) return 0;
  const char* line = std::strstr(buf, "MemAvailable:");
  if (line == nullptr) return 0;
  return std::strtoull(line + std::strlen("MemAvailable:"), nullptr, 10) * 1024;
}

}  // namespace

CpuReading ReadCpu() {
  Fd f(::open("/proc/stat", O_RDONLY | O_CLOEXEC));
  char buf[512] = {};
  if (!f || ::read(f.get(), buf, sizeof buf - 1) <= 0 || std::strncmp(buf, "cpu ", 4) != 0) {
    return {};
  }
  CpuReading r;
  char* p = buf + 4;
  for (int field = 0; field < 8; ++field) {  // user nice system idle iowait irq softirq steal
    char* end = nullptr;
    uint64_t v = std::strtoull(p, &end, 10);
    if (end == p) break;
    p = end;
    r.total += v;
    if (field == 3 || field == 4) r.idle += v;
  }
  return r;
}

int UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::clamp(::sysconf(_SC_NPROCESSORS_ONLN), 1L, 4096L));
}

int AutoCeiling(int cores, size_t cases) {
  uint64_t ceiling = static_cast<uint64_t>(cores) * kCasesPerCore;
  if (uint64_t memory = MemoryAvailable(); memory > 0) {
    ceiling = std::min(ceiling, memory / kMemoryPerCase);
  }
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    ceiling = std::min<uint64_t>(ceiling, nofile.rlim_cur / kDescriptorsPerCase);
  }
  ceiling = std::max<uint64_t>(ceiling, static_cast<uint64_t>(cores));
  return static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(ceiling, cases)));
}

Admission::Admission(int jobs, size_t cases)
    : automatic_(jobs == kAutoJobs),
      floor_(automatic_ ? std::min<int>(UsableCores(), static_cast<int>(std::max<size_t>(1, cases)))
                        : jobs),
      ceiling_(automatic_ ? AutoCeiling(UsableCores(), cases)
                          : std::max(1, std::min<int>(jobs, static_cast<int>(cases)))),
      cores_(UsableCores()) {}

std::string Admission::Describe() const {
  if (!automatic_) return fmt::format("-j {}", floor_);
  return fmt::format("-j auto: {} core{}, up to {} at once", cores_, cores_ == 1 ? "" : "s",
                     ceiling_);
}

int Admission::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

bool Admission::MayStartExtra(int running, int floor, int ceiling, Clock::time_point now,
                              Clock::time_point last_extra, double idle_cores) {
  if (running < floor) return true;
  if (running >= ceiling) return false;
  return now - last_extra >= kWindow && idle_cores >= kIdleToStart;
}

double Admission::IdleCores(Clock::time_point now) {
  if (now - reading_at_ < kWindow) return idle_cores_;
  CpuReading r = ReadCpu();
  if (reading_.total != 0 && r.total > reading_.total) {
    idle_cores_ = static_cast<double>(r.idle - reading_.idle) /
                  static_cast<double>(r.total - reading_.total) * cores_;
  }
  reading_ = r;
  reading_at_ = now;
  return idle_cores_;
}

bool Admission::Enter(const std::function<bool()>& stopping) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping()) return false;
    Clock::time_point now = Clock::now();
    bool extra = running_ >= floor_;
    if (!extra || (automatic_ &&
                   MayStartExtra(running_, floor_, ceiling_, now, last_extra_, IdleCores(now)))) {
      if (extra) last_extra_ = now;
      peak_ = std::max(peak_, ++running_);
      return true;
    }
    // Wait for a case to end, or for the next reading.
    changed_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

void Admission::Leave() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
  changed_.notify_all();
}

}  // namespace nstest
