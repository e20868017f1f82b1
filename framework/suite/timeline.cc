#include "suite/timeline.h"

#include <fmt/format.h>

#include "nstest/counters.h"
#include "nstest/error.h"
#include "nstest/sockdiag.h"

namespace nstest {

Timeline::Timeline(std::vector<Subject> subjects, std::chrono::milliseconds every)
    : subjects_(std::move(subjects)), every_(every), thread_([this] { Run(); }) {}

Timeline::~Timeline() { Stop(); }

void Timeline::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Timeline::Run() {
  using Clock = std::chrono::steady_clock;
  // Each namespace's sock_diag socket and counter baseline, made on this thread.
  std::vector<SockDiag> diags;
  std::vector<Counters> baselines;
  try {
    for (const Subject& s : subjects_) {
      diags.emplace_back(*s.ns);
      baselines.push_back(Counters::Read(*s.ns));
    }
  } catch (const Error&) {
    return;  // a timeline is an aid: without it the case runs the same
  }
  auto start = Clock::now();
  constexpr uint32_t kStates =
      (1u << static_cast<int>(TcpState::kListen)) | (1u << static_cast<int>(TcpState::kSynRecv));
  // A sample, then a wait for the next; once stopped, one last sample (the state the steps left,
  // however short the case) and out.
  for (bool last = false; !last;) {
    last = stop_;
    auto at = Clock::now();
    std::string state;
    try {
      for (size_t i = 0; i < subjects_.size(); ++i) {
        const std::string& name = subjects_[i].ns->name();
        std::map<uint16_t, std::pair<uint32_t, uint32_t>> ports;  // port -> recv_q, syn_recv
        std::vector<TcpSocketInfo> sockets = diags[i].Dump(kStates);
        for (const TcpSocketInfo& t : sockets) {
          if (t.state == TcpState::kListen) ports[t.local_port].first += t.recv_q;
        }
        for (const TcpSocketInfo& t : sockets) {
          auto it = ports.find(t.local_port);
          if (t.state == TcpState::kSynRecv && it != ports.end()) ++it->second.second;
        }
        for (const auto& [port, q] : ports) {
          state += fmt::format(" {}:{}={}/{}", name, port, q.first, q.second);
        }
        if (!subjects_[i].counters.empty()) {
          CounterDelta d = Counters::Read(*subjects_[i].ns).Since(baselines[i]);
          for (const std::string& c : subjects_[i].counters) {
            state += fmt::format(" {}:{}={}", name, c, d.Get(c));
          }
        }
      }
    } catch (const Error&) {
      // A namespace going away at the end of the case: the samples so far stand.
      break;
    }
    // Only a change is kept (and the last state, when sampling stops): a case that waits on a
    // timer for seconds costs one sample, not hundreds.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - start).count();
    if (state != last_state_) {
      std::lock_guard<std::mutex> lock(mu_);
      samples_.push_back(std::to_string(ms) + state);
      last_state_ = state;
      last_ms_ = -1;
    } else {
      last_ms_ = ms;
    }
    // A loaded machine makes a sample slow: then sample less often (at most a tenth of the time
    // goes to sampling), so that the case's own work keeps the CPU.
    auto next = at + std::max<Clock::duration>(every_, 10 * (Clock::now() - at));
    while (!stop_ && Clock::now() < next) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(5)));
    }
  }
}

std::string Timeline::Encode(size_t max) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  size_t n = samples_.size();
  size_t step = n > max && max > 0 ? (n + max - 1) / max : 1;
  for (size_t i = 0; i < n; i += step) out += samples_[i] + ";";
  if (n > 0 && (n - 1) % step != 0) out += samples_.back() + ";";
  // The state held until sampling stopped.
  if (n > 0 && last_ms_ >= 0) out += std::to_string(last_ms_) + last_state_ + ";";
  return out;
}

}  // namespace nstest
