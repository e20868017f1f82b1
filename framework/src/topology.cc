#include "nstest/topology.h"

namespace nstest {

PairTopology PairTopology::Create(const PairTopologyOptions& options) {
  PairTopology t(Netns::Create(options.server_name), Netns::Create(options.client_name));
  t.addresses_ = DefaultPairAddresses(options.pair_index);
  VethOptions veth_options;
  veth_options.mtu = options.mtu;
  t.veth_ =
      AddVethPair(t.server_, options.server_ifname, t.client_, options.client_ifname, veth_options);
  AddAddress(t.server_, options.server_ifname, t.addresses_.a_v4);
  AddAddress(t.client_, options.client_ifname, t.addresses_.b_v4);
  if (options.ipv6) {
    AddAddress(t.server_, options.server_ifname, t.addresses_.a_v6);
    AddAddress(t.client_, options.client_ifname, t.addresses_.b_v6);
  }
  WaitLinkOperUp(t.server_, options.server_ifname, options.link_timeout);
  WaitLinkOperUp(t.client_, options.client_ifname, options.link_timeout);
  if (options.ipv6) {
    WaitAddressUsable(t.server_, options.server_ifname, t.addresses_.a_v6, options.link_timeout);
    WaitAddressUsable(t.client_, options.client_ifname, t.addresses_.b_v6, options.link_timeout);
  }
  return t;
}

}  // namespace nstest
