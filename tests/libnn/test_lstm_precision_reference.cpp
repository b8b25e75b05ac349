// The precision tests' LSTM reference (lstm_precision_reference.hpp) checked on the CPU: its
// rounding against hand-worked values, its float32 and float64 results against libnn's CPU
// lstm_layer (itself checked against PyTorch: test_golden.cpp), and its bf16 and TF32
// emulations off float64 by what 8 and 11 significant bits give. The CUDA tests
// (cuda/test_cuda_lstm_precision.cpp) then hold the GPU to the emulation's errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"
#include "libnn/tensor.hpp"
#include "lstm_precision_reference.hpp"

namespace {

using lstm_ref::Operands;
using lstm_ref::round_float;

TEST(LstmPrecisionReference, RoundsLikeBf16AndTf32) {
  // 1 + 2^-8 is halfway between bf16's 1 and 1 + 2^-7: ties to even gives 1.
  EXPECT_EQ(round_float(1.0f + 0x1p-8f, Operands::Bf16Nearest), 1.0f);
  EXPECT_EQ(round_float(1.0f + 3 * 0x1p-8f, Operands::Bf16Nearest), 1.0f + 0x1p-6f);
  EXPECT_EQ(round_float(1.0f + 0x1p-8f + 0x1p-20f, Operands::Bf16Nearest), 1.0f + 0x1p-7f);
  EXPECT_EQ(round_float(1.0f + 0x1p-7f + 0x1p-9f, Operands::Bf16Truncated), 1.0f + 0x1p-7f);
  EXPECT_EQ(round_float(-(1.0f + 0x1p-8f + 0x1p-20f), Operands::Bf16Nearest), -(1.0f + 0x1p-7f));
  EXPECT_EQ(round_float(-(1.0f + 0x1p-8f + 0x1p-20f), Operands::Bf16Truncated), -1.0f);
  // TF32: 10 stored bits.
  EXPECT_EQ(round_float(1.0f + 0x1p-11f, Operands::Tf32Nearest), 1.0f);
  EXPECT_EQ(round_float(1.0f + 0x1p-11f + 0x1p-20f, Operands::Tf32Nearest), 1.0f + 0x1p-10f);
  EXPECT_EQ(round_float(1.0f + 0x1p-10f + 0x1p-11f, Operands::Tf32Truncated), 1.0f + 0x1p-10f);
  // Zero stays; Exact changes nothing.
  EXPECT_EQ(round_float(0.0f, Operands::Bf16Nearest), 0.0f);
  EXPECT_EQ(round_float(3.0f, Operands::Exact), 3.0f);
}

std::vector<float> narrow(const std::vector<double>& v) { return {v.begin(), v.end()}; }
std::vector<double> widen(const nn::Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  return {v.begin(), v.end()};
}

// libnn's CPU lstm_layer on the problem: the tensors of lstm_ref::tensors's order.
std::vector<std::vector<double>> libnn_cpu(const lstm_ref::Problem& p) {
  auto leaf = [](const std::vector<double>& v, nn::Shape shape) {
    return nn::from_vector(narrow(v), shape).set_requires_grad(true);
  };
  nn::Tensor x = leaf(p.x, {p.T, p.B, p.I}), w_ih = leaf(p.w_ih, {4 * p.H, p.I}),
             w_hh = leaf(p.w_hh, {4 * p.H, p.H});
  nn::Tensor h0, c0, b_ih, b_hh;
  if (p.state) h0 = leaf(p.h0, {p.B, p.H}), c0 = leaf(p.c0, {p.B, p.H});
  if (p.bias) b_ih = leaf(p.b_ih, {4 * p.H}), b_hh = leaf(p.b_hh, {4 * p.H});
  nn::LSTMLayerResult r = nn::lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh);
  nn::backward({r.output, r.h, r.c}, {nn::from_vector(narrow(p.gy), {p.T, p.B, p.H}),
                                      nn::from_vector(narrow(p.gh), {p.B, p.H}),
                                      nn::from_vector(narrow(p.gc), {p.B, p.H})});
  std::vector<std::vector<double>> out = {widen(r.output), widen(r.h),         widen(r.c),
                                          widen(x.grad()), widen(w_ih.grad()), widen(w_hh.grad())};
  if (p.state) {
    out.push_back(widen(h0.grad()));
    out.push_back(widen(c0.grad()));
  }
  if (p.bias) {
    EXPECT_EQ(widen(b_ih.grad()), widen(b_hh.grad()));
    out.push_back(widen(b_ih.grad()));
  }
  return out;
}

TEST(LstmPrecisionReference, Float32AndFloat64MatchLibnnsCpuLstm) {
  for (const bool state : {false, true}) {
    for (const bool bias : {false, true}) {
      const lstm_ref::Problem p = lstm_ref::make_problem(7, 3, 10, 24, state, bias, 11);
      SCOPED_TRACE(std::string(state ? "initial state" : "zero state") +
                   (bias ? ", bias" : ", no bias"));
      const std::vector<std::vector<double>> cpu = libnn_cpu(p);
      for (const auto* acc : {"float64", "float32"}) {
        const lstm_ref::Result r = std::string(acc) == "float64"
                                       ? lstm_ref::run<double>(p, Operands::Exact)
                                       : lstm_ref::run<float>(p, Operands::Exact);
        const auto named = lstm_ref::tensors(r, p);
        ASSERT_EQ(named.size(), cpu.size());
        for (std::size_t i = 0; i < cpu.size(); ++i) {
          EXPECT_LE(lstm_ref::rel_error(*named[i].second, cpu[i]), 2e-6)
              << acc << " " << named[i].first;
        }
      }
    }
  }
}

// Rounding the operands costs what their mantissa says: bf16 (8 significant bits, a relative
// rounding error up to 2^-9 = 2e-3) and TF32 (11 bits, 2^-12 = 2.4e-4), shrunk by averaging
// over the sums and grown by the recurrence. Truncation errs twice as far, and one way.
TEST(LstmPrecisionReference, EmulatedErrorsFollowTheMantissa) {
  const lstm_ref::Problem p = lstm_ref::make_problem(20, 4, 32, 64, true, true, 5);
  const lstm_ref::Result ref = lstm_ref::run<double>(p, Operands::Exact);
  auto error = [&](Operands mode) {
    const lstm_ref::Result r = lstm_ref::run<float>(p, mode);
    return lstm_ref::rel_error(r.y, ref.y);
  };
  const double fp32 = error(Operands::Exact), tf32 = error(Operands::Tf32Nearest),
               bf16 = error(Operands::Bf16Nearest), bf16_trunc = error(Operands::Bf16Truncated);
  std::printf("output error vs float64: fp32 %.2e, tf32 %.2e, bf16 %.2e (truncated %.2e)\n", fp32,
              tf32, bf16, bf16_trunc);
  EXPECT_LT(fp32, 1e-6);
  EXPECT_GT(tf32, 1e-5);
  EXPECT_LT(tf32, 1e-3);
  EXPECT_GT(bf16, 4 * tf32) << "3 bits fewer: about 8x";
  EXPECT_LT(bf16, 1e-2);
  EXPECT_GT(bf16_trunc, bf16);
}

}  // namespace
