#include "suite/suite_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "src/strings.h"

namespace nstest {

SourcePos PosOf(const toml::node& node, const std::string& file) {
  return SourcePos{file, node.source().begin.line, node.source().begin.column};
}

SourcePos PosOf(const toml::key& key, const std::string& file) {
  return SourcePos{file, key.source().begin.line, key.source().begin.column};
}

const char* TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

TableReader::TableReader(const toml::table& table, std::string file, std::string what)
    : table_(table), file_(std::move(file)), what_(std::move(what)) {}

void TableReader::Fail(const toml::node& at, const std::string& message) const {
  throw SuiteError(PosOf(at, file_), message);
}

void TableReader::FailKey(const char* key, const std::string& message) const {
  const toml::node* n = table_.get(key);
  throw SuiteError(n != nullptr ? PosOf(*n, file_) : where(), message);
}

const toml::node* TableReader::Node(const char* key) {
  asked_.insert(key);
  return table_.get(key);
}

std::optional<std::string> TableReader::String(const char* key) {
  const toml::node* n = Node(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_string()) Fail(*n, fmt::format("'{}' must be a string, not {}", key, TypeName(*n)));
  return n->as_string()->get();
}

std::string TableReader::String(const char* key, const std::string& fallback) {
  return String(key).value_or(fallback);
}

std::string TableReader::Choice(const char* key, const std::vector<std::string>& choices,
                                const std::string& fallback) {
  std::optional<std::string> v = String(key);
  if (!v) return fallback;
  for (const std::string& c : choices) {
    if (*v == c) return c;
  }
  std::string near = ClosestName(*v, choices);
  std::string listed;
  for (const std::string& c : choices) listed += (listed.empty() ? "'" : ", '") + c + "'";
  FailKey(key, fmt::format("'{}' must be one of {}, not '{}'{}", key, listed, *v,
                           near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

std::optional<bool> TableReader::Bool(const char* key) {
  const toml::node* n = Node(key);
  if (n == nullptr) return std::nullopt;
  if (!n->is_boolean())
    Fail(*n, fmt::format("'{}' must be true or false, not {}", key, TypeName(*n)));
  return n->as_boolean()->get();
}

std::optional<Value> TableReader::Number(const char* key, const std::set<std::string>& names,
                                         Range range) {
  const toml::node* n = Node(key);
  if (n == nullptr) return std::nullopt;
  Value v;
  if (n->is_integer()) {
    v.expr = Expression::Constant(n->as_integer()->get());
    v.where = PosOf(*n, file_);
  } else if (n->is_string()) {
    v = ParseValue(*n, n->as_string()->get(), names, file_);
  } else {
    Fail(*n,
         fmt::format("'{}' must be an integer or an expression string, not {}", key, TypeName(*n)));
  }
  v.field = key;
  v.min = range.min;
  v.max = range.max;
  CheckRange(v, range, key, {});
  return v;
}

std::optional<double> TableReader::Real(const char* key) {
  const toml::node* n = Node(key);
  if (n == nullptr) return std::nullopt;
  if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
  if (n->is_floating_point()) return n->as_floating_point()->get();
  Fail(*n, fmt::format("'{}' must be a number, not {}", key, TypeName(*n)));
}

const toml::table* TableReader::Table(const char* key) {
  const toml::node* n = Node(key);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) Fail(*n, fmt::format("'{}' must be a table, not {}", key, TypeName(*n)));
  return n->as_table();
}

const toml::array* TableReader::Array(const char* key) {
  const toml::node* n = Node(key);
  if (n == nullptr) return nullptr;
  if (!n->is_array()) Fail(*n, fmt::format("'{}' must be an array, not {}", key, TypeName(*n)));
  return n->as_array();
}

std::vector<std::string> TableReader::Strings(const char* key) {
  std::vector<std::string> out;
  if (const toml::array* a = Array(key)) {
    for (const toml::node& e : *a) {
      if (!e.is_string()) Fail(e, fmt::format("'{}' must hold strings, not {}", key, TypeName(e)));
      out.push_back(e.as_string()->get());
    }
  }
  return out;
}

void TableReader::Done() const { RefuseUnknown({}); }

void TableReader::RefuseUnknown(const std::vector<std::string>& known) const {
  for (auto&& [key, node] : table_) {
    std::string k(key.str());
    if (asked_.count(k) != 0 || std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::vector<std::string> allowed(asked_.begin(), asked_.end());
    allowed.insert(allowed.end(), known.begin(), known.end());
    std::string near = ClosestName(k, allowed);
    throw SuiteError(PosOf(key, file_),
                     fmt::format("unknown key '{}' in {}{}", k, what_,
                                 near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
  }
}

Value ParseValue(const toml::node& node, const std::string& text,
                 const std::set<std::string>& names, const std::string& file) {
  Value v;
  v.where = PosOf(node, file);
  try {
    v.expr = Expression::Parse(text, names);
  } catch (const ExpressionError& e) {
    SourcePos at = v.where;
    at.column = static_cast<uint32_t>(at.column + e.column());  // +1 for the opening quote, -1
    throw SuiteError(at, fmt::format("bad expression \"{}\": {}", text, e.what()));
  }
  return v;
}

void CheckRange(const Value& v, Range range, const std::string& field,
                const std::map<std::string, int64_t>& params) {
  if (!v.expr.sysctls().empty()) return;  // depends on the running namespace: checked then
  for (const std::string& name : v.expr.names()) {
    // While parsing, matrix values are not bound yet; LoadSuite checks every case again.
    if (params.count(name) == 0) return;
  }
  int64_t x;
  try {
    Expression::Context ctx;
    ctx.names = &params;
    x = v.expr.Evaluate(ctx);
  } catch (const Error& e) {
    throw SuiteError(v.where, fmt::format("'{}': {}", field, e.what()));
  }
  if (x < range.min || x > range.max) {
    std::string with;
    for (const auto& [k, val] : params)
      with += fmt::format("{}{}={}", with.empty() ? " with " : ", ", k, val);
    throw SuiteError(v.where, fmt::format("'{}' is {}{}; it must be {} to {}", field, x, with,
                                          range.min, range.max));
  }
}

}  // namespace nstest
