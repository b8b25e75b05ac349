// nn::LSTMStepper on CUDA (src/cuda/lstm_step.cu: one fused launch per layer) against the
// same stepper on the CPU (itself checked bit for bit against nn::LSTM by
// tests/libnn/test_lstm_stepper.cpp): float32 and float16 weights, B = 1..6 (above 4 in
// groups of 4), layer counts and sizes that take the 16-byte loads and sizes that do not,
// with and without bias, with and without the embedding folded in; the state carried over
// several steps. nn::LSTMTokenLoop on CUDA (the whole token on the device, replayed as a CUDA
// graph) against the same loop on the CPU, graph replay against eager launches, and its draws
// against the model's softmax (chi-square). Skips without a GPU.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/linear.hpp"
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

// --- nn::LSTMTokenLoop --------------------------------------------------------------------

struct TokenModel {
  nn::Embedding embedding;
  nn::LSTM lstm;
  nn::Linear head;
  void to(nn::Device device) {
    embedding.to(device);
    lstm.to(device);
    head.to(device);
  }
};

TokenModel token_model(std::int64_t V, std::int64_t H, std::int64_t L, std::uint64_t seed) {
  nn::Generator gen(seed);
  return TokenModel{nn::Embedding(nn::EmbeddingOptions(V, H).generator(&gen)),
                    nn::LSTM(nn::LSTMOptions(H, H).num_layers(L).generator(&gen)),
                    nn::Linear(nn::LinearOptions(H, V).generator(&gen))};
}

// With and without top-k / top-p (the block sort). The logits differ from the CPU's by float32
// rounding (~1e-6), so a draw picks another token
// only when it falls that close to a boundary: the 64 tokens are the CPU's (a failure here
// that shows one differing token late in the run would be that, not a bug; rerun with another
// NN_TEST_SEED).
TEST(CudaLstmTokenLoop, MatchesTheCpuLoop) {
  NN_REQUIRE_CUDA();
  for (const auto& [V, H, L] : {std::array<std::int64_t, 3>{360, 64, 3}, {50, 24, 2}, {7, 13, 1}}) {
    for (nn::DType dtype : {nn::DType::Float32, nn::DType::Float16}) {
      for (const auto& [graph, top_k, top_p] :
           {std::tuple<std::int64_t, std::int64_t, double>{0, 0, 1.0},
            {8, 0, 1.0},
            {8, 5, 1.0},
            {0, 0, 0.8},
            {8, 20, 0.9}}) {
        TokenModel m = token_model(V, H, L, cuda_test::test_seed() + static_cast<std::uint64_t>(V));
        const nn::LSTMStepperOptions so = nn::LSTMStepperOptions().weight_dtype(dtype);
        const nn::TokenLoopOptions lo =
            nn::TokenLoopOptions().temperature(0.9).seed(11).graph_tokens(graph).top_k(top_k).top_p(
                top_p);
        nn::LSTMTokenLoop cpu(nn::LSTMStepper(m.embedding, m.lstm, so), m.head, lo);
        m.to(kCuda);
        nn::LSTMTokenLoop gpu(nn::LSTMStepper(m.embedding, m.lstm, so), m.head, lo);
        ASSERT_EQ(gpu.device(), kCuda);
        nn::LSTMState s_cpu, s_gpu;
        const std::string what =
            "V=" + std::to_string(V) + " H=" + std::to_string(H) + " L=" + std::to_string(L) +
            " graph " + std::to_string(graph) + " top_k " + std::to_string(top_k) + " top_p " +
            std::to_string(top_p) + (dtype == nn::DType::Float16 ? " float16" : " float32");
        const std::vector<std::int64_t> want = cpu.generate(1, s_cpu, 64, 100);
        const std::vector<std::int64_t> got = gpu.generate(1, s_gpu, 64, 100);
        EXPECT_EQ(got, want) << what << ", how: " << gpu.how();
        EXPECT_EQ(gpu.how(), graph ? "graph of 8 tokens" : "eager") << what;
        EXPECT_LE(cuda_test::max_abs_diff(std::get<0>(s_gpu).to(kCpu), std::get<0>(s_cpu)), 1e-4)
            << what;
        EXPECT_LE(cuda_test::max_abs_diff(std::get<1>(s_gpu).to(kCpu), std::get<1>(s_cpu)), 1e-4)
            << what;
      }
    }
  }
}

