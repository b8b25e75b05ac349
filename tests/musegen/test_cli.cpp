// cli::Parser: values reach their variables, --help lists every option with its default and
// range, and every malformed command line (an out-of-range value included) is a UsageError
// that names the argument.
#include <gtest/gtest.h>

#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.hpp"

namespace {

using musegen::cli::Parser;
namespace cli = musegen::cli;
using musegen::cli::UsageError;

struct Fixture {
  std::string out = "out.mgds";
  std::int64_t seed = 7;
  double lr = 0.001;
  bool verbose = false;
  bool on = true;
  std::string first;
  std::vector<std::string> rest;
  Parser parser{"demo", "FIRST REST... [options]", "A parser for tests."};
  Fixture() {
    parser.option("out", out, "FILE", "where to write")
        .option("seed", seed, "N", "the seed", cli::range(-10, 10))
        .option("lr", lr, "LR", "learning rate", cli::range(0, 1).open_low())
        .flag("verbose", verbose, "talk more")
        .flag("on", on, "a flag that is on by default")
        .positional("FIRST", first, "the first")
        .positionals("REST", rest, "the others", 1);
  }
  bool parse(std::vector<std::string> args) {
    std::ostringstream help;
    return parser.parse(args, help);
  }
};

TEST(Cli, ValuesReachTheirVariables) {
  Fixture f;
  ASSERT_TRUE(f.parse({"a", "--out", "x.mgds", "b", "--seed=-3", "--lr", "2e-3", "--verbose",
                       "--no-on", "c"}));
  EXPECT_EQ(f.out, "x.mgds");
  EXPECT_EQ(f.seed, -3);
  EXPECT_DOUBLE_EQ(f.lr, 2e-3);
  EXPECT_TRUE(f.verbose);
  EXPECT_FALSE(f.on);
  EXPECT_EQ(f.first, "a");
  EXPECT_EQ(f.rest, (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(f.parser.given("seed"));
  EXPECT_FALSE(Fixture().parser.given("seed"));
}

TEST(Cli, DoubleDashEndsOptions) {
  Fixture f;
  ASSERT_TRUE(f.parse({"a", "--", "--seed", "-x"}));
  EXPECT_EQ(f.rest, (std::vector<std::string>{"--seed", "-x"}));
  EXPECT_EQ(f.seed, 7);
}

TEST(Cli, HelpListsEveryOptionWithItsDefault) {
  Fixture f;
  std::ostringstream help;
  EXPECT_FALSE(f.parser.parse(std::vector<std::string>{"--help"}, help));
  const std::string text = help.str();
  for (const char* expected : {"usage: musegen demo FIRST REST... [options]", "--out FILE",
                               "(default: out.mgds)", "--seed N", "(allowed: -10..10; default: 7)",
                               "(allowed: 0 < LR <= 1; default: 0.001)",
                               "--verbose", "--no-on turns it off", "FIRST", "REST...", "--help"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing \"" << expected << "\" in\n" << text;
  }
  std::ostringstream short_help;
  EXPECT_FALSE(Fixture().parser.parse(std::vector<std::string>{"a", "-h"}, short_help));
  EXPECT_EQ(short_help.str(), text);
}

void expect_usage_error(std::vector<std::string> args, const std::string& expected) {
  Fixture f;
  try {
    f.parse(args);
    ADD_FAILURE() << "no error for " << ::testing::PrintToString(args);
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << expected << "\"";
  }
}

TEST(Cli, MalformedCommandLinesSayWhatIsWrong) {
  expect_usage_error({"a", "b", "--bogus"}, "unknown option \"--bogus\"");
  expect_usage_error({"a", "b", "--seed", "x1"}, "--seed: expected an integer, found \"x1\"");
  expect_usage_error({"a", "b", "--seed", "1.5"}, "--seed: expected an integer, found \"1.5\"");
  expect_usage_error({"a", "b", "--lr", ""}, "--lr: expected a number, found \"\"");
  expect_usage_error({"a", "b", "--lr"}, "--lr: expected a value (LR), found the end");
  expect_usage_error({"a", "b", "--verbose=yes"}, "--verbose is a flag and takes no value");
  expect_usage_error({"a"}, "expected at least 1 REST, found 0");
  expect_usage_error({}, "missing FIRST");
  expect_usage_error({"a", "b", "--no-out"}, "unknown option \"--no-out\"");
}

}  // namespace

namespace {

TEST(Cli, OutOfRangeValuesNameTheFlagTheRangeAndTheValue) {
  expect_usage_error({"a", "b", "--seed", "11"}, "--seed: expected -10..10, found 11");
  expect_usage_error({"a", "b", "--seed=-11"}, "--seed: expected -10..10, found -11");
  expect_usage_error({"a", "b", "--lr", "0"}, "--lr: expected 0 < LR <= 1, found 0");
  expect_usage_error({"a", "b", "--lr", "1.0000001"}, "--lr: expected 0 < LR <= 1, found 1.0000001");
  // A range with finite bounds refuses NaN and both infinities.
  for (const char* bad : {"nan", "NaN", "-nan", "inf", "-inf", "infinity"}) {
    expect_usage_error({"a", "b", "--lr", bad}, std::string("--lr: expected 0 < LR <= 1, found ") + bad);
  }
}

TEST(Cli, BoundaryValuesAreAccepted) {
  Fixture f;
  ASSERT_TRUE(f.parse({"a", "b", "--seed", "-10", "--lr", "1"}));
  EXPECT_EQ(f.seed, -10);
  EXPECT_DOUBLE_EQ(f.lr, 1);
  Fixture g;
  ASSERT_TRUE(g.parse({"a", "b", "--seed", "10", "--lr", "1e-300"}));
  EXPECT_EQ(g.seed, 10);
  EXPECT_GT(g.lr, 0);
}

TEST(Cli, ARangeMayAllowInfinityAndOneSpecialValue) {
  double limit = 1;
  std::int64_t program = -1;
  Parser p("demo", "[options]", "A parser for tests.");
  p.option("limit", limit, "L", "a limit", cli::range(0, cli::kInfinity))
      .option("program", program, "N", "a program", cli::range(0, 127).or_value(-1, "the default"));
  std::ostringstream help;
  ASSERT_TRUE(p.parse(std::vector<std::string>{"--limit", "inf", "--program", "127"}, help));
  EXPECT_EQ(limit, std::numeric_limits<double>::infinity());
  EXPECT_EQ(program, 127);
  ASSERT_TRUE(p.parse(std::vector<std::string>{"--program", "-1"}, help));
  EXPECT_EQ(program, -1);
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--limit", "nan"}, std::vector<std::string>{"--limit", "-inf"},
        std::vector<std::string>{"--program", "-2"}}) {
    EXPECT_THROW(p.parse(bad, help), UsageError) << ::testing::PrintToString(bad);
  }
  try {
    p.parse(std::vector<std::string>{"--program", "128"}, help);
    ADD_FAILURE() << "no error for --program 128";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--program: expected -1 (the default) or 0..127, found 128");
  }
  EXPECT_NE(p.help().find("(allowed: 0..inf; default: 1)"), std::string::npos) << p.help();
}

TEST(Cli, ADefaultOutsideItsRangeIsAProgrammingError) {
  std::int64_t n = -1;
  double x = std::numeric_limits<double>::quiet_NaN();
  Parser p("demo", "[options]", "A parser for tests.");
  EXPECT_THROW(p.option("n", n, "N", "a count", cli::range(0, 10)), std::logic_error);
  EXPECT_THROW(p.option("x", x, "X", "a number", cli::range(0, 10)), std::logic_error);
}

TEST(Cli, BigBoundsAreWrittenWhole) {
  EXPECT_EQ(cli::range(0, cli::kMaxSeed).text("N"), "0..9223372036854775807");
  EXPECT_EQ(cli::range(0, 1e6).text("N"), "0..1000000");
  EXPECT_EQ(cli::range(0.25, 4).text("F"), "0.25..4");
  EXPECT_EQ(cli::range(-100, 1).open_low().text("DB"), "-100 < DB <= 1");
}

}  // namespace
