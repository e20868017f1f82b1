// Names of enum values as users write and read them ("first-n", "syn-ack"): one table per enum,
// from which both directions and the list of choices in messages come.
#ifndef NSTEST_NAMES_H_
#define NSTEST_NAMES_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nstest {

template <typename E>
class NameTable {
 public:
  NameTable(std::initializer_list<std::pair<E, const char*>> entries) : entries_(entries) {}

  // The value's name; "?" for a value the table lacks.
  const char* Name(E value) const {
    for (const auto& [v, name] : entries_) {
      if (v == value) return name;
    }
    return "?";
  }
  std::optional<E> Find(std::string_view name) const {
    for (const auto& [v, n] : entries_) {
      if (name == n) return v;
    }
    return std::nullopt;
  }
  // Every name, in the table's order.
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [v, name] : entries_) out.emplace_back(name);
    return out;
  }
  const std::vector<std::pair<E, const char*>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<E, const char*>> entries_;
};

}  // namespace nstest

#endif  // NSTEST_NAMES_H_
