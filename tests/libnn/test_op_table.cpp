// Every op in src/ops/op_table.hpp must have its checks: a PyTorch golden case (and with it a
// finite-difference gradient check, test_gradcheck.cpp runs every golden case), or a written
// reason why it cannot have one. Fails when an op is added without them, or when a golden case
// names an op the table lacks. And every kernel table must have a kernel for every backend the
// build has (the CUDA backend's, checked without a GPU: registering needs none).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "golden_support.hpp"
#include "kernels/table.hpp"
#include "libnn/cuda.hpp"
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

// With the CUDA backend built, nn::cuda::init() (which needs no GPU) must fill the CUDA slot of
// every kernel table: a kernel without one would fail at run time on a GPU, or worse, only for
// the users of that op.
TEST(OpTable, EveryKernelTableHasACudaKernelWhenCudaIsBuilt) {
  if (!nn::cuda::is_built()) {
    GTEST_SKIP() << "no CUDA backend to check: " << nn::cuda::unavailable_reason();
  }
  nn::cuda::init();
  const auto& tables = nn::kernels::all_tables();
  ASSERT_FALSE(tables.empty()) << "no kernel table registered itself";
  for (const nn::kernels::TableInfo& t : tables) {
    EXPECT_TRUE(t.supports(t.table, nn::DeviceType::CPU))
        << "kernel '" << t.name << "' has no CPU kernel";
    EXPECT_TRUE(t.supports(t.table, nn::DeviceType::CUDA))
        << "kernel '" << t.name << "' has no CUDA kernel";
  }
  // Each table is listed once, under its own name.
  std::map<std::string, int> seen;
  for (const nn::kernels::TableInfo& t : tables) ++seen[t.name];
  for (const auto& [name, count] : seen) {
    EXPECT_EQ(count, 1) << "kernel '" << name << "' is listed " << count << " times";
  }
}

// In every build, GPU or not: is_available() and unavailable_reason() agree and never throw;
// without the backend nothing is available and the reason says so.
TEST(OpTable, CudaAvailabilityAndItsReasonAgree) {
  if (!nn::cuda::is_built()) {
    EXPECT_FALSE(nn::cuda::is_available());
    EXPECT_FALSE(nn::cuda::unavailable_reason().empty());
  }
  if (nn::cuda::is_available()) {
    EXPECT_TRUE(nn::cuda::is_built());
    EXPECT_GT(nn::cuda::device_count(), 0);
    EXPECT_TRUE(nn::cuda::unavailable_reason().empty()) << nn::cuda::unavailable_reason();
  } else {
    EXPECT_EQ(nn::cuda::device_count(), 0);
    EXPECT_FALSE(nn::cuda::unavailable_reason().empty());
  }
}

}  // namespace
