// Reading TOML tables strictly: every key must be one the reader asked for, every value must
// have the asked type, and errors carry file:line:col. Private to the suite loader; toml++ is
// used only by the loader's translation units.
#ifndef NSTEST_SUITE_SUITE_READER_H_
#define NSTEST_SUITE_SUITE_READER_H_

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nstest/suite.h"

namespace nstest {

SourcePos PosOf(const toml::node& node, const std::string& file);
SourcePos PosOf(const toml::key& key, const std::string& file);
const char* TypeName(const toml::node& node);

struct Range {
  int64_t min;
  int64_t max;
};

class TableReader {
 public:
  TableReader(const toml::table& table, std::string file, std::string what);

  const toml::table& table() const { return table_; }
  const std::string& file() const { return file_; }
  SourcePos where() const { return PosOf(table_, file_); }

  const toml::node* Node(const char* key);
  std::optional<std::string> String(const char* key);
  std::string String(const char* key, const std::string& fallback);
  // One of `choices`; an unknown one gets "did you mean".
  std::string Choice(const char* key, const std::vector<std::string>& choices,
                     const std::string& fallback);
  std::optional<bool> Bool(const char* key);
  // An integer or an expression string over `names`. Constants are range-checked here.
  std::optional<Value> Number(const char* key, const std::set<std::string>& names, Range range);
  std::optional<double> Real(const char* key);
  const toml::table* Table(const char* key);
  const toml::array* Array(const char* key);
  std::vector<std::string> Strings(const char* key);

  // Throws for a key nobody asked for, suggesting the nearest asked-for one.
  void Done() const;
  // Throws for a key that is neither asked for yet nor one of `known`, suggesting the nearest of
  // both: a misspelt key is reported before what its absence makes wrong.
  void RefuseUnknown(const std::vector<std::string>& known) const;

  [[noreturn]] void Fail(const toml::node& at, const std::string& message) const;
  [[noreturn]] void FailKey(const char* key, const std::string& message) const;

 private:
  const toml::table& table_;
  std::string file_;
  std::string what_;
  std::set<std::string> asked_;
};

// Parses an expression string at `node`, mapping its column into the file.
Value ParseValue(const toml::node& node, const std::string& text,
                 const std::set<std::string>& names, const std::string& file);
// Throws SuiteError if a constant value lies outside `range`.
void CheckRange(const Value& v, Range range, const std::string& field,
                const std::map<std::string, int64_t>& params);

// What reading one test consults besides its tables.
struct TestScope {
  SysctlKeyChecker& keys;
  // The test is gated to a newer kernel than the running one (min_kernel): it is skipped here, so
  // the sysctl keys and counters it names need not exist on this kernel; their spelling is still
  // checked.
  bool newer_kernel = false;
};

Step ParseStep(const toml::table& table, const std::string& file,
               const std::set<std::string>& params, const std::vector<std::string>& namespaces,
               const TestScope& scope, std::set<std::string>* holds,
               std::set<std::string>* captures, std::set<std::string>* labels,
               std::set<std::string>* processes);

}  // namespace nstest

#endif  // NSTEST_SUITE_SUITE_READER_H_
