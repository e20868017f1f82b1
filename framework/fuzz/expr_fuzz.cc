// libFuzzer target: expressions parse or fail with a column, and evaluate or fail with a message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nstest/expr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, int64_t> names = {{"backlog", 7}, {"n", -3}, {"big", INT64_MAX}};
  try {
    nstest::Expression e = nstest::Expression::Parse(text, {"backlog", "n", "big"});
    nstest::Expression::Context ctx;
    ctx.names = &names;
    ctx.sysctl = [](const nstest::Expression::SysctlRef& r) -> std::optional<int64_t> {
      if (r.key.size() % 2 == 1) return std::nullopt;  // absent on this kernel
      return static_cast<int64_t>(r.key.size()) - 5;
    };
    (void)e.Evaluate(ctx);
  } catch (const nstest::Error&) {
  }
  return 0;
}
