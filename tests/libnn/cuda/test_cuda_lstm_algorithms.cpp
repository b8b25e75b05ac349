// The CUDA LSTM's three algorithms (nn::cuda::set_lstm_algorithm: stepwise, persistent,
// cudnn) against the CPU's lstm_layer (the reference, checked against PyTorch by
// tests/libnn/): output, final state and every gradient (x, h0, c0, w_ih, w_hh, b_ih, b_hh),
// over several shapes (H below, at and above the multiprocessor count, H not a multiple of
// 32), with and without an initial state and a bias; plus what last_lstm_run() reports and
// the fallback of a shape the persistent kernel cannot hold. Every CUDA allocation is
// poisoned (NaN), so an element an algorithm forgets shows. Skips without a GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/cuda.hpp"
#include "libnn/ops.hpp"

namespace {

using cuda_test::AlgorithmGuard;
using cuda_test::kCpu;
using cuda_test::kCuda;
using cuda_test::rel_error;
using nn::Tensor;
using nn::cuda::LstmAlgorithm;

struct Shape {
  std::int64_t T, B, I, H;
};

struct Inputs {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh, gy, gh, gc;
};

Inputs make_inputs(const Shape& s, bool with_state, bool with_bias) {
  nn::Generator gen = cuda_test::test_generator();
  // Weights at PyTorch's scale, 1/sqrt(H), so the gates stay away from saturation.
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.H));
  auto weight = [&](nn::Shape shape) { return nn::randn(shape, &gen) * scale; };
  Inputs in;
  in.x = nn::randn({s.T, s.B, s.I}, &gen);
  if (with_state) {
    in.h0 = nn::randn({s.B, s.H}, &gen);
    in.c0 = nn::randn({s.B, s.H}, &gen);
  }
  in.w_ih = weight({4 * s.H, s.I});
  in.w_hh = weight({4 * s.H, s.H});
  if (with_bias) {
    in.b_ih = weight({4 * s.H});
    in.b_hh = weight({4 * s.H});
  }
  in.gy = nn::randn({s.T, s.B, s.H}, &gen);
  in.gh = nn::randn({s.B, s.H}, &gen);
  in.gc = nn::randn({s.B, s.H}, &gen);
  return in;
}

struct Outcome {
  std::vector<Tensor> values;  // on the CPU
  std::vector<std::string> names;
  nn::cuda::LstmRun run;
};

Outcome run_layer(const Inputs& in, nn::Device device) {
  auto leaf = [&](const Tensor& t) {
    return t.defined() ? t.to(device).set_requires_grad(true) : Tensor();
  };
  Tensor x = leaf(in.x), h0 = leaf(in.h0), c0 = leaf(in.c0), w_ih = leaf(in.w_ih),
         w_hh = leaf(in.w_hh), b_ih = leaf(in.b_ih), b_hh = leaf(in.b_hh);
  nn::LSTMLayerResult r = nn::lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  nn::backward({r.output, r.h, r.c}, {in.gy.to(device), in.gh.to(device), in.gc.to(device)});
  Outcome o;
  o.run = nn::cuda::last_lstm_run();
  auto add = [&](const char* name, const Tensor& t) {
    o.names.push_back(name);
    o.values.push_back(t.to(kCpu));
  };
  add("output", r.output);
  add("h_n", r.h);
  add("c_n", r.c);
  add("grad x", x.grad());
  add("grad w_ih", w_ih.grad());
  add("grad w_hh", w_hh.grad());
  if (h0.defined()) {
    add("grad h0", h0.grad());
    add("grad c0", c0.grad());
  }
  if (b_ih.defined()) {
    add("grad b_ih", b_ih.grad());
    add("grad b_hh", b_hh.grad());
  }
  return o;
}

class CudaLstmAlgorithm : public ::testing::TestWithParam<LstmAlgorithm> {};

