// The optimizers and gradient clipping on CUDA against the CPU (whose steps test_optim.cpp
// checks against PyTorch): the same parameters and the same gradient sequence on both devices,
// then every parameter, every state buffer and every step count compared. The state must live
// on the parameters' device. CUDA allocations are poisoned throughout, so a state buffer the
// backend forgets to initialize shows as NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "libnn/cuda.hpp"
#include "libnn/ops.hpp"
#include "libnn/optim.hpp"

namespace {

using cuda_test::kCpu;
using cuda_test::kCuda;
using cuda_test::rel_error;
using nn::Tensor;
namespace optim = nn::optim;

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

struct OptimCase {
  std::string name;
  MakeOptimizer make;
};

void PrintTo(const OptimCase& c, std::ostream* os) { *os << c.name; }

template <class Opt, class Options>
MakeOptimizer maker(Options options) {
  return [options](std::vector<Tensor> params) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<Opt>(std::move(params), options);
  };
}

std::vector<OptimCase> optim_cases() {
  using optim::AdamOptions;
  using optim::AdamWOptions;
  using optim::RMSpropOptions;
  using optim::SGDOptions;
  return {
      {"SGD", maker<optim::SGD>(SGDOptions(0.1))},
      {"SGD_momentum", maker<optim::SGD>(SGDOptions(0.1).momentum(0.9))},
      {"SGD_momentum_dampening_weight_decay",
       maker<optim::SGD>(SGDOptions(0.05).momentum(0.8).dampening(0.3).weight_decay(0.01))},
      {"SGD_nesterov_weight_decay",
       maker<optim::SGD>(SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.02))},
      {"SGD_maximize", maker<optim::SGD>(SGDOptions(0.1).momentum(0.5).maximize(true))},
      {"Adam", maker<optim::Adam>(AdamOptions(1e-2))},
      {"Adam_weight_decay_amsgrad",
       maker<optim::Adam>(AdamOptions(1e-2).weight_decay(0.1).amsgrad(true))},
      {"Adam_maximize", maker<optim::Adam>(AdamOptions(1e-2).betas({0.8, 0.99}).maximize(true))},
      {"AdamW", maker<optim::AdamW>(AdamWOptions(1e-2))},
      {"AdamW_amsgrad", maker<optim::AdamW>(AdamWOptions(1e-2).amsgrad(true))},
      {"AdamW_weight_decay_maximize",
       maker<optim::AdamW>(AdamWOptions(1e-2).weight_decay(0.1).maximize(true).eps(1e-6))},
      {"AdamW_amsgrad_maximize",
       maker<optim::AdamW>(AdamWOptions(2e-2).amsgrad(true).maximize(true).weight_decay(0.05))},
      {"RMSprop", maker<optim::RMSprop>(RMSpropOptions(1e-2))},
      {"RMSprop_centered", maker<optim::RMSprop>(RMSpropOptions(1e-2).centered(true))},
      {"RMSprop_momentum", maker<optim::RMSprop>(RMSpropOptions(1e-2).momentum(0.9))},
      {"RMSprop_centered_momentum_weight_decay",
       maker<optim::RMSprop>(
           RMSpropOptions(1e-2).centered(true).momentum(0.5).weight_decay(0.05).alpha(0.9))},
      {"RMSprop_maximize", maker<optim::RMSprop>(RMSpropOptions(1e-2).maximize(true))},
  };
}

// Shapes of the parameters: small ones, one that is not a multiple of any vector width, one
// large enough for many blocks, a single element. The last gets a gradient on odd steps only
// (an optimizer skips a parameter without one, its state untouched).
const std::vector<nn::Shape> kShapes = {{7, 5}, {13}, {3, 4, 6}, {257, 33}, {1}, {6}};
constexpr std::size_t kSometimesSkipped = 5;
constexpr int kSteps = 5;

class CudaOptim : public ::testing::TestWithParam<OptimCase> {};

