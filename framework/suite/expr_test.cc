#include "nstest/expr.h"

#include <gtest/gtest.h>

#include <limits>

namespace nstest {
namespace {

int64_t Eval(const std::string& text, std::map<std::string, int64_t> names = {}) {
  std::set<std::string> known;
  for (const auto& [k, v] : names) known.insert(k);
  Expression e = Expression::Parse(text, known);
  Expression::Context ctx;
  ctx.names = &names;
  ctx.sysctl = [](const Expression::SysctlRef& r) -> std::optional<int64_t> {
    if (r.key == "net.core.somaxconn") return r.netns.empty() ? 4096 : 128;
    if (r.key == "net.ipv4.absent") return std::nullopt;
    throw Error("sysctl '" + r.key + "' is not a number");
  };
  return e.Evaluate(ctx);
}

TEST(ExpressionTest, Arithmetic) {
  EXPECT_EQ(Eval("42"), 42);
  EXPECT_EQ(Eval("1 + 2 * 3"), 7);
  EXPECT_EQ(Eval("(1 + 2) * 3"), 9);
  EXPECT_EQ(Eval("-3 - -4"), 1);
  EXPECT_EQ(Eval("7 / 2"), 3);
  EXPECT_EQ(Eval("7 % 4"), 3);
  EXPECT_EQ(Eval("abs(-5)"), 5);
}

TEST(ExpressionTest, NamesFunctionsAndSysctls) {
  EXPECT_EQ(Eval("backlog + 1", {{"backlog", 4}}), 5);
  EXPECT_EQ(Eval("min(backlog, sysctl(\"net.core.somaxconn\")) + 1", {{"backlog", 100000}}), 4097);
  EXPECT_EQ(Eval("max(1, 2, 3)"), 3);
  EXPECT_EQ(Eval("sysctl(\"client\", \"net.core.somaxconn\")"), 128);
  Expression e = Expression::Parse("sysctl(\"client\", \"net.ipv4.x\") + sysctl(\"net.y\")", {});
  ASSERT_EQ(e.sysctls().size(), 2u);
  EXPECT_EQ(e.sysctls()[0].netns, "client");
  EXPECT_EQ(e.sysctls()[1].key, "net.y");
  EXPECT_EQ(Expression::Parse("min(backlog, n) + backlog", {"backlog", "n", "x"}).names(),
            (std::set<std::string>{"backlog", "n"}));
  EXPECT_TRUE(Expression::Parse("12", {}).is_constant());
  EXPECT_FALSE(Expression::Parse("1 + 1", {}).is_constant());
}

TEST(ExpressionTest, SysctlDefaultStandsForAKeyTheKernelLacks) {
  EXPECT_EQ(Eval("sysctl(\"client\", \"net.ipv4.absent\", 1 + 2)"), 3);
  EXPECT_EQ(Eval("sysctl(\"net.ipv4.absent\", backlog)", {{"backlog", 7}}), 7);
  // A key the kernel has ignores the default.
  EXPECT_EQ(Eval("sysctl(\"client\", \"net.core.somaxconn\", 5)"), 128);
  Expression e = Expression::Parse("sysctl(\"c\", \"net.a\", 0) + sysctl(\"net.b\")", {});
  ASSERT_EQ(e.sysctls().size(), 2u);
  EXPECT_TRUE(e.sysctls()[0].has_default);
  EXPECT_FALSE(e.sysctls()[1].has_default);
  try {
    Eval("sysctl(\"client\", \"net.ipv4.absent\")");
    FAIL() << "evaluated a missing key without a default";
  } catch (const Error& err) {
    EXPECT_STREQ(err.what(),
                 "evaluate 'sysctl(\"client\", \"net.ipv4.absent\")': this kernel has no sysctl "
                 "'net.ipv4.absent'; give a default for such kernels: "
                 "sysctl(\"client\", \"net.ipv4.absent\", 0)");
  }
}

struct Bad {
  const char* text;
  size_t column;
  const char* message;
};

class ExpressionParseErrorTest : public ::testing::TestWithParam<Bad> {};

TEST_P(ExpressionParseErrorTest, SaysWhereAndWhat) {
  try {
    Expression::Parse(GetParam().text, {"backlog", "count"});
    FAIL() << "parsed " << GetParam().text;
  } catch (const ExpressionError& e) {
    EXPECT_EQ(e.column(), GetParam().column) << GetParam().text;
    EXPECT_STREQ(e.what(), GetParam().message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExpressionParseErrorTest,
    ::testing::Values(Bad{"backlg + 1", 1, "unknown name 'backlg'; did you mean 'backlog'?"},
                      Bad{"1 +", 4, "expected a number, a name or '(' at the end"},
                      Bad{"(1 + 2", 7, "expected ')' at the end"}, Bad{"1 2", 3, "unexpected '2'"},
                      Bad{"mix(1, 2)", 1, "unknown function 'mix'; did you mean 'min'?"},
                      Bad{"sysctl(net.core.somaxconn)", 8, "expected a quoted string"},
                      Bad{"sysctl(\"net.core", 8, "unterminated string"},
                      Bad{"sysctl(\"c\", \"net.a\", 1, 2)", 23, "expected ')' but found ','"},
                      Bad{"99999999999999999999", 1, "number out of range"},
                      Bad{"abs(1, 2)", 1, "abs() takes one argument"},
                      Bad{"", 1, "expected a number, a name or '(' at the end"},
                      Bad{"1 $ 2", 3, "unexpected '$'"}));

TEST(ExpressionTest, DepthAndLengthAreBounded) {
  EXPECT_THROW(Expression::Parse(std::string(100, '(') + "1" + std::string(100, ')'), {}),
               ExpressionError);
  EXPECT_THROW(Expression::Parse(std::string(2000, '1'), {}), ExpressionError);
  EXPECT_EQ(Eval(std::string(60, '(') + "1" + std::string(60, ')')), 1);
}

TEST(ExpressionTest, OverflowAndDivisionByZeroAreErrors) {
  EXPECT_THROW(Eval("9223372036854775807 + 1"), Error);
  EXPECT_THROW(Eval("-9223372036854775807 - 2"), Error);
  EXPECT_THROW(Eval("4294967296 * 4294967296"), Error);
  EXPECT_THROW(Eval("1 / 0"), Error);
  EXPECT_THROW(Eval("1 % (2 - 2)"), Error);
  EXPECT_THROW(Eval("sysctl(\"net.other\")"), Error);
  try {
    Eval("1 / (backlog - 4)", {{"backlog", 4}});
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "evaluate '1 / (backlog - 4)': division by zero");
  }
}

}  // namespace
}  // namespace nstest
