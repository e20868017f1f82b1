// The MIB counters of a namespace (/proc/net/netstat, snmp, snmp6) under nstat's names.
#ifndef NSTEST_COUNTERS_H_
#define NSTEST_COUNTERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "nstest/netns.h"

namespace nstest {

class CounterDelta;

// A snapshot of every MIB counter of one namespace, named as nstat names them:
// "TcpExtListenOverflows", "TcpExtListenDrops", "TcpPassiveOpens", "Ip6InReceives", ...
class Counters {
 public:
  // Reads the counters of `ns` through /proc/thread-self/net/... on the calling thread (inside a
  // NetnsGuard). /proc/self/net and /proc/net would follow the main thread's namespace instead,
  // which is wrong as soon as two namespaces are observed from two threads.
  // Throws SystemError if the files cannot be read.
  static Counters Read(const Netns& ns);
  // The same for the calling thread's current namespace, named `netns_name` in messages.
  static Counters ReadCurrent(std::string netns_name);

  // Parses the three files' contents; `snmp6` may be empty (IPv6 disabled). For tests and tools.
  // Throws Error on a malformed file.
  static Counters Parse(std::string netns_name, std::string_view netstat, std::string_view snmp,
                        std::string_view snmp6);

  // One counter's value. Throws Error for an unknown name, with a suggestion:
  //   "read counter 'TcpExtListenOverflow' in netns 'server': no such counter;
  //    did you mean 'TcpExtListenOverflows'?"
  int64_t Get(std::string_view name) const;
  bool Has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  const std::map<std::string, int64_t, std::less<>>& values() const { return values_; }
  const std::string& netns_name() const { return netns_name_; }

  // What changed from `before` (taken earlier in the same namespace) to this snapshot.
  CounterDelta Since(const Counters& before) const;

 private:
  std::string netns_name_;
  std::map<std::string, int64_t, std::less<>> values_;
};

// The difference between two snapshots of one namespace.
class CounterDelta {
 public:
  CounterDelta(std::string netns_name, std::map<std::string, int64_t, std::less<>> deltas);

  // The change of one counter (0 if unchanged). Throws Error for an unknown name, with a
  // suggestion, like Counters::Get().
  int64_t Get(std::string_view name) const;
  // The counters that changed, by name.
  std::map<std::string, int64_t> Changed() const;
  // "TcpExtListenDrops +2, TcpExtListenOverflows +2, TcpPassiveOpens +5" ("no counter changed").
  std::string ToString() const;
  // For a person reading a failure: the TCP counters first, then the others, leaving out the
  // ICMPv6 and IPv6 multicast ones that neighbour discovery and MLD move on every link
  // ("TCP: TcpPassiveOpens +5; other: IpInReceives +7; 9 ICMPv6/IPv6-multicast counters left
  // out"). ToString() has them all.
  std::string Summary() const;
  const std::string& netns_name() const { return netns_name_; }

 private:
  std::string netns_name_;
  std::map<std::string, int64_t, std::less<>> deltas_;
};

}  // namespace nstest

#endif  // NSTEST_COUNTERS_H_