TEST_P(CudaOptim, StepsMatchCpu) {
  NN_REQUIRE_CUDA();
  const OptimCase& c = GetParam();
  nn::Generator gen = cuda_test::test_generator();
  SCOPED_TRACE("seed " + std::to_string(gen.seed()));

  std::vector<Tensor> cpu_params, cuda_params;
  for (const nn::Shape& shape : kShapes) {
    const Tensor init = nn::randn(shape, &gen);
    Tensor p_cpu = init.clone();
    Tensor p_cuda = init.to(kCuda);
    p_cpu.set_requires_grad(true);
    p_cuda.set_requires_grad(true);
    cpu_params.push_back(p_cpu);
    cuda_params.push_back(p_cuda);
  }
  cuda_test::PoisonGuard poison;
  const auto cpu_opt = c.make(cpu_params);
  const auto cuda_opt = c.make(cuda_params);

  for (int step = 0; step < kSteps; ++step) {
    for (std::size_t i = 0; i < kShapes.size(); ++i) {
      if (i == kSometimesSkipped && step % 2 == 0) {
        cpu_params[i].zero_grad(/*set_to_none=*/true);
        cuda_params[i].zero_grad(/*set_to_none=*/true);
        continue;
      }
      // Gradients of a few scales, so eps and the weight decay both matter somewhere.
      const float scale = i == 2 ? 1e-3f : 1.0f;
      const Tensor g = nn::randn(kShapes[i], &gen) * static_cast<double>(scale);
      cpu_params[i].set_grad(g.clone());
      cuda_params[i].set_grad(g.to(kCuda));
    }
    cpu_opt->step();
    try {
      cuda_opt->step();
    } catch (const nn::Error& e) {
      FAIL() << c.name << ": step " << step << " failed on CUDA: " << e.what();
    }
  }

  for (std::size_t i = 0; i < kShapes.size(); ++i) {
    EXPECT_EQ(cuda_params[i].device(), kCuda) << "parameter " << i << " left the GPU";
    const double err = rel_error(cuda_params[i], cpu_params[i]);
    EXPECT_LE(err, 1e-6) << c.name << ": parameter " << i << " after " << kSteps
                         << " steps: ||cuda - cpu|| / ||cpu|| = " << err;
    EXPECT_EQ(cuda_opt->step_count(i), cpu_opt->step_count(i)) << "parameter " << i;
  }

  // Every state buffer and step count, through save_state (whose tensors are clones of the
  // live buffers, so they show where those live).
  optim::TrainingState cpu_state, cuda_state;
  cpu_opt->save_state(cpu_state);
  cuda_opt->save_state(cuda_state);
  EXPECT_EQ(cuda_state.ints, cpu_state.ints);
  ASSERT_EQ(cuda_state.tensors.size(), cpu_state.tensors.size());
  for (const auto& [key, expected] : cpu_state.tensors) {
    const auto it = cuda_state.tensors.find(key);
    ASSERT_NE(it, cuda_state.tensors.end()) << "the CUDA optimizer's state lacks " << key;
    EXPECT_EQ(it->second.device(), kCuda)
        << key << " lives on " << it->second.device().str() << ", not on its parameter's device";
    const double err = rel_error(it->second, expected);
    EXPECT_LE(err, 1e-6) << c.name << ": state " << key << ": ||cuda - cpu|| / ||cpu|| = " << err;
  }
}

std::string optim_case_name(const ::testing::TestParamInfo<OptimCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CudaOptim, ::testing::ValuesIn(optim_cases()),
                         optim_case_name);

// --- clipping ------------------------------------------------------------------------------------

struct ClipParams {
  std::vector<Tensor> cpu, cuda;
};

// Parameters with the same gradients on both devices; gradients of order `scale`.
ClipParams clip_params(nn::Generator& gen, float scale) {
  ClipParams out;
  for (const nn::Shape& shape : {nn::Shape{1000, 37}, nn::Shape{129}, nn::Shape{5, 5}}) {
    const Tensor p = nn::randn(shape, &gen);
    const Tensor g = nn::randn(shape, &gen) * static_cast<double>(scale);
    Tensor a = p.clone(), b = p.to(kCuda);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    a.set_grad(g.clone());
    b.set_grad(g.to(kCuda));
    out.cpu.push_back(a);
    out.cuda.push_back(b);
  }
  // A parameter without a gradient: skipped by both.
  Tensor none_cpu = nn::zeros({3}), none_cuda = nn::zeros({3}, kCuda);
  none_cpu.set_requires_grad(true);
  none_cuda.set_requires_grad(true);
  out.cpu.push_back(none_cpu);
  out.cuda.push_back(none_cuda);
  return out;
}

class CudaClipGradNorm : public ::testing::TestWithParam<double> {};

