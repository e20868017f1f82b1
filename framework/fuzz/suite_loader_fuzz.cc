// libFuzzer target: the suite loader must turn any input into a Suite or a SuiteError, without a
// crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nstest/suite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  static nstest::SysctlKeyChecker keys;  // one probe namespace for the whole run
  try {
    nstest::Suite s = nstest::LoadSuiteText(text, "fuzz.toml", &keys);
    (void)nstest::ExpandCases(s);
  } catch (const nstest::Error&) {
    // Refused with a message: what bad input should get.
  }
  return 0;
}
