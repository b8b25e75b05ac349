// Every op in src/ops/op_table.hpp must have its checks: a PyTorch golden case (and with it a
// finite-difference gradient check, test_gradcheck.cpp runs every golden case), or a written
// reason why it cannot have one. Fails when an op is added without them, or when a golden case
// names an op the table lacks.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "golden_support.hpp"
#include "ops/op_table.hpp"

namespace {

// Ops that cannot have a golden case, and where they are checked instead.
const std::map<std::string, std::string> kNoGoldenCase = {
    {"dropout",
     "random mask: property tests in test_embedding_dropout_norm.cpp, gradient check "
     "GradcheckRandom.Dropout in test_gradcheck.cpp"},
};

TEST(OpTable, EveryOpHasGoldenAndGradientChecks) {
  std::map<std::string, int> golden_cases, differentiable_cases;
  for (const golden::Case& c : golden::load_cases(golden::ops_file())) {
    ++golden_cases[c.op];
    if (!c.grads.empty()) ++differentiable_cases[c.op];
  }
  for (std::string_view name : nn::ops::kOpNames) {
    const std::string op(name);
    if (kNoGoldenCase.count(op)) {
      EXPECT_EQ(golden_cases.count(op), 0u) << op << " is exempt but has golden cases: drop the exemption";
      continue;
    }
    EXPECT_GT(golden_cases[op], 0) << "op '" << op << "' has no case in tests/libnn/golden/ops.safetensors "
                                   << "(add one to make_fixtures.py)";
    EXPECT_GT(differentiable_cases[op], 0) << "op '" << op << "' has no case with a gradient, so no "
                                           << "finite-difference check";
  }
}

TEST(OpTable, EveryGoldenCaseNamesAKnownOp) {
  const std::set<std::string_view> known(nn::ops::kOpNames.begin(), nn::ops::kOpNames.end());
  for (const golden::Case& c : golden::load_cases(golden::ops_file())) {
    EXPECT_TRUE(known.count(c.op)) << c.name << ": op '" << c.op << "' is not in op_table.hpp";
  }
}

TEST(OpTable, NamesAreUnique) {
  const std::set<std::string_view> names(nn::ops::kOpNames.begin(), nn::ops::kOpNames.end());
  EXPECT_EQ(names.size(), nn::ops::kOpNames.size());
}

}  // namespace
