// The CUDA LSTM under each matmul precision (nn::set_float32_matmul_precision: "highest" =
// fp32, "high" = TF32, "medium" = bf16; docs/libnn.md, "Matrix product precision") against a
// float64 LSTM (tests/libnn/lstm_precision_reference.hpp): the output, h_n, c_n and every
// gradient (x, w_ih, w_hh, h0, c0, b_ih, b_hh), with and without an initial state, on four
// shapes, for each algorithm. The allowed error of each tensor is derived in the test itself:
// the same reference run in float32 with the GEMM operands rounded as the precision rounds
// them (to nearest, and truncated: cuBLAS does not document which its conversion does), and
// the GPU may be 3x as far from float64 as the worse of the two, plus 2e-5 for float32's own
// sum orders. Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "../lstm_precision_reference.hpp"
#include "cuda_test_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/cuda.hpp"
#include "libnn/ops.hpp"

namespace {

using cuda_test::AlgorithmGuard;
using cuda_test::kCpu;
using cuda_test::kCuda;
using lstm_ref::Operands;
using nn::MatmulPrecision;
using nn::Tensor;
using nn::cuda::LstmAlgorithm;

std::vector<double> widen(const Tensor& t) {
  const std::vector<float> v = t.to(kCpu).to_vector<float>();
  return {v.begin(), v.end()};
}

// The GPU's tensors in lstm_ref::tensors's order (grad b: b_ih's, then b_hh's separately).
struct GpuRun {
  std::vector<std::vector<double>> values;
  std::vector<double> grad_b_hh;
  nn::cuda::LstmRun run;
};

GpuRun run_gpu(const lstm_ref::Problem& p) {
  auto leaf = [](const std::vector<double>& v, nn::Shape shape) {
    return nn::from_vector(std::vector<float>(v.begin(), v.end()), shape)
        .to(kCuda)
        .set_requires_grad(true);
  };
  auto value = [](const std::vector<double>& v, nn::Shape shape) {
    return nn::from_vector(std::vector<float>(v.begin(), v.end()), shape).to(kCuda);
  };
  Tensor x = leaf(p.x, {p.T, p.B, p.I}), w_ih = leaf(p.w_ih, {4 * p.H, p.I}),
         w_hh = leaf(p.w_hh, {4 * p.H, p.H});
  Tensor h0, c0, b_ih, b_hh;
  if (p.state) h0 = leaf(p.h0, {p.B, p.H}), c0 = leaf(p.c0, {p.B, p.H});
  if (p.bias) b_ih = leaf(p.b_ih, {4 * p.H}), b_hh = leaf(p.b_hh, {4 * p.H});
  nn::LSTMLayerResult r = nn::lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  nn::backward({r.output, r.h, r.c},
               {value(p.gy, {p.T, p.B, p.H}), value(p.gh, {p.B, p.H}), value(p.gc, {p.B, p.H})});
  GpuRun out;
  out.run = nn::cuda::last_lstm_run();
  out.values = {widen(r.output), widen(r.h),         widen(r.c),
                widen(x.grad()), widen(w_ih.grad()), widen(w_hh.grad())};
  if (p.state) {
    out.values.push_back(widen(h0.grad()));
    out.values.push_back(widen(c0.grad()));
  }
  if (p.bias) {
    out.values.push_back(widen(b_ih.grad()));
    out.grad_b_hh = widen(b_hh.grad());
  }
  return out;
}

struct PrecisionCase {
  MatmulPrecision precision;
  const char* name;
  Operands nearest, truncated;  // how the emulation rounds the operands
};

const PrecisionCase kPrecisions[] = {
    {MatmulPrecision::Highest, "fp32", Operands::Exact, Operands::Exact},
    {MatmulPrecision::High, "tf32", Operands::Tf32Nearest, Operands::Tf32Truncated},
    {MatmulPrecision::Medium, "bf16", Operands::Bf16Nearest, Operands::Bf16Truncated},
};

// What last_lstm_run() says an algorithm ran under a precision (forward, backward).
std::pair<std::string, std::string> expected_run(LstmAlgorithm a, MatmulPrecision p) {
  const bool bf16 = p == MatmulPrecision::Medium;
  switch (a) {
    case LstmAlgorithm::Persistent:  // bf16: its kernels keep w_hh on chip in bf16
      return {"persistent", "persistent"};
    case LstmAlgorithm::Cudnn:
      return bf16 ? std::pair<std::string,
                              std::string>{"stepwise (cudnn: no bf16 math for float32 tensors)",
                                           "stepwise"}
                  : std::pair<std::string, std::string>{"cudnn", "cudnn"};
    default:
      return {"stepwise", "stepwise"};
  }
}

// One test for the three algorithms, so the CPU's reference and emulations (the slow part)
// run once per shape and precision.
TEST(CudaLstmPrecision, EveryAlgorithmWithinTheEmulatedErrorOfFloat64EveryGradient) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  cuda_test::MatmulPrecisionGuard restore;
  struct Shape {
    std::int64_t T, B, I, H;
  };
  // H below a warp's multiple and above the multiprocessor count; batch 1 to 16.
  const std::vector<Shape> shapes{
      {20, 4, 32, 64}, {10, 9, 48, 129}, {30, 1, 256, 256}, {12, 16, 256, 256}};
  for (const Shape& s : shapes) {
    for (const bool state : {false, true}) {
      const lstm_ref::Problem p =
          lstm_ref::make_problem(s.T, s.B, s.I, s.H, state, true, cuda_test::test_seed());
      const lstm_ref::Result ref = lstm_ref::run<double>(p, Operands::Exact);
      const auto ref_tensors = lstm_ref::tensors(ref, p);
      for (const PrecisionCase& pc : kPrecisions) {
        const lstm_ref::Result near = lstm_ref::run<float>(p, pc.nearest);
        const lstm_ref::Result trunc = lstm_ref::run<float>(p, pc.truncated);
        const auto near_t = lstm_ref::tensors(near, p), trunc_t = lstm_ref::tensors(trunc, p);
        for (const LstmAlgorithm algorithm :
             {LstmAlgorithm::Stepwise, LstmAlgorithm::Persistent, LstmAlgorithm::Cudnn}) {
          const std::string where = nn::cuda::lstm_algorithm_name(algorithm) + ", " + pc.name +
                                    ": T " + std::to_string(s.T) + " B " + std::to_string(s.B) +
                                    " I " + std::to_string(s.I) + " H " + std::to_string(s.H) +
                                    (state ? ", initial state" : ", zero state") + ", seed " +
                                    std::to_string(cuda_test::test_seed());
          SCOPED_TRACE(where);
          GpuRun gpu;
          {
            AlgorithmGuard guard(algorithm);
            const nn::Float32MatmulPrecisionGuard precision(pc.precision);
            gpu = run_gpu(p);
          }
          const auto [forward, backward] = expected_run(algorithm, pc.precision);
          EXPECT_EQ(gpu.run.forward, forward);
          EXPECT_EQ(gpu.run.backward, backward);
          ASSERT_EQ(gpu.values.size(), ref_tensors.size());
          double worst = 0.0;  // the largest share of its allowed error a tensor used
          for (std::size_t i = 0; i < ref_tensors.size(); ++i) {
            const std::vector<double>& want = *ref_tensors[i].second;
            const double emulated = std::max(lstm_ref::rel_error(*near_t[i].second, want),
                                             lstm_ref::rel_error(*trunc_t[i].second, want));
            const double allowed =
                3.0 * emulated + 2e-5;  // 2e-5: the float32 algorithms test's tolerance
            const double err = lstm_ref::rel_error(gpu.values[i], want);
            worst = std::max(worst, err / allowed);
            EXPECT_LE(err, allowed)
                << ref_tensors[i].first << ": ||cuda - float64|| / ||float64|| = " << err
                << ", emulated " << emulated;
            if (std::string(ref_tensors[i].first) == "grad b") {
              EXPECT_LE(lstm_ref::rel_error(gpu.grad_b_hh, want), allowed) << "grad b_hh";
            }
          }
          std::printf("%-64s worst tensor at %5.1f%% of its allowed error\n", where.c_str(),
                      100.0 * worst);
          // The setting took effect: the TF32 / bf16 output is visibly off float64, not
          // float32-accurate (stepwise on the larger shapes, where cuBLAS surely takes tensor
          // cores; persistent under bf16, whose recurrence rounds its operands itself).
          const bool rounds =
              (algorithm == LstmAlgorithm::Stepwise && pc.precision != MatmulPrecision::Highest &&
               s.I >= 256) ||
              (algorithm == LstmAlgorithm::Persistent && pc.precision == MatmulPrecision::Medium);
          if (rounds) {
            const double near_err = lstm_ref::rel_error(near.y, ref.y);
            EXPECT_GE(lstm_ref::rel_error(gpu.values[0], ref.y), 0.1 * near_err)
                << "the output is float32-accurate: " << pc.name << " was not used";
          }
        }
      }
    }
  }
}

// Linear under bf16: the layer's product and its weight gradient take bf16 operands, within
// the bound the same rounding gives on the CPU.
TEST(CudaLinearPrecision, Bf16WithinItsEmulatedError) {
  NN_REQUIRE_CUDA();
  cuda_test::MatmulPrecisionGuard restore;
  nn::Generator gen = cuda_test::test_generator();
  const Tensor x = nn::randn({64, 512}, &gen), w = nn::randn({256, 512}, &gen) * 0.05f;
  const Tensor exact = nn::matmul(x, w.transpose(0, 1));
  const Tensor emulated = nn::matmul(cuda_test::rounded(x, cuda_test::kBf16Drop),
                                     cuda_test::rounded(w, cuda_test::kBf16Drop).transpose(0, 1));
  Tensor got;
  {
    const nn::Float32MatmulPrecisionGuard bf16(MatmulPrecision::Medium);
    got = nn::linear(x.to(kCuda), w.to(kCuda), Tensor()).to(kCpu);
  }
  const double allowed = 3.0 * cuda_test::rel_error(emulated, exact) + 1e-5;
  EXPECT_LE(cuda_test::rel_error(got, exact), allowed);
}

}  // namespace
