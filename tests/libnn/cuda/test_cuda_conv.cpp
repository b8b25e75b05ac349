// The convolutions on CUDA against the CPU, beyond the small golden cases that
// test_cuda_ops.cpp replays for every op: the im2col and col2im kernels bit for bit (both are
// pure gathers, summing in the CPU kernel's order), then conv1d, conv_transpose1d, conv2d and
// conv_transpose2d, forward and every gradient, at larger, batched, grouped shapes (cuBLAS's
// GEMM sums in its own order: rel_error). Without a GPU every test skips, saying why.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "kernels/conv.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace {

using cuda_test::kCpu;
using cuda_test::kCuda;
using nn::Tensor;

// (geometry, name): odd sizes, stride, padding and dilation on both axes.
const std::vector<std::pair<nn::kernels::ConvGeometry, const char*>> kGeometries = {
    {{3, 11, 13, 3, 4, 0, 0, 2, 1, 1, 2, 1, 2}, "stride_pad_dilation"},
    {{5, 1, 37, 1, 5, 0, 0, 1, 3, 0, 2, 1, 1}, "one_d_stride3"},
    {{2, 8, 8, 4, 4, 0, 0, 2, 2, 1, 1, 1, 1}, "gan_down"},
};

// Fills in OH, OW from the rest (a convolution's output size).
nn::kernels::ConvGeometry with_output(nn::kernels::ConvGeometry g) {
  g.OH = (g.H + 2 * g.pad_h - g.dil_h * (g.KH - 1) - 1) / g.stride_h + 1;
  g.OW = (g.W + 2 * g.pad_w - g.dil_w * (g.KW - 1) - 1) / g.stride_w + 1;
  return g;
}

TEST(CudaConvKernels, Im2colAndCol2imBitIdenticalToCpu) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  nn::Generator gen = cuda_test::test_generator();
  for (const auto& [g0, name] : kGeometries) {
    const nn::kernels::ConvGeometry g = with_output(g0);
    const Tensor image = nn::randn({g.C, g.H, g.W}, &gen);
    const Tensor col = nn::randn({g.C * g.KH * g.KW, g.OH * g.OW}, &gen);
    Tensor col_cpu = nn::empty(col.sizes()), image_cpu = nn::empty(image.sizes());
    nn::kernels::im2col(kCpu, g, image.data_ptr<float>(), col_cpu.data_ptr<float>());
    nn::kernels::col2im(kCpu, g, col.data_ptr<float>(), image_cpu.data_ptr<float>());

    const Tensor image_gpu = image.to(kCuda), col_gpu = col.to(kCuda);
    Tensor col_out = nn::empty(col.sizes(), nn::TensorOptions().device(kCuda));
    Tensor image_out = nn::empty(image.sizes(), nn::TensorOptions().device(kCuda));
    nn::kernels::im2col(kCuda, g, image_gpu.data_ptr<float>(), col_out.data_ptr<float>());
    nn::kernels::col2im(kCuda, g, col_gpu.data_ptr<float>(), image_out.data_ptr<float>());
    EXPECT_TRUE(cuda_test::same_bits(col_out.to(kCpu), col_cpu))
        << name << ": im2col differs at " << cuda_test::first_difference(col_out.to(kCpu), col_cpu);
    EXPECT_TRUE(cuda_test::same_bits(image_out.to(kCpu), image_cpu))
        << name << ": col2im differs at "
        << cuda_test::first_difference(image_out.to(kCpu), image_cpu);
  }
}

using Conv = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs `conv` on `inputs` on `device` and backward with `gout`; returns output then gradients.
std::vector<Tensor> forward_backward(const Conv& conv, const std::vector<Tensor>& inputs,
                                     const Tensor& gout, nn::Device device) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) leaves.push_back(t.to(device).set_requires_grad(true));
  Tensor out = conv(leaves);
  nn::backward({out}, {gout.to(device)});
  std::vector<Tensor> result{out.to(kCpu)};
  for (const Tensor& l : leaves) result.push_back(l.grad().to(kCpu));
  return result;
}

void expect_cuda_matches_cpu(const char* what, const Conv& conv,
                             const std::vector<Tensor>& inputs) {
  cuda_test::PoisonGuard poison;
  cuda_test::MatmulPrecisionGuard precision;
  nn::Generator gen = cuda_test::test_generator();
  Tensor out_shape;
  {
    nn::NoGradGuard no_grad;
    out_shape = conv(inputs);
  }
  const Tensor gout = nn::randn(out_shape.sizes(), &gen);
  const auto cpu = forward_backward(conv, inputs, gout, kCpu);
  const auto gpu = forward_backward(conv, inputs, gout, kCuda);
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const double err = cuda_test::rel_error(gpu[i], cpu[i]);
    EXPECT_LE(err, 1e-5) << what << ": "
                         << (i == 0 ? "output" : "gradient " + std::to_string(i - 1))
                         << " rel_error " << err << " (seed " << cuda_test::test_seed() << ")";
  }
}

TEST(CudaConv, MatchesCpuAtLargerShapes) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  expect_cuda_matches_cpu(
      "conv1d",
      [](const std::vector<Tensor>& in) { return nn::conv1d(in[0], in[1], in[2], 2, 3, 2, 2); },
      {nn::randn({5, 8, 67}, &gen), nn::randn({12, 4, 5}, &gen), nn::randn({12}, &gen)});
  expect_cuda_matches_cpu(
      "conv_transpose1d",
      [](const std::vector<Tensor>& in) {
        return nn::conv_transpose1d(in[0], in[1], in[2], 3, 2, 1, 2, 2);
      },
      {nn::randn({5, 8, 29}, &gen), nn::randn({8, 3, 4}, &gen), nn::randn({6}, &gen)});
  expect_cuda_matches_cpu(
      "conv2d",
      [](const std::vector<Tensor>& in) {
        return nn::conv2d(in[0], in[1], in[2], {2, 1}, {1, 2}, {1, 2}, 2);
      },
      {nn::randn({4, 6, 17, 15}, &gen), nn::randn({10, 3, 4, 3}, &gen), nn::randn({10}, &gen)});
  expect_cuda_matches_cpu(
      "conv_transpose2d",
      [](const std::vector<Tensor>& in) {
        return nn::conv_transpose2d(in[0], in[1], in[2], {2, 3}, {1, 0}, {1, 2}, 2, {1, 2});
      },
      {nn::randn({3, 8, 9, 7}, &gen), nn::randn({8, 5, 4, 3}, &gen), nn::randn({10}, &gen)});
}

}  // namespace
