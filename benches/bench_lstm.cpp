// Benchmarks of the fused LSTM layer (nn::lstm_layer, src/cpu/lstm.cpp) at the reference
// model's size, T = 100, B = 64, I = H = 512: forward alone (inference, nothing saved),
// forward + backward (training), and one generation step at batch 1 (T = 1, the state
// carried, as sampling runs), through lstm_layer and through LSTMStepper with float32 or
// float16 weights; and a bidirectional nn::LSTM module against two unidirectional ones at
// T = 100, B = 32, I = H = 256. GFLOP/s counts the GEMM multiply-adds (2 flops each): forward
// 2·T·B·4H·(I + H), backward twice that. Threads: OMP_NUM_THREADS. Run, e.g.:
//   OMP_NUM_THREADS=2 build/release/benches/bench_lstm --benchmark_min_time=2
// docs/perf.md ("LSTM") has the figures and the machine.
#include <libnn/autograd.hpp>
#include <libnn/modules/lstm.hpp>
#include <libnn/modules/lstm_stepper.hpp>
#include <libnn/ops.hpp>
#include <libnn/random.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace {

using nn::Tensor;

struct Layer {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh;
  Layer(std::int64_t T, std::int64_t B, std::int64_t I, std::int64_t H) {
    nn::Generator gen(1);
    const double bound = 1.0 / 22.6;  // ~1/sqrt(512), PyTorch's initialization
    x = nn::randn({T, B, I}, &gen);
    h0 = nn::randn({B, H}, &gen).mul_(0.1);
    c0 = nn::randn({B, H}, &gen).mul_(0.1);
    w_ih = nn::rand({4 * H, I}, &gen).mul_(2 * bound).add_(nn::full({4 * H, I}, -bound));
    w_hh = nn::rand({4 * H, H}, &gen).mul_(2 * bound).add_(nn::full({4 * H, H}, -bound));
    b_ih = nn::zeros({4 * H});
    b_hh = nn::zeros({4 * H});
  }
};

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LstmForward(benchmark::State& state) {
  const std::int64_t T = state.range(0), B = state.range(1), I = state.range(2), H = state.range(2);
  const Layer l(T, B, I, H);
  nn::NoGradGuard no_grad;
  for (auto _ : state) {
    nn::LSTMLayerResult r = nn::lstm_layer(l.x, l.h0, l.c0, l.w_ih, l.w_hh, l.b_ih, l.b_hh);
    benchmark::DoNotOptimize(r.output.data_ptr<float>());
  }
  set_flops(state, 2.0 * T * B * 4 * H * (I + H));
}
BENCHMARK(BM_LstmForward)->Args({100, 64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LstmForwardBackward(benchmark::State& state) {
  const std::int64_t T = state.range(0), B = state.range(1), I = state.range(2), H = state.range(2);
  const Layer l(T, B, I, H);
  std::vector<Tensor> leaves;
  for (const Tensor& t : {l.x, l.h0, l.c0, l.w_ih, l.w_hh, l.b_ih, l.b_hh}) {
    leaves.push_back(t.clone().set_requires_grad(true));
  }
  nn::Generator gen(2);
  const Tensor gy = nn::randn({T, B, H}, &gen);
  for (auto _ : state) {
    for (const Tensor& t : leaves) t.zero_grad();
    nn::LSTMLayerResult r = nn::lstm_layer(leaves[0], leaves[1], leaves[2], leaves[3],
                                           leaves[4], leaves[5], leaves[6]);
    nn::backward({r.output}, {gy});
    benchmark::DoNotOptimize(leaves[3].grad().data_ptr<float>());
  }
  set_flops(state, 3 * 2.0 * T * B * 4 * H * (I + H));
}
BENCHMARK(BM_LstmForwardBackward)->Args({100, 64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();

// A bidirectional nn::LSTM (one layer, forward + backward, output (T,B,2H)) against two
// unidirectional ones run in turn (what it computes, without the flips and the
// concatenation): the cost of building the reverse direction on flip. Args: T, B, I = H;
// range(3) = 1 bidirectional, 0 two unidirectional.
void BM_LstmModuleForwardBackward(benchmark::State& state) {
  const std::int64_t T = state.range(0), B = state.range(1), H = state.range(2);
  const bool bidirectional = state.range(3) != 0;
  nn::Generator gen(3);
  const nn::LSTMOptions options = nn::LSTMOptions(H, H).generator(&gen);
  std::vector<std::unique_ptr<nn::LSTM>> modules;
  if (bidirectional) {
    modules.push_back(std::make_unique<nn::LSTM>(nn::LSTMOptions(options).bidirectional(true)));
  } else {
    for (int k = 0; k < 2; ++k) modules.push_back(std::make_unique<nn::LSTM>(options));
  }
  const Tensor x = nn::randn({T, B, H}, &gen).set_requires_grad(true);
  const Tensor gy = nn::randn({T, B, bidirectional ? 2 * H : H}, &gen);
  for (auto _ : state) {
    x.zero_grad();
    for (auto& m : modules) {
      m->zero_grad();
      const Tensor y = std::get<0>(m->forward(x));
      nn::backward({y}, {gy});
    }
    benchmark::DoNotOptimize(x.grad().data_ptr<float>());
  }
  set_flops(state, 2 * 3 * 2.0 * T * B * 4 * H * (H + H));
}
BENCHMARK(BM_LstmModuleForwardBackward)
    ->Args({100, 32, 256, 1})
    ->Args({100, 32, 256, 0})
    ->ArgNames({"T", "B", "H", "bidirectional"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One generation step of `layers` stacked layers at batch 1: T = 1, the state carried.
void BM_LstmGenerateStep(benchmark::State& state) {
  const std::int64_t H = state.range(0), layers = state.range(1);
  std::vector<Layer> ls;
  for (std::int64_t k = 0; k < layers; ++k) ls.emplace_back(1, 1, H, H);
  nn::NoGradGuard no_grad;
  std::vector<Tensor> h, c;
  for (const Layer& l : ls) {
    h.push_back(l.h0);
    c.push_back(l.c0);
  }
  for (auto _ : state) {
    Tensor x = ls[0].x;
    for (std::size_t k = 0; k < ls.size(); ++k) {
      nn::LSTMLayerResult r = nn::lstm_layer(x, h[k], c[k], ls[k].w_ih, ls[k].w_hh, ls[k].b_ih,
                                             ls[k].b_hh);
      x = r.output;
      h[k] = r.h;
      c[k] = r.c;
    }
    benchmark::DoNotOptimize(x.data_ptr<float>());
  }
  state.counters["tokens/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LstmGenerateStep)->Args({512, 1})->Args({512, 3})->Unit(benchmark::kMicrosecond)->UseRealTime();

// The same step through nn::LSTMStepper: `layers` layers of H units, weights float32
// (dtype 0) or float16 (1); a step streams 2·layers·4H·H weights (24 MB / 12 MB at H = 512,
// 3 layers), reported as GB/s.
void BM_LstmStepperStep(benchmark::State& state) {
  const std::int64_t H = state.range(0), layers = state.range(1);
  const bool half = state.range(2) != 0;
  nn::Generator gen(1);
  const nn::LSTM lstm(nn::LSTMOptions(H, H).num_layers(layers).generator(&gen));
  const nn::LSTMStepper stepper(
      lstm, nn::LSTMStepperOptions().weight_dtype(half ? nn::DType::Float16 : nn::DType::Float32));
  const Tensor x = nn::randn({1, H}, &gen);
  nn::LSTMState s;
  for (auto _ : state) {
    const Tensor h = stepper.step(x, s);
    benchmark::DoNotOptimize(h.data_ptr<float>());
  }
  state.counters["tokens/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(
      1e-9 * static_cast<double>(2 * layers * 4 * H * H) * (half ? 2 : 4),
      benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LstmStepperStep)
    ->ArgNames({"H", "layers", "fp16"})
    ->Args({512, 1, 0})->Args({512, 3, 0})->Args({512, 1, 1})->Args({512, 3, 1})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