TEST_P(CudaClipGradNorm, SameTotalAndSameClippedGradients) {
  NN_REQUIRE_CUDA();
  const double norm_type = GetParam();
  nn::Generator gen = cuda_test::test_generator();
  for (const double max_norm : {0.5, 1e9}) {  // clipping, then not
    SCOPED_TRACE("norm_type " + std::to_string(norm_type) + ", max_norm " +
                 std::to_string(max_norm));
    ClipParams p = clip_params(gen, 3.0f);
    const double total_cpu = optim::clip_grad_norm_(p.cpu, max_norm, norm_type);
    double total_cuda = 0.0;
    try {
      total_cuda = optim::clip_grad_norm_(p.cuda, max_norm, norm_type);
    } catch (const nn::Error& e) {
      FAIL() << "clip_grad_norm_ failed on CUDA: " << e.what();
    }
    if (std::isinf(norm_type)) {
      // max |g|: no rounding anywhere, the same float on both devices
      EXPECT_EQ(total_cuda, total_cpu);
    } else {
      // Both sum |g|^p in double; only the order of the sum differs.
      EXPECT_NEAR(total_cuda, total_cpu, 1e-7 * total_cpu);
    }
    for (std::size_t i = 0; i < 3; ++i) {
      const double err = rel_error(p.cuda[i].grad(), p.cpu[i].grad());
      EXPECT_LE(err, 1e-6) << "gradient " << i << ": ||cuda - cpu|| / ||cpu|| = " << err;
      EXPECT_EQ(p.cuda[i].grad().device(), kCuda);
      if (max_norm > 1e8) {  // no clipping: the gradients are untouched, bit for bit
        EXPECT_TRUE(cuda_test::same_bits(p.cuda[i].grad(), p.cpu[i].grad())) << "gradient " << i;
      }
    }
    EXPECT_FALSE(p.cuda[3].grad().defined());
  }
}

TEST_P(CudaClipGradNorm, NonFiniteGradientGivesNaNTotalAndCanThrow) {
  NN_REQUIRE_CUDA();
  const double norm_type = GetParam();
  nn::Generator gen = cuda_test::test_generator();
  ClipParams p = clip_params(gen, 1.0f);
  // A NaN in the middle of the large gradient, on both devices.
  std::vector<float> g = p.cpu[0].grad().to_vector<float>();
  g[g.size() / 2 + 3] = std::numeric_limits<float>::quiet_NaN();
  p.cpu[0].set_grad(nn::from_vector(g, p.cpu[0].sizes()));
  p.cuda[0].set_grad(nn::from_vector(g, p.cuda[0].sizes()).to(kCuda));
  const double total_cpu = optim::clip_grad_norm_(p.cpu, 1.0, norm_type);
  ASSERT_TRUE(std::isnan(total_cpu)) << "the CPU reference";
  const double total_cuda = optim::clip_grad_norm_(p.cuda, 1.0, norm_type);
  EXPECT_TRUE(std::isnan(total_cuda))
      << "norm_type " << norm_type << ": a NaN gradient gave a total of " << total_cuda
      << " on CUDA (a max that drops NaNs?)";
  const std::string msg = cuda_test::error_message(
      [&] { optim::clip_grad_norm_(p.cuda, 1.0, norm_type, /*error_if_nonfinite=*/true); });
  EXPECT_TRUE(cuda_test::contains(msg, "clip_grad_norm_")) << msg;
}

INSTANTIATE_TEST_SUITE_P(NormTypes, CudaClipGradNorm,
                         ::testing::Values(2.0, 1.0, std::numeric_limits<double>::infinity()),
                         [](const ::testing::TestParamInfo<double>& info) -> std::string {
                           if (std::isinf(info.param)) return "inf";
                           return "p" + std::to_string(static_cast<int>(info.param));
                         });

TEST(CudaClipGradValue, ClampsExactlyAsTheCpu) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  ClipParams p = clip_params(gen, 2.0f);
  cuda_test::PoisonGuard poison;
  optim::clip_grad_value_(p.cpu, 0.75);
  try {
    optim::clip_grad_value_(p.cuda, 0.75);
  } catch (const nn::Error& e) {
    FAIL() << "clip_grad_value_ failed on CUDA: " << e.what();
  }
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p.cuda[i].grad().device(), kCuda);
    // A clamp rounds nothing: the same bits.
    EXPECT_TRUE(cuda_test::same_bits(p.cuda[i].grad(), p.cpu[i].grad()))
        << "gradient " << i << " differs first at element "
        << cuda_test::first_difference(p.cuda[i].grad(), p.cpu[i].grad());
  }
  EXPECT_FALSE(p.cuda[3].grad().defined());
}

}  // namespace
