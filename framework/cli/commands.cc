#include "cli/commands.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "nstest/error.h"
#include "nstest/netns.h"
#include "nstest/preflight.h"

namespace nstest::cli {

int RunDoctor(std::ostream& out) {
  const PreflightReport& report = CachedPreflight();
  out << report.ToString();
  return report.privilege.can_create_netns ? kExitOk : kExitFailed;
}

int RunClean(std::ostream& out, bool all) {
  try {
    for (const std::string& path : CleanBindMounts(all)) fmt::print(out, "removed {}\n", path);
    return kExitOk;
  } catch (const Error& e) {
    fmt::print(out, "nstest clean: {}\n", e.what());
    return kExitFailed;
  }
}

}  // namespace nstest::cli
