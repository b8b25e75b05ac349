// Benchmarks of the convolutions (nn::conv1d, nn::conv_transpose1d, nn::conv2d: im2col + our
// sgemm, src/ops/conv.cpp) at sizes a GAN's discriminator and generator use: a DCGAN-style
// down-sampling layer, kernel 4, stride 2, padding 1, batch 64. Forward alone (inference) and
// forward + backward (input, weight and bias gradients: training). GFLOP/s counts the GEMM
// multiply-adds (2 flops each): forward 2·B·C_out·P·C_in/groups·taps with P output positions,
// backward twice that. Threads: OMP_NUM_THREADS. Run, e.g.:
//   OMP_NUM_THREADS=2 build/release/benches/bench_conv --benchmark_min_time=2
// docs/perf.md ("Convolutions") has the figures and the machine.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <libnn/autograd.hpp>
#include <libnn/ops.hpp>
#include <libnn/random.hpp>
#include <vector>

namespace {

using nn::Tensor;

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

using Conv = std::function<Tensor(const Tensor& x, const Tensor& w, const Tensor& b)>;

// Forward alone, or forward + backward into fresh gradients of x, w and b.
void run(benchmark::State& state, const Tensor& x, const Tensor& w, const Tensor& b,
         const Conv& conv, double forward_flops, bool backward) {
  if (!backward) {
    nn::NoGradGuard no_grad;
    for (auto _ : state) {
      Tensor y = conv(x, w, b);
      benchmark::DoNotOptimize(y.data_ptr<float>());
    }
    set_flops(state, forward_flops);
    return;
  }
  std::vector<Tensor> leaves{x.clone().set_requires_grad(true), w.clone().set_requires_grad(true),
                             b.clone().set_requires_grad(true)};
  nn::Generator gen(2);
  const Tensor gy = nn::randn(conv(x, w, b).sizes(), &gen);
  for (auto _ : state) {
    for (const Tensor& t : leaves) t.zero_grad();
    Tensor y = conv(leaves[0], leaves[1], leaves[2]);
    nn::backward({y}, {gy});
    benchmark::DoNotOptimize(leaves[1].grad().data_ptr<float>());
  }
  set_flops(state, 3 * forward_flops);
}

// conv1d: x (B, C_in, L), weight (C_out, C_in, 4), stride 2, padding 1 -> L/2 positions.
void BM_Conv1d(benchmark::State& state) {
  const std::int64_t B = state.range(0), C_in = state.range(1), C_out = state.range(2),
                     L = state.range(3);
  nn::Generator gen(1);
  const Tensor x = nn::randn({B, C_in, L}, &gen), w = nn::randn({C_out, C_in, 4}, &gen).mul_(0.05),
               b = nn::randn({C_out}, &gen);
  const std::int64_t P = L / 2;
  run(
      state, x, w, b,
      [](const Tensor& x_, const Tensor& w_, const Tensor& b_) {
        return nn::conv1d(x_, w_, b_, 2, 1);
      },
      2.0 * B * C_out * P * C_in * 4, state.range(4) != 0);
}
// (B, C_in, C_out, L, backward)
BENCHMARK(BM_Conv1d)
    ->Args({64, 64, 128, 256, 0})
    ->Args({64, 64, 128, 256, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// conv_transpose1d: the generator's up-sampling mirror of BM_Conv1d, x (B, C_in, L),
// weight (C_in, C_out, 4), stride 2, padding 1 -> 2L.
void BM_ConvTranspose1d(benchmark::State& state) {
  const std::int64_t B = state.range(0), C_in = state.range(1), C_out = state.range(2),
                     L = state.range(3);
  nn::Generator gen(1);
  const Tensor x = nn::randn({B, C_in, L}, &gen), w = nn::randn({C_in, C_out, 4}, &gen).mul_(0.05),
               b = nn::randn({C_out}, &gen);
  run(
      state, x, w, b,
      [](const Tensor& x_, const Tensor& w_, const Tensor& b_) {
        return nn::conv_transpose1d(x_, w_, b_, 2, 1);
      },
      2.0 * B * C_in * L * C_out * 4, state.range(4) != 0);
}
BENCHMARK(BM_ConvTranspose1d)
    ->Args({64, 128, 64, 128, 0})
    ->Args({64, 128, 64, 128, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// conv2d: x (B, C_in, S, S), weight (C_out, C_in, 4, 4), stride 2, padding 1 -> (S/2)^2.
void BM_Conv2d(benchmark::State& state) {
  const std::int64_t B = state.range(0), C_in = state.range(1), C_out = state.range(2),
                     S = state.range(3);
  nn::Generator gen(1);
  const Tensor x = nn::randn({B, C_in, S, S}, &gen),
               w = nn::randn({C_out, C_in, 4, 4}, &gen).mul_(0.05), b = nn::randn({C_out}, &gen);
  const std::int64_t P = (S / 2) * (S / 2);
  run(
      state, x, w, b,
      [](const Tensor& x_, const Tensor& w_, const Tensor& b_) {
        return nn::conv2d(x_, w_, b_, {2, 2}, {1, 1});
      },
      2.0 * B * C_out * P * C_in * 16, state.range(4) != 0);
}
// (B, C_in, C_out, S, backward): a DCGAN discriminator's second layer, 32x32 -> 16x16.
BENCHMARK(BM_Conv2d)
    ->Args({64, 64, 128, 32, 0})
    ->Args({64, 64, 128, 32, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
