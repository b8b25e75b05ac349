// The bidirectional LSTM on CUDA against the same module on the CPU: output, final state and
// every gradient (input, h0, c0, all parameters). The module adds no kernel of its own: it
// runs lstm_layer, flip (copy_block), cat and stack, each replayed on CUDA by
// test_cuda_ops.cpp; this checks that they compose on the device (the reverse direction's
// flips, the [forward, reverse] concatenation, the state order). Skips without a GPU.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/ops.hpp"

namespace {

using cuda_test::kCpu;
using cuda_test::kCuda;
using cuda_test::rel_error;
using nn::Tensor;

struct Results {
  std::vector<Tensor> values;  // output, h_n, c_n, then the gradients
  std::vector<std::string> names;
};

Results run_module(nn::Device device, bool batch_first, bool with_state) {
  nn::Generator gen(201), data(202);
  nn::LSTM lstm(nn::LSTMOptions(6, 8)
                    .num_layers(2)
                    .bidirectional(true)
                    .batch_first(batch_first)
                    .generator(&gen));
  lstm.to(device);
  const std::int64_t T = 7, B = 3;
  const Tensor x_cpu = batch_first ? nn::randn({B, T, 6}, &data) : nn::randn({T, B, 6}, &data);
  const Tensor h0_cpu = nn::randn({4, B, 8}, &data), c0_cpu = nn::randn({4, B, 8}, &data);
  const Tensor gy =
      (batch_first ? nn::randn({B, T, 16}, &data) : nn::randn({T, B, 16}, &data)).to(device);
  const Tensor gh = nn::randn({4, B, 8}, &data).to(device),
               gc = nn::randn({4, B, 8}, &data).to(device);
  Tensor x = x_cpu.to(device).set_requires_grad(true);
  Tensor h0 = h0_cpu.to(device).set_requires_grad(true);
  Tensor c0 = c0_cpu.to(device).set_requires_grad(true);
  std::optional<nn::LSTMState> hx;
  if (with_state) hx = nn::LSTMState{h0, c0};
  auto [y, s] = lstm.forward(x, hx);
  nn::backward({y, std::get<0>(s), std::get<1>(s)}, {gy, gh, gc});
  Results r;
  r.values = {y, std::get<0>(s), std::get<1>(s), x.grad()};
  r.names = {"output", "h_n", "c_n", "grad input"};
  if (with_state) {
    r.values.insert(r.values.end(), {h0.grad(), c0.grad()});
    r.names.insert(r.names.end(), {"grad h0", "grad c0"});
  }
  for (const auto& [name, p] : lstm.named_parameters()) {
    r.values.push_back(p.grad());
    r.names.push_back("grad " + name);
  }
  return r;
}

TEST(CudaLstm, BidirectionalMatchesCpu) {
  NN_REQUIRE_CUDA();
  for (const bool batch_first : {false, true}) {
    for (const bool with_state : {false, true}) {
      SCOPED_TRACE(std::string("batch_first ") + (batch_first ? "true" : "false") +
                   ", initial state " + (with_state ? "given" : "zeros"));
      const Results cpu = run_module(kCpu, batch_first, with_state),
                    gpu = run_module(kCuda, batch_first, with_state);
      ASSERT_EQ(cpu.values.size(), gpu.values.size());
      for (std::size_t i = 0; i < cpu.values.size(); ++i) {
        ASSERT_TRUE(gpu.values[i].defined()) << gpu.names[i];
        EXPECT_EQ(gpu.values[i].device(), kCuda) << gpu.names[i];
        // As lstm_layer's tolerance in test_cuda_ops.cpp (a recurrence of float32 steps).
        const double err = rel_error(gpu.values[i].to(kCpu), cpu.values[i]);
        EXPECT_LE(err, 2e-5) << cpu.names[i] << ": ||cuda - cpu|| / ||cpu|| = " << err;
      }
    }
  }
}

}  // namespace