TEST_P(CudaLstmAlgorithm, MatchesCpuEveryGradient) {
  NN_REQUIRE_CUDA();
  const LstmAlgorithm algorithm = GetParam();
  const std::string name = nn::cuda::lstm_algorithm_name(algorithm);
  cuda_test::PoisonGuard poison;
  cuda_test::MatmulPrecisionGuard precision;
  // H = 7 (less than a warp), 40, 301 (more units than multiprocessors: 3 per block on 132
  // SMs, the last block 1), 129; batch 1, 2, 3, 5 and 9 (the persistent kernel takes 4 rows
  // at a time: one partial group, two and three groups); I below and above H.
  const std::vector<Shape> shapes{
      {5, 3, 6, 7}, {4, 1, 9, 40}, {3, 2, 5, 301}, {6, 5, 200, 129}, {3, 9, 16, 70}};
  for (const Shape& s : shapes) {
    for (const bool with_state : {false, true}) {
      for (const bool with_bias : {true, false}) {
        SCOPED_TRACE(name + ": T " + std::to_string(s.T) + " B " + std::to_string(s.B) + " I " +
                     std::to_string(s.I) + " H " + std::to_string(s.H) +
                     (with_state ? ", initial state" : ", zero state") +
                     (with_bias ? ", bias" : ", no bias") + ", seed " +
                     std::to_string(cuda_test::test_seed()));
        const Inputs in = make_inputs(s, with_state, with_bias);
        const Outcome cpu = run_layer(in, kCpu);
        Outcome gpu;
        {
          AlgorithmGuard guard(algorithm);
          gpu = run_layer(in, kCuda);
        }
        const std::string expected = algorithm == LstmAlgorithm::Auto ? "stepwise" : name;
        EXPECT_EQ(gpu.run.forward, expected);
        EXPECT_EQ(gpu.run.backward, expected);
        ASSERT_EQ(cpu.values.size(), gpu.values.size());
        for (std::size_t i = 0; i < cpu.values.size(); ++i) {
          // lstm_layer's tolerance in test_cuda_ops.cpp: a recurrence of float32 steps.
          const double err = rel_error(gpu.values[i], cpu.values[i]);
          EXPECT_LE(err, 2e-5) << cpu.names[i] << ": ||cuda - cpu|| / ||cpu|| = " << err;
        }
      }
    }
  }
}

// Inference (nothing requires grad): the algorithms keep no history; the same outputs.
TEST_P(CudaLstmAlgorithm, InferenceMatchesCpu) {
  NN_REQUIRE_CUDA();
  const LstmAlgorithm algorithm = GetParam();
  cuda_test::PoisonGuard poison;
  cuda_test::MatmulPrecisionGuard precision;
  const Inputs in = make_inputs({7, 4, 10, 64}, true, true);
  const nn::LSTMLayerResult cpu =
      nn::lstm_layer(in.x, in.h0, in.c0, in.w_ih, in.w_hh, in.b_ih, in.b_hh);
  AlgorithmGuard guard(algorithm);
  const nn::LSTMLayerResult gpu =
      nn::lstm_layer(in.x.to(kCuda), in.h0.to(kCuda), in.c0.to(kCuda), in.w_ih.to(kCuda),
                     in.w_hh.to(kCuda), in.b_ih.to(kCuda), in.b_hh.to(kCuda));
  EXPECT_LE(rel_error(gpu.output.to(kCpu), cpu.output), 2e-5);
  EXPECT_LE(rel_error(gpu.h.to(kCpu), cpu.h), 2e-5);
  EXPECT_LE(rel_error(gpu.c.to(kCpu), cpu.c), 2e-5);
  const std::string expected =
      algorithm == LstmAlgorithm::Auto ? "stepwise" : nn::cuda::lstm_algorithm_name(algorithm);
  EXPECT_EQ(nn::cuda::last_lstm_run().forward, expected);
}

INSTANTIATE_TEST_SUITE_P(All, CudaLstmAlgorithm,
                         ::testing::Values(LstmAlgorithm::Auto, LstmAlgorithm::Stepwise,
                                           LstmAlgorithm::Persistent, LstmAlgorithm::Cudnn),
                         [](const auto& info) {
                           return nn::cuda::lstm_algorithm_name(info.param);
                         });

// The persistent kernel and cuDNN against each other at one larger shape (hidden 256, the
// bench's smallest), forward and every gradient.
TEST(CudaLstmAlgorithms, PersistentMatchesCudnn) {
  NN_REQUIRE_CUDA();
  cuda_test::MatmulPrecisionGuard precision;
  const Inputs in = make_inputs({20, 8, 64, 256}, true, true);
  Outcome persistent, cudnn;
  {
    AlgorithmGuard guard(LstmAlgorithm::Persistent);
    persistent = run_layer(in, kCuda);
  }
  {
    AlgorithmGuard guard(LstmAlgorithm::Cudnn);
    cudnn = run_layer(in, kCuda);
  }
  EXPECT_EQ(persistent.run.forward, "persistent");
  EXPECT_EQ(cudnn.run.forward, "cudnn");
  ASSERT_EQ(persistent.values.size(), cudnn.values.size());
  for (std::size_t i = 0; i < cudnn.values.size(); ++i) {
    const double err = rel_error(persistent.values[i], cudnn.values[i]);
    EXPECT_LE(err, 2e-5) << cudnn.names[i] << ": ||persistent - cudnn|| / ||cudnn|| = " << err;
  }
}

