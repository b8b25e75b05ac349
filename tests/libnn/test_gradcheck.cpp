// Finite-difference gradient checks, independent of PyTorch: for every case of the golden
// fixture file (whose inputs sit away from kinks and ties) and for dropout (random, so no
// golden case), the gradient our backward computes for L = sum_j <out_j, gout_j> is compared
// with a fourth-order central difference of L computed from our own forward.
//
// Precision: the ops compute in float32, L is summed in double. With step h the stencil's
// truncation error is O(h^4) and its rounding error about eps32 * |L| * sqrt(n) / h; with
// h = 5e-3 that is ~1e-3 at worst here, while a wrong or missing term in a backward changes
// a gradient by O(0.1..1). Tolerance: 3e-3 + 1e-2 * |analytic|.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "golden_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/random.hpp"

namespace {

using Forward = std::function<std::vector<nn::Tensor>(const std::vector<nn::Tensor>&)>;

double objective(const std::vector<nn::Tensor>& outputs, const std::vector<nn::Tensor>& gouts) {
  double total = 0.0;
  for (std::size_t j = 0; j < gouts.size(); ++j) {
    if (!gouts[j].defined()) continue;
    const auto out = outputs[j].to_vector<float>();
    const auto g = gouts[j].to_vector<float>();
    for (std::size_t k = 0; k < out.size(); ++k) total += static_cast<double>(out[k]) * g[k];
  }
  return total;
}

// Checks d objective / d inputs[i] for every i in `diff`.
void gradcheck(const std::string& label, const Forward& forward, const std::vector<nn::Tensor>& inputs,
               const std::vector<int>& diff, const std::vector<nn::Tensor>& gouts_in) {
  // Analytic.
  std::vector<nn::Tensor> leaves;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    nn::Tensor t = inputs[i].clone();
    if (std::find(diff.begin(), diff.end(), static_cast<int>(i)) != diff.end()) t.set_requires_grad(true);
    leaves.push_back(t);
  }
  const std::vector<nn::Tensor> outputs = forward(leaves);
  std::vector<nn::Tensor> gouts = gouts_in;
  gouts.resize(outputs.size());
  std::vector<nn::Tensor> roots, seeds;
  for (std::size_t j = 0; j < outputs.size(); ++j) {
    if (gouts[j].defined()) {
      roots.push_back(outputs[j]);
      seeds.push_back(gouts[j]);
    }
  }
  nn::backward(roots, seeds);

  // Numeric, input by input, element by element.
  nn::NoGradGuard no_grad;
  for (int i : diff) {
    ASSERT_TRUE(leaves[i].grad().defined()) << label << ": no gradient for input " << i;
    const auto analytic = leaves[i].grad().to_vector<float>();
    const auto base = inputs[i].to_vector<float>();
    double worst = 0.0;
    std::size_t worst_k = 0;
    double worst_numeric = 0.0;
    for (std::size_t k = 0; k < base.size(); ++k) {
      const double h = 5e-3;
      auto at = [&](double delta) {
        std::vector<nn::Tensor> probe;
        for (std::size_t m = 0; m < inputs.size(); ++m) probe.push_back(inputs[m].clone());
        std::vector<float> v = base;
        v[k] = static_cast<float>(base[k] + delta);
        probe[i] = nn::from_vector(v, inputs[i].sizes());
        return objective(forward(probe), gouts);
      };
      // The perturbation actually applied, after rounding to float32.
      const double h1 = static_cast<float>(base[k] + h) - base[k];
      const double numeric =
          (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h1);
      const double tol = 3e-3 + 1e-2 * std::abs(analytic[k]);
      const double fraction = std::abs(numeric - analytic[k]) / tol;
      if (!(fraction <= worst)) {
        worst = std::isnan(fraction) ? INFINITY : fraction;
        worst_k = k;
        worst_numeric = numeric;
      }
    }
    EXPECT_LE(worst, 1.0) << label << ", input " << i << ": worst error " << worst * 100
                          << "% of the allowed at element " << worst_k << ": analytic "
                          << analytic[worst_k] << ", finite difference " << worst_numeric;
  }
}

class Gradcheck : public ::testing::TestWithParam<golden::Case> {};

TEST_P(Gradcheck, MatchesFiniteDifferences) {
  const golden::Case& c = GetParam();
  if (c.grads.empty()) GTEST_SKIP() << c.name << " has no differentiable input";
  const nn::io::StFile& file = golden::ops_file();
  std::vector<nn::Tensor> inputs, gouts;
  for (int i = 0; i < c.inputs; ++i) {
    inputs.push_back(golden::to_tensor(golden::tensor(file, c.name + "/in" + std::to_string(i))));
  }
  for (int j = 0; j < c.outputs; ++j) {
    const auto* g = file.find(c.name + "/gout" + std::to_string(j));
    gouts.push_back(g ? golden::to_tensor(*g) : nn::Tensor());
  }
  gradcheck(c.name, [&](const std::vector<nn::Tensor>& in) { return golden::run(c.op, c.args, in); },
            inputs, c.grads, gouts);
}

std::string case_name(const ::testing::TestParamInfo<golden::Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, Gradcheck, ::testing::ValuesIn(golden::load_cases(golden::ops_file())),
                         case_name);

// dropout is random, so it has no golden case; with a generator reseeded for every forward
// the mask is fixed and the op is differentiable like any other.
TEST(GradcheckRandom, Dropout) {
  nn::Generator gen(7);
  const nn::Tensor x = nn::randn({4, 6}, &gen);
  const nn::Tensor gout = nn::randn({4, 6}, &gen);
  gradcheck("dropout",
            [](const std::vector<nn::Tensor>& in) {
              nn::Generator mask_gen(1234);
              return std::vector<nn::Tensor>{nn::dropout(in[0], 0.3, /*training=*/true, &mask_gen)};
            },
            {x}, {0}, {gout});
}

}  // namespace
