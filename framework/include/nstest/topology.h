// The usual test topology: a server and a client namespace joined by one addressed veth pair.
#ifndef NSTEST_TOPOLOGY_H_
#define NSTEST_TOPOLOGY_H_

#include <chrono>
#include <string>

#include "nstest/address.h"
#include "nstest/link.h"
#include "nstest/netns.h"

namespace nstest {

struct PairTopologyOptions {
  std::string server_name = "server";
  std::string client_name = "client";
  std::string server_ifname = "eth0";
  std::string client_ifname = "eth0";
  int pair_index = 0;  // selects the addresses: 198.18.<index>.1/.2, 2001:2:0:<index>::1/::2
  unsigned mtu = 0;    // 0: kernel default
  bool ipv6 = true;
  std::chrono::milliseconds link_timeout{5000};
};

// Two namespaces and the veth between them, both ends up and addressed, operationally up (awaited
// through netlink) and their IPv6 addresses usable (WaitAddressUsable) when Create() returns.
// Everything is released on destruction.
class PairTopology {
 public:
  // Throws what Netns::Create, AddVethPair, AddAddress and WaitLinkOperUp throw.
  static PairTopology Create(const PairTopologyOptions& options = {});

  Netns& server() { return server_; }
  Netns& client() { return client_; }
  const Netns& server() const { return server_; }
  const Netns& client() const { return client_; }
  const VethPair& veth() const { return veth_; }
  const IpAddress& server_v4() const { return addresses_.a_v4.address; }
  const IpAddress& client_v4() const { return addresses_.b_v4.address; }
  const IpAddress& server_v6() const { return addresses_.a_v6.address; }
  const IpAddress& client_v6() const { return addresses_.b_v6.address; }

 private:
  PairTopology(Netns server, Netns client)
      : server_(std::move(server)), client_(std::move(client)) {}

  Netns server_;
  Netns client_;
  VethPair veth_;
  DefaultAddresses addresses_;
};

}  // namespace nstest

#endif  // NSTEST_TOPOLOGY_H_