// A hidden size whose w_hh slices do not fit in shared memory runs stepwise, and says why.
TEST(CudaLstmAlgorithms, PersistentFallsBackWhenTooLarge) {
  NN_REQUIRE_CUDA();
  AlgorithmGuard guard(LstmAlgorithm::Persistent);
  // 2048 / 132 multiprocessors -> 16 units x 32 KiB per block: above the 227 KiB of a Hopper
  const std::int64_t H = 2048;
  nn::Generator gen = cuda_test::test_generator();
  const Tensor x = nn::randn({2, 1, 3}, &gen).to(kCuda);
  const Tensor w_ih = (nn::randn({4 * H, 3}, &gen) * 0.01).to(kCuda);
  const Tensor w_hh = (nn::randn({4 * H, H}, &gen) * 0.01).to(kCuda);
  const nn::LSTMLayerResult r =
      nn::lstm_layer(x, Tensor(), Tensor(), w_ih, w_hh, Tensor(), Tensor());
  const std::string ran = nn::cuda::last_lstm_run().forward;
  EXPECT_TRUE(cuda_test::contains(ran, "stepwise (persistent does not fit: w_hh does not fit"))
      << ran;
  // and the stepwise result is the stepwise algorithm's, bit for bit
  nn::cuda::set_lstm_algorithm(LstmAlgorithm::Stepwise);
  const nn::LSTMLayerResult s =
      nn::lstm_layer(x, Tensor(), Tensor(), w_ih, w_hh, Tensor(), Tensor());
  EXPECT_TRUE(cuda_test::same_bits(r.output.to(kCpu), s.output.to(kCpu)));
}

// A cuDNN forward's backward is cuDNN's even when the setting changed in between (it needs
// the forward's reserve space).
TEST(CudaLstmAlgorithms, CudnnBackwardFollowsItsForward) {
  NN_REQUIRE_CUDA();
  cuda_test::MatmulPrecisionGuard precision;
  const Inputs in = make_inputs({4, 2, 5, 16}, true, true);
  const Outcome cpu = run_layer(in, kCpu);
  auto leaf = [&](const Tensor& t) { return t.to(kCuda).set_requires_grad(true); };
  Tensor x = leaf(in.x), h0 = leaf(in.h0), c0 = leaf(in.c0), w_ih = leaf(in.w_ih),
         w_hh = leaf(in.w_hh), b_ih = leaf(in.b_ih), b_hh = leaf(in.b_hh);
  nn::LSTMLayerResult r;
  {
    AlgorithmGuard guard(LstmAlgorithm::Cudnn);
    r = nn::lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  }
  AlgorithmGuard guard(LstmAlgorithm::Persistent);
  nn::backward({r.output, r.h, r.c}, {in.gy.to(kCuda), in.gh.to(kCuda), in.gc.to(kCuda)});
  EXPECT_EQ(nn::cuda::last_lstm_run().backward, "cudnn");
  EXPECT_LE(rel_error(x.grad().to(kCpu), cpu.values[3]), 2e-5);
  EXPECT_LE(rel_error(w_hh.grad().to(kCpu), cpu.values[5]), 2e-5);
}

// cuDNN's descriptors are cached per layer shape (lstm_cudnn.cu; the cache's logic:
// test_lru_cache.cpp): shapes interleaved, with and without bias, each run twice, match the
// CPU every time, and the second run of a shape (a cache hit) gives the first run's bits.
TEST(CudaLstmAlgorithms, CudnnCachedDescriptorsServeInterleavedShapes) {
  NN_REQUIRE_CUDA();
  cuda_test::MatmulPrecisionGuard precision;
  AlgorithmGuard guard(LstmAlgorithm::Cudnn);
  struct Case {
    Shape shape;
    bool bias;
  };
  const Case cases[] = {
      {{5, 3, 7, 16}, true}, {{5, 2, 7, 16}, true}, {{5, 3, 7, 16}, false}, {{9, 1, 4, 24}, true}};
  std::vector<Inputs> inputs;
  for (const Case& c : cases) inputs.push_back(make_inputs(c.shape, true, c.bias));
  std::vector<Outcome> first;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t k = 0; k < std::size(cases); ++k) {
      const Inputs& in = inputs[k];
      const Outcome cpu = run_layer(in, kCpu);
      const Outcome gpu = run_layer(in, kCuda);
      EXPECT_EQ(gpu.run.forward, "cudnn");
      const std::string what = "case " + std::to_string(k) + ", round " + std::to_string(round);
      ASSERT_EQ(gpu.values.size(), cpu.values.size()) << what;
      for (std::size_t i = 0; i < cpu.values.size(); ++i) {
        EXPECT_LE(rel_error(gpu.values[i], cpu.values[i]), 2e-5) << what << ", " << cpu.names[i];
      }
      if (round == 0) {
        first.push_back(gpu);
        continue;
      }
      for (std::size_t i = 0; i < gpu.values.size(); ++i) {
        EXPECT_TRUE(cuda_test::same_bits(gpu.values[i], first[k].values[i]))
            << what << ", " << gpu.names[i] << ": not the first round's bits";
      }
    }
  }
}

}  // namespace
