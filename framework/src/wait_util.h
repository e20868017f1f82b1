// Deadlines for the library's event-driven waits.
#ifndef NSTEST_SRC_WAIT_UTIL_H_
#define NSTEST_SRC_WAIT_UTIL_H_

#include <chrono>

namespace nstest {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Deadline(std::chrono::milliseconds timeout) : end_(Clock::now() + timeout) {}
  bool Passed() const { return Clock::now() >= end_; }
  // Milliseconds left, rounded up, never negative; fits poll()'s timeout argument.
  int RemainingMs() const {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(end_ - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left > 1 << 30 ? 1 << 30 : left);
  }
  Clock::time_point end() const { return end_; }

 private:
  Clock::time_point end_;
};

}  // namespace nstest

#endif  // NSTEST_SRC_WAIT_UTIL_H_
