#include "nstest/topology.h"

#include <fmt/format.h>

#include "nstest/error.h"

namespace nstest {

PairTopology PairTopology::Create(const PairTopologyOptions& options) {
  auto scenario = std::make_unique<Scenario>(ScenarioSpec::Pair(options));
  PairTopology t = Of(*scenario, options.server_name, options.client_name);
  t.owned_ = std::move(scenario);
  return t;
}

PairTopology PairTopology::Of(Scenario& scenario, const std::string& server,
                              const std::string& client) {
  PairTopology t;
  t.scenario_ = &scenario;
  t.server_ = &scenario.ns(server);
  t.client_ = &scenario.ns(client);
  for (const BuiltLink& l : scenario.links()) {
    if ((l.spec.a == server && l.spec.b == client) || (l.spec.a == client && l.spec.b == server)) {
      t.link_ = &l;
      t.server_is_a_ = l.spec.a == server;
      return t;
    }
  }
  throw Error(fmt::format("no link between netns '{}' and netns '{}'", server, client));
}

PairTopology::PairTopology(PairTopology&&) noexcept = default;
PairTopology& PairTopology::operator=(PairTopology&&) noexcept = default;
PairTopology::~PairTopology() = default;

const IpAddress& PairTopology::Address(bool server, bool v6) const {
  const DefaultAddresses& a = link_->addresses;
  bool a_end = server == server_is_a_;
  if (v6) return a_end ? a.a_v6.address : a.b_v6.address;
  return a_end ? a.a_v4.address : a.b_v4.address;
}

}  // namespace nstest