// The graph replays the eager launches: the same tokens and the same state bits, also when n
// is not a multiple of the graph (the rest runs eager) and across calls.
TEST(CudaLstmTokenLoop, GraphReplayIsEager) {
  NN_REQUIRE_CUDA();
  TokenModel m = token_model(40, 32, 2, cuda_test::test_seed());
  m.to(kCuda);
  const nn::LSTMStepper stepper(m.embedding, m.lstm);
  for (const double top_p : {1.0, 0.9}) {  // the one-warp sampler, and the block sort
    const nn::TokenLoopOptions options = nn::TokenLoopOptions().seed(4).top_p(top_p);
    nn::LSTMTokenLoop eager(stepper, m.head, nn::TokenLoopOptions(options).graph_tokens(0));
    nn::LSTMTokenLoop graph(stepper, m.head,
                            nn::TokenLoopOptions(options).graph_tokens(3));  // -> 4
    nn::LSTMState a, b;
    for (std::int64_t n : {37, 8, 5}) {
      const std::string what = "top_p " + std::to_string(top_p) + ", n = " + std::to_string(n);
      const std::vector<std::int64_t> ta = eager.generate(2, a, n);
      const std::vector<std::int64_t> tb = graph.generate(2, b, n);
      EXPECT_EQ(ta, tb) << what;
      EXPECT_TRUE(cuda_test::same_bits(std::get<0>(a), std::get<0>(b))) << what;
      EXPECT_TRUE(cuda_test::same_bits(std::get<1>(a), std::get<1>(b))) << what;
      EXPECT_EQ(graph.how(), "graph of 4 tokens") << what;
    }
  }
}

// One step from the same state, many draws on the device: chi-square against the model's
// softmax computed here in double (50 tokens: the sampler's lanes take 2 each, some none).
TEST(CudaLstmTokenLoop, DrawsFollowTheModel) {
  NN_REQUIRE_CUDA();
  TokenModel m = token_model(50, 16, 2, cuda_test::test_seed());
  const double temperature = 1.3;
  nn::LSTMState s;
  std::vector<double> p;
  {
    nn::NoGradGuard no_grad;
    const nn::LSTMStepper cpu(m.embedding, m.lstm);
    const Tensor h = cpu.step_tokens(
        nn::from_vector(std::vector<std::int64_t>{5}, {1}, nn::TensorOptions(nn::DType::Int64)), s);
    const std::vector<float> logits = m.head.forward(h).to_vector<float>();
    double max = logits[0], total = 0;
    for (float v : logits) max = std::max(max, static_cast<double>(v));
    for (float v : logits) p.push_back(std::exp((v - max) / temperature)), total += p.back();
    for (double& v : p) v /= total;
  }
  m.to(kCuda);
  nn::LSTMTokenLoop loop(nn::LSTMStepper(m.embedding, m.lstm), m.head,
                         nn::TokenLoopOptions().temperature(temperature).seed(21));
  const std::int64_t draws = 10000;
  std::vector<std::int64_t> counts(50, 0);
  for (std::int64_t d = 0; d < draws; ++d) {
    nn::LSTMState fresh;
    ++counts[static_cast<std::size_t>(
        loop.generate(5, fresh, 1, static_cast<std::uint64_t>(d))[0])];
  }
  double chi2 = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  // The 99.9% quantile of chi-square with 49 degrees of freedom (Wilson-Hilferty): 85.4.
  EXPECT_LT(chi2, 85.4);
}

}  // namespace
