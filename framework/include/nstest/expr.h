// Small integer expressions in suite values: `backlog + 1`,
// `min(backlog, sysctl("net.core.somaxconn")) + 1`, `sysctl("client", "net.ipv4.tcp_syn_retries")`.
#ifndef NSTEST_EXPR_H_
#define NSTEST_EXPR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nstest/error.h"

namespace nstest {

// A parse error at a 1-based column of the expression text.
class ExpressionError : public Error {
 public:
  ExpressionError(size_t column, const std::string& message) : Error(message), column_(column) {}
  size_t column() const { return column_; }

 private:
  size_t column_;
};

// A parsed expression. Grammar: integers, names, + - * / % and unary minus, parentheses, and the
// functions min(a, b, ...), max(a, b, ...), abs(a), sysctl("key") (in the default namespace),
// sysctl("netns", "key") and sysctl("netns", "key", default): the default (an expression) stands
// for a key this kernel does not have (tcp_syn_linear_timeouts before 6.5), so that one suite
// states what each kernel does. At most 1024 characters and 64 levels of nesting. Values are
// 64-bit; overflow and division by zero are errors, never undefined behaviour.
class Expression {
 public:
  struct SysctlRef {
    std::string netns{};  // empty: the default namespace
    std::string key{};
    bool has_default = false;  // sysctl("netns", "key", default)
  };
  struct Context {
    const std::map<std::string, int64_t>* names = nullptr;
    // Returns the effective value of a sysctl, or nullopt where the kernel has no such key (it may
    // throw instead, with a better message, when the reference has no default); throws Error if
    // the value is not a number.
    std::function<std::optional<int64_t>(const SysctlRef&)> sysctl{};
  };

  // Parses `text`; every name must be in `names`. Throws ExpressionError with the column and a
  // suggestion for an unknown name ("unknown name 'backlg'; did you mean 'backlog'?").
  static Expression Parse(std::string_view text, const std::set<std::string>& names);
  // A constant.
  static Expression Constant(int64_t value);

  // Throws Error for overflow, division by zero, or a sysctl that is not a number.
  int64_t Evaluate(const Context& context) const;
  const std::string& text() const { return text_; }
  // The sysctls it reads, for validation before anything runs.
  const std::vector<SysctlRef>& sysctls() const { return sysctls_; }
  // The names (parameters) it reads.
  const std::set<std::string>& names() const { return names_; }
  bool is_constant() const;

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
  std::vector<SysctlRef> sysctls_;
  std::set<std::string> names_;
};

}  // namespace nstest

#endif  // NSTEST_EXPR_H_
