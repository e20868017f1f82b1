// The usual test topology: a server and a client namespace joined by one addressed veth pair.
#ifndef NSTEST_TOPOLOGY_H_
#define NSTEST_TOPOLOGY_H_

#include <chrono>
#include <memory>
#include <string>

#include "nstest/address.h"
#include "nstest/link.h"
#include "nstest/netns.h"
#include "nstest/scenario.h"

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
// through netlink) and their IPv6 addresses usable (WaitAddressUsable) when Create() returns: a
// Scenario (scenario.h) of ScenarioSpec::Pair(options), or a view of one link of a larger one.
// Everything Create() made is released on destruction. Move-only.
class PairTopology {
 public:
  // Throws what Netns::Create, AddVethPair, AddAddress and WaitLinkOperUp throw.
  static PairTopology Create(const PairTopologyOptions& options = {});
  // The first link between `server` and `client` of `scenario`, which must outlive the view.
  // Throws Error if they have no link.
  static PairTopology Of(Scenario& scenario, const std::string& server, const std::string& client);

  PairTopology(PairTopology&&) noexcept;
  PairTopology& operator=(PairTopology&&) noexcept;
  ~PairTopology();

  Netns& server() { return *server_; }
  Netns& client() { return *client_; }
  const Netns& server() const { return *server_; }
  const Netns& client() const { return *client_; }
  const VethPair& veth() const { return link_->veth; }
  const IpAddress& server_v4() const { return Address(true, false); }
  const IpAddress& client_v4() const { return Address(false, false); }
  const IpAddress& server_v6() const { return Address(true, true); }
  const IpAddress& client_v6() const { return Address(false, true); }
  Scenario& scenario() { return *scenario_; }

 private:
  PairTopology() = default;
  const IpAddress& Address(bool server, bool v6) const;

  std::unique_ptr<Scenario> owned_;
  Scenario* scenario_ = nullptr;
  Netns* server_ = nullptr;
  Netns* client_ = nullptr;
  const BuiltLink* link_ = nullptr;
  bool server_is_a_ = true;  // the server is the link's `a` end
};

}  // namespace nstest

#endif  // NSTEST_TOPOLOGY_H_
