#include "nstest/expr.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <limits>

#include "src/strings.h"

namespace nstest {

struct Expression::Node {
  enum class Kind { kNumber, kName, kNeg, kAdd, kSub, kMul, kDiv, kMod, kMin, kMax, kAbs, kSysctl };
  Kind kind = Kind::kNumber;
  int64_t number = 0;
  std::string name;
  SysctlRef sysctl;
  std::vector<std::shared_ptr<const Node>> args;
};

namespace {

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;
constexpr size_t kMaxLength = 1024;
constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(std::string_view text, const std::set<std::string>& names,
         std::vector<Expression::SysctlRef>* sysctls, std::set<std::string>* used)
      : s_(text), names_(names), sysctls_(sysctls), used_(used) {}

  NodePtr ParseAll() {
    NodePtr n = Sum(0);
    Skip();
    if (pos_ != s_.size()) Fail(fmt::format("unexpected '{}'", Printable(s_[pos_])));
    return n;
  }

 private:
  [[noreturn]] void Fail(const std::string& msg) const { throw ExpressionError(pos_ + 1, msg); }

  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void Expect(char c) {
    if (!Eat(c)) {
      Fail(pos_ < s_.size() ? fmt::format("expected '{}' but found '{}'", c, Printable(s_[pos_]))
                            : fmt::format("expected '{}' at the end", c));
    }
  }
  static NodePtr Make(Node::Kind kind, std::vector<NodePtr> args) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->args = std::move(args);
    return n;
  }

  NodePtr Sum(int depth) {
    NodePtr left = Product(depth);
    for (;;) {
      if (Eat('+')) {
        left = Make(Node::Kind::kAdd, {left, Product(depth)});
      } else if (Eat('-')) {
        left = Make(Node::Kind::kSub, {left, Product(depth)});
      } else {
        return left;
      }
    }
  }

  NodePtr Product(int depth) {
    NodePtr left = Unary(depth);
    for (;;) {
      Node::Kind k;
      if (Eat('*')) {
        k = Node::Kind::kMul;
      } else if (Eat('/')) {
        k = Node::Kind::kDiv;
      } else if (Eat('%')) {
        k = Node::Kind::kMod;
      } else {
        return left;
      }
      left = Make(k, {left, Unary(depth)});
    }
  }

  NodePtr Unary(int depth) {
    if (depth > kMaxDepth) Fail("nested too deeply (more than 64 levels)");
    if (Eat('-')) return Make(Node::Kind::kNeg, {Unary(depth + 1)});
    return Primary(depth);
  }

