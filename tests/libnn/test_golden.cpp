// Replays every case of tests/libnn/golden/ops.safetensors (made by PyTorch, see
// golden/README.md) through libnn: outputs, and the gradients of every differentiable input
// after a backward seeded with the fixture's upstream gradients. Each tensor is compared with
// its own tolerance, and the report gives the worst error as a fraction of that tolerance.
#include <gtest/gtest.h>

#include <cmath>

#include "golden_support.hpp"
#include "libnn/autograd.hpp"

namespace {

// |ours - ref| <= atol + rtol * |ref| elementwise; returns the worst ratio err / tolerance.
double worst_fraction(const std::vector<double>& ours, const std::vector<double>& ref,
                      double atol, double rtol, std::size_t* where) {
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double tol = atol + rtol * std::abs(ref[i]);
    const double f = std::abs(ours[i] - ref[i]) / tol;
    if (!(f <= worst)) {  // NaN counts as worst
      worst = std::isnan(f) ? INFINITY : f;
      *where = i;
    }
  }
  return worst;
}

std::vector<double> values_of(const nn::Tensor& t) {
  std::vector<double> out;
  if (t.dtype() == nn::DType::Int64) {
    for (auto v : t.to_vector<std::int64_t>()) out.push_back(static_cast<double>(v));
  } else {
    for (auto v : t.to_vector<float>()) out.push_back(v);
  }
  return out;
}

void expect_close(const nn::Tensor& ours, const nn::io::StTensor& ref, const std::string& what) {
  const std::vector<double> expected = golden::to_doubles(ref);
  ASSERT_EQ(ours.sizes(), nn::Shape(ref.shape.begin(), ref.shape.end())) << what << ": shape";
  const std::vector<double> got = values_of(ours);
  // float32 arithmetic against a float64 reference: a few float32 ulps, plus an absolute floor
  // for values near zero. Integer outputs (argmax) must match exactly.
  const bool exact = ref.dtype == nn::io::StDType::I64;
  const double atol = exact ? 0.0 : 2e-5, rtol = exact ? 0.0 : 1e-4;
  std::size_t where = 0;
  const double fraction = exact ? (got == expected ? 0.0 : INFINITY)
                                : worst_fraction(got, expected, atol, rtol, &where);
  EXPECT_LE(fraction, 1.0) << what << ": worst error is " << fraction * 100
                           << "% of the allowed (atol " << atol << ", rtol " << rtol
                           << ") at element " << where << ": ours " << got[where]
                           << ", PyTorch " << expected[where];
}

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
    expect_close(outputs[j], golden::tensor(file, name), name);
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
    expect_close(inputs[i].grad(), golden::tensor(file, name), name);
  }
}

std::string case_name(const ::testing::TestParamInfo<golden::Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, Golden, ::testing::ValuesIn(golden::load_cases(golden::ops_file())),
                         case_name);

}  // namespace
