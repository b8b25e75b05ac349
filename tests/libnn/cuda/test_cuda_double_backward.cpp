// Double backward (create_graph=true, nn::grad) on the CUDA backend against the CPU:
//
//  WganGpStepMatchesCpu   a WGAN-GP critic step (conv1d, leaky_relu, layer_norm, linear,
//                         tanh): the gradient penalty (nn::grad with create_graph through the
//                         critic), the loss, and every parameter's gradient of the loss, with
//                         every CUDA allocation poisoned.
//  ZeroFillOnTheDevice    an output that receives no gradient (lstm_layer's h and c when only
//                         its output is used) gets zeros on the node's device, under plain and
//                         create_graph backward alike.
//
// Without a GPU every test skips.
#include <gtest/gtest.h>

#include <vector>

#include "cuda_test_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace {

using cuda_test::kCpu;
using cuda_test::kCuda;
using cuda_test::rel_error;
using nn::Tensor;

struct WganResult {
  Tensor penalty, loss;
  std::vector<Tensor> grads;
};

// params: conv weight (3,2,3), conv bias (3), ln weight (3,4), ln bias (3,4), linear weight
// (1,12), linear bias (1); real, fake (B,2,8); eps (B,1,1).
WganResult wgan_gp_step(const std::vector<Tensor>& host_params, const Tensor& real,
                        const Tensor& fake, const Tensor& eps, nn::Device device) {
  std::vector<Tensor> p;
  for (const Tensor& t : host_params) p.push_back(t.to(device).set_requires_grad(true));
  auto critic = [&](const Tensor& x) {
    Tensor h = nn::conv1d(x, p[0], p[1], /*stride=*/2, /*padding=*/1);
    h = nn::leaky_relu(h, 0.2);
    h = nn::layer_norm(h, {3, 4}, p[2], p[3]);
    h = nn::tanh(h.reshape({h.size(0), -1}));
    return nn::linear(h, p[4], p[5]);
  };
  const Tensor r = real.to(device), f = fake.to(device), e = eps.to(device);
  Tensor x_hat = nn::add(nn::mul(e, r), nn::mul(nn::affine(e, -1.0, 1.0), f));
  x_hat.set_requires_grad(true);
  const Tensor g = nn::grad({nn::sum(critic(x_hat))}, {x_hat}, {}, /*create_graph=*/true)[0];
  const Tensor g2 = g.reshape({g.size(0), -1});
  const Tensor norm = nn::sqrt(nn::sum(nn::mul(g2, g2), {1}));
  WganResult out;
  out.penalty = nn::mean(nn::pow(nn::affine(norm, 1.0, -1.0), 2.0));
  out.loss = nn::add(nn::wasserstein_critic_loss(critic(r), critic(f)),
                     nn::affine(out.penalty, 10.0, 0.0));
  out.grads = nn::grad({out.loss}, p);
  return out;
}

TEST(CudaDoubleBackward, WganGpStepMatchesCpu) {
  NN_REQUIRE_CUDA();
  cuda_test::MatmulPrecisionGuard precision;
  nn::Generator gen = cuda_test::test_generator();
  const std::vector<Tensor> params = {
      nn::randn({3, 2, 3}, &gen) * 0.5,    nn::randn({3}, &gen) * 0.1,
      nn::randn({3, 4}, &gen) * 0.1 + 1.0, nn::randn({3, 4}, &gen) * 0.1,
      nn::randn({1, 12}, &gen) * 0.5,      nn::randn({1}, &gen) * 0.1};
  const Tensor real = nn::randn({4, 2, 8}, &gen);
  const Tensor fake = nn::randn({4, 2, 8}, &gen) * 1.5 + 0.5;
  const Tensor eps = nn::rand({4, 1, 1}, &gen);
  const WganResult cpu = wgan_gp_step(params, real, fake, eps, kCpu);
  WganResult gpu;
  {
    cuda_test::PoisonGuard poison;
    gpu = wgan_gp_step(params, real, fake, eps, kCuda);
  }
  ASSERT_EQ(gpu.penalty.device(), kCuda);
  EXPECT_LE(rel_error(gpu.penalty, cpu.penalty), 1e-4);
  EXPECT_LE(rel_error(gpu.loss, cpu.loss), 1e-4);
  ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
  for (std::size_t k = 0; k < cpu.grads.size(); ++k) {
    ASSERT_EQ(gpu.grads[k].device(), kCuda) << "param " << k;
    EXPECT_LE(rel_error(gpu.grads[k], cpu.grads[k]), 1e-4) << "param " << k;
  }
}

TEST(CudaDoubleBackward, ZeroFillOnTheDevice) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  const std::int64_t T = 3, B = 2, I = 4, H = 5;
  const Tensor x = nn::randn({T, B, I}, &gen);
  const Tensor w_ih = nn::randn({4 * H, I}, &gen) * 0.3;
  const Tensor w_hh = nn::randn({4 * H, H}, &gen) * 0.3;
  for (const bool create_graph : {false, true}) {
    std::vector<Tensor> grads[2];
    for (int d = 0; d < 2; ++d) {
      const nn::Device device = d == 0 ? kCpu : kCuda;
      Tensor xd = x.to(device).set_requires_grad(true);
      const nn::LSTMLayerResult r = nn::lstm_layer(xd, Tensor(), Tensor(), w_ih.to(device),
                                                   w_hh.to(device), Tensor(), Tensor());
      // Only the output: h and c get zeros, which must be on the device.
      const Tensor loss = nn::sum(nn::mul(r.output, r.output));
      if (create_graph) {
        // lstm_layer has no double backward: the error names it, on either device.
        const std::string message =
            cuda_test::error_message([&] { nn::grad({loss}, {xd}, {}, /*create_graph=*/true); });
        EXPECT_TRUE(cuda_test::contains(message, "'lstm_layer'")) << message;
        continue;
      }
      grads[d] = nn::grad({loss}, {xd});
    }
    if (!create_graph) {
      ASSERT_EQ(grads[1][0].device(), kCuda);
      EXPECT_LE(rel_error(grads[1][0], grads[0][0]), 2e-5);
    }
  }
}

}  // namespace
