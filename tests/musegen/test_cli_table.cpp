// The command-line harness itself (cli_table.hpp): it sees exit codes, messages and changed
// files, so the tables of commands that use it can fail.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_table.hpp"
#include "test_support.hpp"

namespace {

using musegen::test::CliCase;
using musegen::test::expect_case;
using musegen::test::run_musegen;

TEST(CliTable, ExitCodesAndMessagesOfTheBinary) {
  const auto dir = musegen::test::fresh_temp_dir("cli_table");
  expect_case({"help", {"--help"}, 0, "usage: musegen", {}}, dir);
  expect_case({"an unknown command", {"compose"}, 2, "compose", {}}, dir);
  expect_case({"a missing input", {"to-midi", "absent.tokens", "--out", "out.mid"}, 1, "absent.tokens", {}}, dir);
  std::filesystem::remove_all(dir);
}

TEST(CliTable, SeesAChangedFile) {
  const auto dir = musegen::test::fresh_temp_dir("cli_table");
  {
    std::ofstream(dir / "x.txt") << "before";
  }
  const std::string before = musegen::test::file_hash(dir / "x.txt");
  {
    std::ofstream(dir / "x.txt") << "after";
  }
  EXPECT_NE(musegen::test::file_hash(dir / "x.txt"), before);
  EXPECT_EQ(musegen::test::file_hash(dir / "absent"), "absent");
  EXPECT_EQ(musegen::test::file_hash(dir), "not a regular file");
  const auto r = run_musegen({"--help"}, dir);
  EXPECT_TRUE(musegen::test::clean_ending(r));
  EXPECT_FALSE(r.out.empty() && r.err.empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