  NodePtr Primary(int depth) {
    Skip();
    if (pos_ >= s_.size()) Fail("expected a number, a name or '(' at the end");
    char c = s_[pos_];
    if (Eat('(')) {
      NodePtr n = Sum(depth + 1);
      Expect(')');
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return Number();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return NameOrCall(depth);
    Fail(fmt::format("expected a number, a name or '(' but found '{}'", Printable(c)));
  }

  NodePtr Number() {
    size_t start = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    auto n = std::make_shared<Node>();
    auto [end, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, n->number);
    if (ec != std::errc()) {
      pos_ = start;
      Fail("number out of range");
    }
    return n;
  }

  std::string Identifier() {
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
      ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  std::string String() {
    Skip();
    if (pos_ >= s_.size() || s_[pos_] != '"') Fail("expected a quoted string");
    size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') ++pos_;
    if (pos_ >= s_.size()) {
      pos_ = start - 1;
      Fail("unterminated string");
    }
    return std::string(s_.substr(start, pos_++ - start));
  }

  NodePtr NameOrCall(int depth) {
    size_t start = pos_;
    std::string id = Identifier();
    Skip();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      if (id == "sysctl") return Sysctl(depth);
      Node::Kind kind;
      if (id == "min") {
        kind = Node::Kind::kMin;
      } else if (id == "max") {
        kind = Node::Kind::kMax;
      } else if (id == "abs") {
        kind = Node::Kind::kAbs;
      } else {
        pos_ = start;
        std::string near = ClosestName(id, {"min", "max", "abs", "sysctl"});
        Fail(fmt::format("unknown function '{}'{}", id,
                         near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
      }
      std::vector<NodePtr> args{Sum(depth + 1)};
      while (Eat(',')) args.push_back(Sum(depth + 1));
      Expect(')');
      if (kind == Node::Kind::kAbs && args.size() != 1) {
        pos_ = start;
        Fail("abs() takes one argument");
      }
      return Make(kind, std::move(args));
    }
    if (names_.count(id) == 0) {
      pos_ = start;
      std::vector<std::string> known(names_.begin(), names_.end());
      std::string near = ClosestName(id, known);
      Fail(fmt::format("unknown name '{}'{}", id,
                       near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kName;
    n->name = id;
    used_->insert(id);
    return n;
  }

  NodePtr Sysctl(int depth) {
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kSysctl;
    std::string first = String();
    n->sysctl.key = first;
    if (Eat(',')) {
      Skip();
      if (pos_ < s_.size() && s_[pos_] == '"') {
        n->sysctl.netns = first;
        n->sysctl.key = String();
        if (Eat(',')) n->args.push_back(Sum(depth + 1));
      } else {
        n->args.push_back(Sum(depth + 1));
      }
    }
    n->sysctl.has_default = !n->args.empty();
    Expect(')');
    sysctls_->push_back(n->sysctl);
    return n;
  }

  std::string_view s_;
  const std::set<std::string>& names_;
  std::vector<Expression::SysctlRef>* sysctls_;
  std::set<std::string>* used_;
  size_t pos_ = 0;
};

[[noreturn]] void Overflow(const std::string& text) {
  throw Error(fmt::format("evaluate '{}': integer overflow", text));
}

// Applies a checked __builtin_*_overflow operation.
template <typename Op>
int64_t Checked(Op op, int64_t a, int64_t b, const std::string& text) {
  int64_t r = 0;
  if (op(a, b, &r)) Overflow(text);
  return r;
}

int64_t Eval(const Node& n, const Expression::Context& ctx, const std::string& text) {
  using K = Node::Kind;
  auto arg = [&](size_t i) { return Eval(*n.args[i], ctx, text); };
  switch (n.kind) {
    case K::kNumber:
      return n.number;
    case K::kName:
      if (ctx.names != nullptr) {
        if (auto it = ctx.names->find(n.name); it != ctx.names->end()) return it->second;
      }
      throw Error(fmt::format("evaluate '{}': no value for '{}'", text, n.name));
    case K::kNeg:
      return Checked(
          [](int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }, 0,
          arg(0), text);
    case K::kAdd:
      return Checked(
          [](int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); }, arg(0),
          arg(1), text);
    case K::kSub:
      return Checked(
          [](int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }, arg(0),
          arg(1), text);
    case K::kMul:
      return Checked(
          [](int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }, arg(0),
          arg(1), text);
    case K::kDiv:
    case K::kMod: {
      int64_t a = arg(0), b = arg(1);
      if (b == 0) throw Error(fmt::format("evaluate '{}': division by zero", text));
      if (a == std::numeric_limits<int64_t>::min() && b == -1) Overflow(text);
      return n.kind == K::kDiv ? a / b : a % b;
    }
    case K::kMin:
    case K::kMax: {
      int64_t best = arg(0);
      for (size_t i = 1; i < n.args.size(); ++i) {
        int64_t v = arg(i);
        best = n.kind == K::kMin ? std::min(best, v) : std::max(best, v);
      }
      return best;
    }
    case K::kAbs: {
      int64_t v = arg(0);
      if (v == std::numeric_limits<int64_t>::min()) Overflow(text);
      return v < 0 ? -v : v;
    }
    case K::kSysctl:
      if (!ctx.sysctl) throw Error(fmt::format("evaluate '{}': no sysctl values here", text));
      if (std::optional<int64_t> v = ctx.sysctl(n.sysctl)) return *v;
      if (n.sysctl.has_default) return arg(0);
      throw Error(fmt::format(
          "evaluate '{}': this kernel has no sysctl '{}'; give a default for such kernels: "
          "sysctl({}\"{}\", 0)",
          text, n.sysctl.key, n.sysctl.netns.empty() ? "" : "\"" + n.sysctl.netns + "\", ",
          n.sysctl.key));
  }
  return 0;
}

}  // namespace

Expression Expression::Parse(std::string_view text, const std::set<std::string>& names) {
  if (text.size() > kMaxLength)
    throw ExpressionError(kMaxLength + 1, "longer than 1024 characters");
  Expression e;
  e.text_ = std::string(text);
  Parser p(text, names, &e.sysctls_, &e.names_);
  e.root_ = p.ParseAll();
  return e;
}

Expression Expression::Constant(int64_t value) {
  Expression e;
  e.text_ = std::to_string(value);
  auto n = std::make_shared<Node>();
  n->number = value;
  e.root_ = n;
  return e;
}

int64_t Expression::Evaluate(const Context& context) const {
  if (!root_) throw Error("evaluate an empty expression");
  return Eval(*root_, context, text_);
}

bool Expression::is_constant() const { return root_ && root_->kind == Node::Kind::kNumber; }

}  // namespace nstest
