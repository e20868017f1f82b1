// libFuzzer target: sysctl.d text is parsed or refused with file:line:col.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nstest/suite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  static nstest::SysctlKeyChecker keys;  // one probe namespace for the whole run
  try {
    (void)nstest::ParseSysctlText(text, "fuzz.conf", &keys);
  } catch (const nstest::Error&) {
  }
  return 0;
}
