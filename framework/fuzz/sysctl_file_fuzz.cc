// libFuzzer target: sysctl.d text is parsed or refused with file:line:col.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nstest/runner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)nstest::ParseSysctlText(text, "fuzz.conf");
  } catch (const nstest::Error&) {
  }
  return 0;
}
