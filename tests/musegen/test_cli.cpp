// cli::Parser: values reach their variables, --help lists every option with its default, and
// every malformed command line is a UsageError that names the argument.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace {

using musegen::cli::Parser;
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
        .option("seed", seed, "N", "the seed")
        .option("lr", lr, "LR", "learning rate")
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
                               "(default: out.mgds)", "--seed N", "(default: 7)", "(default: 0.001)",
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
