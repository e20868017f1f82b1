// The `wait` step and its subjects: each subject declared once with its fields, and beside it
// the condition it waits for.
#include "nstest/wait.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "suite/step_fields.h"

namespace nstest::registry {
namespace {

Awaited AwaitQueue(Execution& x, const Step&, const WaitQueue& q) {
  auto port = x.EvalAs<uint16_t>(q.port);
  auto want = x.EvalAs<uint32_t>(q.value);
  ListenerSelector which = x.Selector(q.which);
  bool aq = q.queue == ListenerQueue::kAcceptQueue;
  Scenario* sc = &x.sc();
  const std::string& netns = q.netns;
  // Until the listener exists (a server started by a `start` step may listen later), the wait
  // goes on and says so.
  auto last = std::make_shared<std::string>();
  auto done = [sc, &netns, port, which, want, aq, last] {
    std::vector<ListenerQueues> all = sc->ListenersOn(netns, port);
    if (FilterListeners(all, which).empty()) {
      *last = fmt::format("no listener on port {} yet", port);
      // A server that died will not listen: say so now, not at the deadline.
      if (std::string died = sc->Died(); !died.empty()) {
        throw Error("a started process ended: " + died);
      }
      return false;
    }
    ListenerQueues lq = SelectListener(
        all, which, fmt::format("read listener on port {} in netns '{}'", port, netns),
        kPickListener);
    *last = lq.ToString();
    if (!aq && lq.group > 1 && lq.index > 0) {
      throw Error(fmt::format(
          "wait.syn_recv: {}: the kernel does not say which member of a SO_REUSEPORT group holds "
          "a request socket; wait for the group's count on index 0",
          *last));
    }
    return (aq ? lq.accept_queue : lq.syn_recv) == want;
  };
  return {aq ? "accept_queue" : "syn_recv", done, [last] { return *last; }, nullptr};
}

Awaited AwaitCounter(Execution& x, const Step&, const WaitCounter& c) {
  int64_t delta = x.Eval(c.delta);
  Scenario* sc = &x.sc();
  const std::string& ns = c.netns;
  const std::string& name = c.name;
  return {"counter", [sc, &ns, &name, delta] { return sc->CounterChanges(ns).Get(name) >= delta; },
          [sc, &ns] { return sc->CounterChanges(ns).ToString(); }, nullptr};
}

Awaited AwaitHeld(Execution& x, const Step&, const WaitHeld& h) {
  PacketHold& hold = x.sc().held(h.hold);
  auto n = x.EvalAs<size_t>(h.count);
  return {"held", [&hold, n] { return hold.held() >= n; },
          [&hold] { return fmt::format("{} held", hold.held()); }, nullptr};
}

Awaited AwaitPackets(Execution& x, const Step&, const WaitPackets& p) {
  Capture& cap = x.sc().capture(p.capture);
  PacketFilterSpec spec = x.Spec(p.packets);
  auto n = x.EvalAs<size_t>(p.count);
  return {"packets", [&cap, spec, n] { return cap.Count(spec) >= n; },
          [&cap, spec] { return fmt::format("{} matching", cap.Count(spec)); }, &p.capture};
}

Awaited AwaitListening(Execution& x, const Step&, const WaitListening& w) {
  auto port = x.EvalAs<uint16_t>(w.port);
  auto want = x.EvalAs<size_t>(w.count);
  std::optional<IpAddress> address;
  if (!w.address.empty()) address = IpAddress::Parse(w.address);
  Scenario* sc = &x.sc();
  const std::string& netns = w.netns;
  auto last = std::make_shared<std::string>();
  auto done = [port, want, address, sc, &netns, last] {
    // A server that died will not listen: say so now, not at the deadline.
    if (std::string died = sc->Died(); !died.empty()) {
      throw Error("a started process ended: " + died);
    }
    size_t n = sc->ListeningCount(netns, port, address);
    *last = fmt::format("{} listening on port {}", n, port);
    return n >= want;
  };
  return {"listening", done, [last] { return *last; }, nullptr};
}

Awaited AwaitConnections(Execution& x, const Step&, const WaitConnections& w) {
  auto want = x.EvalAs<int>(w.count);
  std::vector<Connections>* sets = &x.sc().Labelled(w.label);
  ConnectResult outcome = w.outcome;
  auto count = [sets, outcome] {
    int n = 0;
    for (Connections& c : *sets) n += c.Count(outcome);
    return n;
  };
  // Settled: no connection can still reach the outcome: none is pending, and for `reset` none is
  // established and open either (only such a one can be reset).
  auto settled = [sets, outcome] {
    for (const Connections& c : *sets) {
      if (c.Unsettled() > 0) return false;
      if (outcome != ConnectResult::kReset) continue;
      for (size_t i = 0; i < c.results().size(); ++i) {
        if (c.results()[i].outcome == ConnectResult::kEstablished && c.socket(i)) return false;
      }
    }
    return true;
  };
  auto summary = [sets] {
    std::string out;
    for (const Connections& c : *sets) out += (out.empty() ? "" : "; ") + c.Summary();
    return out;
  };
  const std::string& label = w.label;
  return {"connections",
          [sets, count, settled, want] {
            for (Connections& c : *sets) c.Update();
            return count() >= want || settled();
          },
          summary, nullptr,
          [count, want, outcome, summary, &label] {
            int got = count();
            if (got >= want) return std::string();
            return fmt::format(
                "wait for {} {} connections ('{}'): only {} got there, and no other can any "
                "more ({})",
                want, ConnectOutcomeKey(outcome), label, got, summary());
          }};
}

void DoWait(Execution& x, const Step& s, const WaitStep& a) {
  Awaited w = EntryOf(WaitSubjects(), a.subject).run(x, s, a.subject);
  try {
    WaitUntil(w.subject, x.Millis(a.timeout_ms), w.done, w.seen);
  } catch (const TimeoutError& e) {
    // A capture that dropped packets is the reason, not the timeout.
    if (w.capture != nullptr) x.SyncedCapture(*w.capture);
    x.Fail(s, e.what());
    return;
  }
  if (w.capture != nullptr) x.SyncedCapture(*w.capture);
  if (w.shortfall) {
    if (std::string why = w.shortfall(); !why.empty()) x.Fail(s, why);
  }
}

}  // namespace

const std::vector<Entry<WaitSubject, Awaited>>& WaitSubjects() {
  auto queue = [](const char* name, ListenerQueue q, const char* summary) {
    return Declare<WaitSubject, WaitQueue>(
        name, summary,
        Concat({NetnsField(&WaitQueue::netns, "netns", "server", "the listener's namespace"),
                Required(&WaitQueue::port, "port", kPort, "the listener's port")},
               Concat(ListenerChoiceFields(&WaitQueue::which),
                      {Required(&WaitQueue::value, "value", kNonNegativeCount,
                                "the number to wait for")})),
        AwaitQueue, [q](TableReader&, const Ctx&, WaitQueue& w) { w.queue = q; });
  };
  static const std::vector<Entry<WaitSubject, Awaited>> subjects = {
      queue("accept_queue", ListenerQueue::kAcceptQueue,
            "until the listener's accept queue (Recv-Q) holds `value` connections; while nothing "
            "listens on the port yet, it waits for that too"),
      queue("syn_recv", ListenerQueue::kSynRecv,
            "until the listener has `value` request sockets in SYN-RECV; waits for the listener "
            "too"),
      Declare<WaitSubject, WaitCounter>(
          "counter", "until a counter has grown by at least `delta` since the case began",
          {NetnsField(&WaitCounter::netns, "netns", "server", "whose counter"),
           {{"name", "counter name", "required", "nstat's name, e.g. TcpExtListenOverflows"},
            [](TableReader& r, const Ctx& c, WaitCounter& w) {
              std::optional<std::string> name = r.String("name");
              if (!name) r.Fail(r.table(), "missing 'name'");
              const std::vector<std::string>& known = KnownCounterNames();
              if (!c.scope.newer_kernel &&
                  std::find(known.begin(), known.end(), *name) == known.end()) {
                std::string near = ClosestName(*name, known);
                r.FailKey(
                    "name",
                    fmt::format("unknown counter '{}'{}", *name,
                                near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
              }
              w.name = *name;
            },
            {}},
           Required(&WaitCounter::delta, "delta", kAny, "the growth to wait for")},
          AwaitCounter),
      Declare<WaitSubject, WaitHeld>(
          "held", "until a hold has held `count` packets",
          {Earlier(&WaitHeld::hold, "hold", &Ctx::holds, "hold named", "the hold's name"),
           Required(&WaitHeld::count, "count", kCount, "packets held")},
          AwaitHeld),
      Declare<WaitSubject, WaitPackets>(
          "packets", "until a capture has `count` matching packets",
          Concat({Earlier(&WaitPackets::capture, "capture", &Ctx::captures, "capture named",
                          "the capture's name")},
                 Concat(MatchFields(&WaitPackets::packets, false),
                        {Required(&WaitPackets::count, "count", kNonNegativeCount,
                                  "matching packets")})),
          AwaitPackets),
      Declare<WaitSubject, WaitListening>(
          "listening",
          "until `count` sockets listen on the port (a started server is ready); fails at once "
          "when a started process has ended, with how it ended and its last output",
          {NetnsField(&WaitListening::netns, "netns", "server", "where"),
           Required(&WaitListening::port, "port", kPort, "the port"),
           TextField(&WaitListening::address, "address", "",
                     "only sockets bound to this address (\"0.0.0.0\", \"::\" for the "
                     "wildcards); empty for any"),
           Defaulted(&WaitListening::count, "count", kCount, 1,
                     "how many (a SO_REUSEPORT group, or IPv4 and IPv6)")},
          AwaitListening,
          [](TableReader& r, const Ctx&, WaitListening& w) {
            if (w.address.empty()) return;
            try {
              (void)IpAddress::Parse(w.address);
            } catch (const Error& e) {
              r.FailKey("address", e.what());
            }
          }),
      Declare<WaitSubject, WaitConnections>(
          "connections",
          "until N connections of a label reached one outcome, written as that outcome's key "
          "(`timed_out = 1`): a connect pending at its deadline goes on in the background (the "
          "kernel keeps retrying) and gets its final outcome here, with its time for "
          "`expect.connections`' `duration_ms`; fails at once when no other connection can get "
          "there (none pending, and for `reset` none established and open)",
          {LabelField(&WaitConnections::label),
           {{"<outcome>", "established, refused, timed_out or reset", "required",
             "the outcome and how many connections must reach it, e.g. `reset = 2`"},
            [](TableReader& r, const Ctx& c, WaitConnections& w) {
              const char* first = nullptr;
              for (ConnectResult o : {ConnectResult::kEstablished, ConnectResult::kRefused,
                                      ConnectResult::kTimedOut, ConnectResult::kReset}) {
                const char* key = ConnectOutcomeKey(o);
                if (auto v = r.Number(key, c.params, kCount)) {
                  if (first != nullptr) {
                    r.FailKey(key, fmt::format("wait.connections waits for one outcome, not "
                                               "'{}' and '{}' (write a step for each)",
                                               first, key));
                  }
                  first = key;
                  w.outcome = o;
                  w.count = *v;
                }
              }
              if (first == nullptr) {
                r.Fail(r.table(),
                       "wait.connections needs one outcome: established, refused, timed_out or "
                       "reset (e.g. 'timed_out = 1')");
              }
            },
            [](const WaitConnections& w, std::vector<const Value*>* out) {
              out->push_back(&w.count);
            }}},
          AwaitConnections),
  };
  return subjects;
}

Kind WaitKind() {
  return {
      AlternativeIndex<StepAction, WaitStep>(),
      "wait",
      "waits for one subject, written `wait.<subject> = { ... }`, with `wait.timeout_ms` beside "
      "it; when the deadline passes the step fails, saying what it last saw",
      {{"<subject>", Alternatives(EntryNames(WaitSubjects())), "required", "what to wait for"},
       {"timeout_ms", RangeText(kMillis), "5000", "the deadline"}},
      [](TableReader& r, const Ctx& c) -> StepAction {
        WaitStep w;
        w.subject = ReadSubject(r, c, WaitSubjects(), "wait", [&] {
          w.timeout_ms = r.Number("timeout_ms", c.params, kMillis).value_or(Value::Constant(5000));
        });
        return w;
      },
      [](const StepAction& a, std::vector<const Value*>* out) {
        const WaitStep& w = std::get<WaitStep>(a);
        out->push_back(&w.timeout_ms);
        SubjectValues(WaitSubjects(), w.subject, out);
      },
      [](Execution& x, const Step& s, const StepAction& a) {
        DoWait(x, s, std::get<WaitStep>(a));
      }};
}

}  // namespace nstest::registry
