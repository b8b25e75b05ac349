// Replays every case of tests/libnn/golden/ops.safetensors (made by PyTorch, see
// golden/README.md) through libnn: outputs, and the gradients of every differentiable input
// after a backward seeded with the fixture's upstream gradients. Each tensor is compared with
// its own tolerance, and the report gives the worst error as a fraction of that tolerance.
#include <gtest/gtest.h>

#include <algorithm>

#include "golden_support.hpp"
#include "libnn/autograd.hpp"

namespace {

class Golden : public ::testing::TestWithParam<golden::Case> {};

TEST_P(Golden, MatchesPyTorch) {
  const golden::Case& c = GetParam();
  const nn::io::StFile& file = golden::ops_file();
  std::vector<nn::Tensor> inputs;
  for (int i = 0; i < c.inputs; ++i) {
    nn::Tensor t = golden::to_tensor(golden::tensor(file, c.name + "/in" + std::to_string(i)));
    if (std::find(c.grads.begin(), c.grads.end(), i) != c.grads.end()) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  const std::vector<nn::Tensor> outputs = golden::run(c.op, c.args, inputs);
  ASSERT_EQ(static_cast<int>(outputs.size()), c.outputs);
  std::vector<nn::Tensor> roots, gouts;
  for (int j = 0; j < c.outputs; ++j) {
    const std::string name = c.name + "/out" + std::to_string(j);
    golden::expect_close(outputs[j], golden::tensor(file, name), name);
    if (const auto* gout = file.find(c.name + "/gout" + std::to_string(j))) {
      roots.push_back(outputs[j]);
      gouts.push_back(golden::to_tensor(*gout));
    }
  }
  if (c.grads.empty()) return;
  nn::backward(roots, gouts);
  for (int i : c.grads) {
    const std::string name = c.name + "/grad" + std::to_string(i);
    ASSERT_TRUE(inputs[i].grad().defined()) << name << ": no gradient reached input " << i;
    golden::expect_close(inputs[i].grad(), golden::tensor(file, name), name);
  }
}

std::string case_name(const ::testing::TestParamInfo<golden::Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, Golden, ::testing::ValuesIn(golden::load_cases(golden::ops_file())),
                         case_name);

}  // namespace
