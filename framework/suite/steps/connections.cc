// The step kinds about sockets: listen, connect, send, read, close, accept. Each is declared once,
// with its fields, and what it does when a case runs is beside it.
#include <fmt/format.h>

#include "suite/step_fields.h"

namespace nstest::registry {
namespace {

void DoListen(Execution& x, const Step&, const ListenStep& a) {
  ListenerOptions lo;
  lo.address = x.AddressIn(a.netns, a.address, a.family);
  lo.port = x.EvalAs<uint16_t>(a.port);
  lo.backlog = x.EvalAs<int>(a.backlog);
  lo.accept = a.accept;
  lo.accept_limit = a.accept_limit ? x.EvalAs<int>(*a.accept_limit) : 0;
  lo.reuseport = a.reuseport;
  lo.ipv6_only = a.ipv6_only;
  int sockets = x.EvalAs<int>(a.sockets);
  if (sockets > 1 && !a.reuseport) {
    throw Error(fmt::format("listen: {} sockets on one port need reuseport = true", sockets));
  }
  for (int i = 0; i < sockets; ++i) {
    lo.port = x.sc().Listen(a.netns, lo).port();  // an ephemeral port: the group shares it
  }
  x.Log(fmt::format("listen(backlog={}) on {} in netns '{}', accept {}{}", lo.backlog,
                    FormatEndpoint(lo.address, lo.port), a.netns, AcceptPolicyName(a.accept),
                    a.reuseport ? fmt::format(", SO_REUSEPORT x{}", sockets) : ""));
}

void DoConnect(Execution& x, const Step&, const ConnectStep& a) {
  ConnectOptions o;
  o.address = x.AddressIn(a.to, a.address, a.family);
  o.port = x.EvalAs<uint16_t>(a.port);
  o.count = x.EvalAs<int>(a.count);
  o.mode = a.mode;
  o.deadline = x.Millis(a.deadline_ms);
  o.source_port = a.source_port ? x.EvalAs<uint16_t>(*a.source_port) : 0;
  o.read_for = x.Millis(a.read_ms);
  o.send = a.send;
  o.stop_at_first_failure = a.stop_at_first_failure;
  Connections c = nstest::Connect(x.Ns(a.from), o);
  x.Log(fmt::format("connect {}x to {} from netns '{}' ({}): {}", o.count,
                    FormatEndpoint(o.address, o.port), a.from, ConnectModes().Name(a.mode),
                    c.Summary()));
  x.sc().AddConnections(a.label, std::move(c));
}

void DoSend(Execution& x, const Step&, const SendStep& a) {
  for (Connections& c : x.sc().Labelled(a.label)) {
    int whole = c.Send(a.data);
    x.Log(fmt::format("sent {} bytes on {} connections of '{}': {}", a.data.size(), whole, a.label,
                      c.Summary()));
  }
}

void DoRead(Execution& x, const Step&, const ReadStep& a) {
  for (Connections& c : x.sc().Labelled(a.label)) {
    c.Read(x.Millis(a.timeout_ms));
    x.Log(fmt::format("read from '{}': {}", a.label, c.Summary()));
  }
}

void DoClose(Execution& x, const Step&, const CloseStep& a) {
  int closed = 0;
  for (Connections& c : x.sc().Labelled(a.label)) closed += c.Close(a.abort);
  x.Log(fmt::format("closed {} connections of '{}'{}", closed, a.label,
                    a.abort ? " with a RST (SO_LINGER 0)" : ""));
}

void DoAccept(Execution& x, const Step&, const AcceptStep& a) {
  auto port = x.EvalAs<uint16_t>(a.port);
  for (const auto& l : x.sc().listeners()) {
    if (l->port() == port && l->netns_name() == a.netns) {
      int n = l->Accept(x.EvalAs<int>(a.count), x.Millis(a.timeout_ms));
      x.Log(fmt::format("accepted {} on port {}", n, port));
      return;
    }
  }
  throw Error(fmt::format("accept: no listener on port {} in netns '{}'", port, a.netns));
}

}  // namespace

std::vector<Kind> ConnectionKinds() {
  return {
      Declare<StepAction, ListenStep>(
          "listen", "a listening socket, and when it accepts",
          Concat(Concat({NetnsField(&ListenStep::netns, "netns", "server", "where it listens")},
                        AddressFields(&ListenStep::address, &ListenStep::family,
                                      "the namespace's address", true)),
                 {Required(&ListenStep::port, "port", kPort, "the port"),
                  Required(&ListenStep::backlog, "backlog", kBacklog,
                           "passed to listen() as given (-1 and values above somaxconn included)"),
                  Choice(&ListenStep::accept, "accept", AcceptPolicies(), AcceptPolicy::kNever,
                         "never, every connection (all), the first accept_limit (first-n), or on "
                         "`accept` steps (on-demand)"),
                  Optional(&ListenStep::accept_limit, "accept_limit", kCount, "-",
                           "how many connections first-n accepts"),
                  Flag(&ListenStep::reuseport, "reuseport",
                       "SO_REUSEPORT, so that several sockets share the port, each with its own "
                       "queues"),
                  Defaulted(&ListenStep::sockets, "sockets", Range{1, 64}, 1,
                            "how many sockets: more than one is a SO_REUSEPORT group (each with "
                            "this backlog and accept policy)"),
                  Flag(&ListenStep::ipv6_only, "ipv6_only",
                       "IPV6_V6ONLY: an IPv6 wildcard takes no IPv4 connections")}),
          DoListen,
          [](TableReader& r, const Ctx&, ListenStep& l) {
            if (l.accept == AcceptPolicy::kFirstN && !l.accept_limit) {
              r.FailKey("accept", "accept = \"first-n\" needs 'accept_limit'");
            }
            if (l.sockets.expr.is_constant() && l.sockets.expr.Evaluate({}) > 1 && !l.reuseport) {
              r.FailKey("sockets", "several sockets on one port need 'reuseport = true'");
            }
            bool v6 = l.family == Family::kIPv6 || (!l.address.empty() && l.address != "any" &&
                                                    IpAddress::Parse(l.address).is_v6());
            if (l.ipv6_only && !v6) {
              r.FailKey("ipv6_only", "ipv6_only needs an IPv6 address (family = \"ipv6\")");
            }
          }),
      Declare<StepAction, ConnectStep>(
          "connect", "TCP connections, each with its outcome",
          Concat(Concat({NetnsField(&ConnectStep::from, "from", "client",
                                    "where the connections start"),
                         NetnsField(&ConnectStep::to, "to", "server", "whose address they go to")},
                        AddressFields(&ConnectStep::address, &ConnectStep::family, "`to`'s address",
                                      false)),
                 {Required(&ConnectStep::port, "port", kPort, "the destination port"),
                  Defaulted(&ConnectStep::count, "count", kCount, 1, "how many connections"),
                  Choice(&ConnectStep::mode, "mode", ConnectModes(), ConnectMode::kSequential,
                         "one after another, or all connect() calls first (burst)"),
                  Defaulted(&ConnectStep::deadline_ms, "deadline_ms", kMillis, 5000,
                            "how long each may take; then it is *pending*"),
                  Optional(&ConnectStep::source_port, "source_port", kPort, "ephemeral",
                           "connection i binds source_port + i"),
                  Defaulted(&ConnectStep::read_ms, "read_ms", kMillis, 0,
                            "read from each established connection this long"),
                  TextField(&ConnectStep::send, "send", "", "written on each once established"),
                  Flag(&ConnectStep::stop_at_first_failure, "stop_at_first_failure",
                       "stop after the first connection that is not established"),
                  TextField(&ConnectStep::label, "label", "connections",
                            "the name later steps use for these connections")}),
          DoConnect, [](TableReader&, const Ctx& c, ConnectStep& s) { c.labels->insert(s.label); }),
      Declare<StepAction, SendStep>(
          "send",
          "writes on every established connection of a label; one the peer reset becomes *reset* "
          "(the write fails with ECONNRESET or EPIPE)",
          {LabelField(&SendStep::label),
           {{"data", "string", "required", "the bytes to write"},
            [](TableReader& r, const Ctx&, SendStep& s) {
              std::optional<std::string> data = r.String("data");
              if (!data || data->empty()) r.Fail(r.table(), "missing 'data' (the bytes to write)");
              s.data = *data;
            },
            {}}},
          DoSend),
      Declare<StepAction, ReadStep>(
          "read", "reads from a label's connections; a RST makes them *reset*",
          {LabelField(&ReadStep::label),
           Required(&ReadStep::timeout_ms, "timeout_ms", kMillis, "how long to read")},
          DoRead),
      Declare<StepAction, CloseStep>(
          "close", "closes a label's open connections: a FIN, or with `abort` a RST",
          {LabelField(&CloseStep::label),
           Flag(&CloseStep::abort, "abort", "close with SO_LINGER 0: the kernel sends a RST")},
          DoClose),
      Declare<StepAction, AcceptStep>(
          "accept", "accepts from an on-demand listener",
          {NetnsField(&AcceptStep::netns, "netns", "server", "the listener's namespace"),
           Required(&AcceptStep::port, "port", kPort, "the listener's port"),
           Defaulted(&AcceptStep::count, "count", kCount, 1, "connections to accept"),
           Defaulted(&AcceptStep::timeout_ms, "timeout_ms", kMillis, 5000,
                     "how long to wait for them")},
          DoAccept)};
}

}  // namespace nstest::registry
