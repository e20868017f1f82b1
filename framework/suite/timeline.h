// What a case's listeners and counters did while it ran, sampled on a thread of its own for the
// report's timeline. Private to the suite engine.
#ifndef NSTEST_SUITE_TIMELINE_H_
#define NSTEST_SUITE_TIMELINE_H_

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nstest/netns.h"

namespace nstest {

class Timeline {
 public:
  // What to sample in one namespace: its listeners always, and these counters.
  struct Subject {
    const Netns* ns = nullptr;
    std::vector<std::string> counters{};
  };
  // Samples every `every` (less often when a sample takes over a tenth of that) until destroyed
  // or Stop(). The namespaces must outlive it. Sampling
  // only reads (sock_diag, /proc counters) from its own thread and sockets: the case's own
  // threads and sockets are not touched.
  Timeline(std::vector<Subject> subjects, std::chrono::milliseconds every);
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  void Stop();
  // The samples where something changed (and the state when sampling stopped), at most `max`
  // (evenly thinned), each ended by ';':
  //   <ms> <ns>:<port>=<recv_q>/<syn_recv> ... <ns>:<Counter>=<delta> ...;
  // Listeners are keyed by port (the port's sockets summed); counters are deltas since the first
  // sample.
  std::string Encode(size_t max) const;

 private:
  void Run();

  std::vector<Subject> subjects_;
  std::chrono::milliseconds every_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> samples_;
  std::string last_state_ = "\x01";  // of the sampling thread; no state yet
  int64_t last_ms_ = -1;             // when the last state was last seen, if after its sample
  std::thread thread_;
};

}  // namespace nstest

#endif  // NSTEST_SUITE_TIMELINE_H_
