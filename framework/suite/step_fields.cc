// The registry's helpers that are not templates.
#include "suite/step_fields.h"

#include <fmt/format.h>

namespace nstest::registry {

std::string Netns(TableReader& r, const Ctx& c, const char* key, const std::string& fallback) {
  std::string ns = r.String(key, fallback);
  for (const std::string& n : c.namespaces) {
    if (n == ns) return ns;
  }
  std::string near = ClosestName(ns, c.namespaces);
  if (r.table().get(key) == nullptr) {
    r.Fail(r.table(),
           fmt::format("this step needs '{}': the topology has no namespace '{}'", key, fallback));
  }
  r.FailKey(key, fmt::format("unknown namespace '{}'{}", ns,
                             near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

std::string KnownName(TableReader& r, const char* key, const std::set<std::string>& known,
                      const char* what, const char* fallback) {
  std::optional<std::string> v = r.String(key);
  if (!v && fallback != nullptr) v = fallback;
  if (!v) r.Fail(r.table(), fmt::format("missing '{}'", key));
  if (known.count(*v) != 0) return *v;
  std::string near = ClosestName(*v, {known.begin(), known.end()});
  r.FailKey(key, fmt::format("no {} '{}' before this step{}", what, *v,
                             near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

void CheckAddress(TableReader& r, const std::string& address, std::optional<Family> family) {
  if (address.empty() || address == "any") return;
  IpAddress a;
  try {
    a = IpAddress::Parse(address);
  } catch (const Error& e) {
    r.FailKey("address", e.what());
  }
  if (family && a.is_v6() != (*family == Family::kIPv6)) {
    r.FailKey("family", fmt::format("address '{}' is {}, but family is '{}'", address,
                                    a.is_v6() ? "IPv6" : "IPv4", Families().Name(*family)));
  }
}

// "never / all / first-n" (a Markdown table cell cannot hold '|').
std::string Alternatives(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : " / ") + n;
  return out;
}

// "A sentence." from "a sentence".
std::string Sentence(std::string text) {
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 32);
  return text + ".";
}

std::string RangeText(Range range) {
  if (range.min == INT64_MIN) return "integer";
  return fmt::format("integer {}..{}", range.min, range.max);
}

std::string IntegerOrString(TableReader& r, const toml::node& v) {
  if (v.is_integer()) return std::to_string(v.as_integer()->get());
  if (v.is_string()) return v.as_string()->get();
  r.Fail(v, fmt::format("'value' must be an integer or a string, not {}", TypeName(v)));
}

}  // namespace nstest::registry
