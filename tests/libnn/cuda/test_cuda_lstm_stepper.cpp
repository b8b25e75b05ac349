// nn::LSTMStepper on CUDA (src/cuda/lstm_step.cu: one fused launch per layer) against the
// same stepper on the CPU (itself checked bit for bit against nn::LSTM by
// tests/libnn/test_lstm_stepper.cpp): float32 and float16 weights, B = 1..6 (above 4 in
// groups of 4), layer counts and sizes that take the 16-byte loads and sizes that do not,
// with and without bias, with and without the embedding folded in; the state carried over
// several steps. Skips without a GPU.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/modules/lstm_stepper.hpp"
#include "libnn/ops.hpp"

namespace {

using cuda_test::kCpu;
using cuda_test::kCuda;
using nn::Tensor;

struct Config {
  std::int64_t I, H, L;
  bool bias = true;
};

std::string describe(const Config& c, std::int64_t B, nn::DType dtype) {
  return "I=" + std::to_string(c.I) + " H=" + std::to_string(c.H) + " L=" + std::to_string(c.L) +
         " B=" + std::to_string(B) + (c.bias ? "" : " no bias") +
         (dtype == nn::DType::Float16 ? " float16" : " float32");
}

// I, H multiples of 4 take the 16-byte loads; 5, 7, 13 do not.
const Config kConfigs[] = {{5, 7, 1}, {16, 32, 2}, {13, 24, 2, false}, {64, 128, 3}, {40, 100, 1}};

// Float32 rounding of sums of a few hundred products in another order, then through
// sigmoid/tanh and a few steps of recurrence: well under 1e-5 of the state's scale.
constexpr double kTolerance = 1e-5;

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.device(), kCuda) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_LE(cuda_test::max_abs_diff(got.to(kCpu), want), kTolerance) << what;
}

TEST(CudaLstmStepper, MatchesTheCpuStepper) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  nn::NoGradGuard no_grad;
  for (const Config& c : kConfigs) {
    for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
      for (std::int64_t B : {1, 2, 3, 4, 6}) {
        nn::Generator gen(cuda_test::test_seed() + static_cast<std::uint64_t>(c.H * 10 + B));
        nn::LSTM lstm(nn::LSTMOptions(c.I, c.H).num_layers(c.L).bias(c.bias).generator(&gen));
        const nn::LSTMStepperOptions options = nn::LSTMStepperOptions().weight_dtype(dtype);
        const nn::LSTMStepper cpu(lstm, options);
        lstm.to(kCuda);
        const nn::LSTMStepper gpu(lstm, options);
        ASSERT_EQ(gpu.weight_dtype(), dtype);
        nn::LSTMState s_cpu, s_gpu;
        for (int t = 0; t < 4; ++t) {
          const Tensor x = nn::randn({B, c.I}, &gen);
          const std::string what = describe(c, B, dtype) + ", step " + std::to_string(t);
          const Tensor h_cpu = cpu.step(x, s_cpu);
          const Tensor h_gpu = gpu.step(x.to(kCuda), s_gpu);
          expect_close(h_gpu, h_cpu, what + ", output");
          expect_close(std::get<0>(s_gpu), std::get<0>(s_cpu), what + ", h");
          expect_close(std::get<1>(s_gpu), std::get<1>(s_cpu), what + ", c");
        }
      }
    }
  }
}

TEST(CudaLstmStepper, TokensMatchTheCpuStepper) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  nn::NoGradGuard no_grad;
  for (const Config& c : {Config{12, 20, 2}, Config{32, 64, 3}}) {
    for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
      for (std::int64_t B : {1, 3, 5}) {
        nn::Generator gen(cuda_test::test_seed() + static_cast<std::uint64_t>(c.H + B));
        nn::Embedding embedding(nn::EmbeddingOptions(30, c.I).generator(&gen));
        nn::LSTM lstm(nn::LSTMOptions(c.I, c.H).num_layers(c.L).generator(&gen));
        const nn::LSTMStepperOptions options = nn::LSTMStepperOptions().weight_dtype(dtype);
        const nn::LSTMStepper cpu(embedding, lstm, options);
        embedding.to(kCuda);
        lstm.to(kCuda);
        const nn::LSTMStepper gpu(embedding, lstm, options);
        nn::LSTMState s_cpu, s_gpu;
        for (int t = 0; t < 4; ++t) {
          std::vector<std::int64_t> ids;
          for (std::int64_t b = 0; b < B; ++b) ids.push_back((7 * t + 11 * b) % 30);
          const Tensor tokens = nn::from_vector(ids, {B}, nn::TensorOptions(nn::DType::Int64));
          const std::string what = describe(c, B, dtype) + ", tokens, step " + std::to_string(t);
          const Tensor h_cpu = cpu.step_tokens(tokens, s_cpu);
          const Tensor h_gpu = gpu.step_tokens(tokens.to(kCuda), s_gpu);
          expect_close(h_gpu, h_cpu, what + ", output");
          expect_close(std::get<0>(s_gpu), std::get<0>(s_cpu), what + ", h");
          expect_close(std::get<1>(s_gpu), std::get<1>(s_cpu), what + ", c");
        }
      }
    }
  }
}

// Fixed-order sums, no atomics: two runs give the same bits.
TEST(CudaLstmStepper, SameBitsEveryRun) {
  NN_REQUIRE_CUDA();
  nn::NoGradGuard no_grad;
  nn::Generator gen(cuda_test::test_seed());
  nn::LSTM lstm(nn::LSTMOptions(48, 96).num_layers(2).generator(&gen));
  lstm.to(kCuda);
  const Tensor x = nn::randn({3, 48}, &gen).to(kCuda);
  for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
    const nn::LSTMStepper stepper(lstm, nn::LSTMStepperOptions().weight_dtype(dtype));
    nn::LSTMState a, b;
    Tensor ha, hb;
    for (int t = 0; t < 3; ++t) {
      ha = stepper.step(x, a);
      hb = stepper.step(x, b);
    }
    EXPECT_TRUE(cuda_test::same_bits(ha, hb))
        << "first difference at " << cuda_test::first_difference(ha, hb);
    EXPECT_TRUE(cuda_test::same_bits(std::get<1>(a), std::get<1>(b)));
  }
}

// A state on the wrong device is refused with the device named.
TEST(CudaLstmStepper, StateOnTheWrongDevice) {
  NN_REQUIRE_CUDA();
  nn::LSTM lstm(nn::LSTMOptions(4, 8));
  lstm.to(kCuda);
  const nn::LSTMStepper stepper(lstm);
  nn::LSTMState state{nn::zeros({1, 1, 8}), nn::zeros({1, 1, 8})};
  const std::string message = cuda_test::error_message([&] {
    stepper.step(nn::zeros({1, 4}).to(kCuda), state);
  });
  EXPECT_TRUE(cuda_test::contains(message, "cuda")) << message;
}

}  // namespace
