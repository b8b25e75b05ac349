// Benchmarks of libnn's CPU elementwise-type kernels in GB/s: the bytes a kernel must read
// and write (each input read once, each output written once) per second of wall-clock time,
// on 2 OpenMP threads, at 4K, 256K and 16M float elements (16 KiB, 1 MiB and 64 MiB per
// array: L1, L2 and beyond). The kernels are called through their tables (src/kernels/), as
// the ops call them, on preallocated tensors. For context: memcpy at the same sizes, and the
// scalar std::exp / std::tanh loops that the vectorized kernels replaced (the same threads
// and chunks, the old code). exp and tanh also run with each vec_math implementation the
// CPU has. Run, e.g.:
//   build/vec/benches/bench_elementwise --benchmark_min_time=0.3
// docs/perf.md ("Elementwise kernels") has the figures and the machine.
#include <libnn/tensor.hpp>

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/vec_math.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/loss.hpp"
#include "kernels/norm.hpp"
#include "kernels/optim.hpp"
#include "kernels/softmax.hpp"

namespace {

using nn::Tensor;
using nn::cpu::VecIsa;
namespace kernels = nn::kernels;

constexpr int kThreads = 2;
constexpr std::int64_t kSizes[] = {std::int64_t{1} << 12, std::int64_t{1} << 18, std::int64_t{1} << 24};
constexpr std::int64_t kVocab = 388;       // last dimension of softmax and cross-entropy
constexpr std::int64_t kChannels = 512;    // layer norm's C and the broadcast row's length
constexpr std::int64_t kGrain = 1 << 15;   // elementwise.cpp's: the old std:: loops use it too

Tensor uniform(std::int64_t n, float lo, float hi) {
  Tensor t = nn::rand({n});
  float* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < n; ++i) p[i] = lo + (hi - lo) * p[i];
  return t;
}

// Runs `body` in the timed loop and reports bytes_per_call * calls / wall time as GB/s.
void timed(benchmark::State& state, double bytes_per_call, const std::function<void()>& body) {
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(bytes_per_call * 1e-9 * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
  state.counters["elems"] = static_cast<double>(state.range(0));
}

// ---- context: memcpy --------------------------------------------------------------------

void bm_memcpy(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<float> src(static_cast<std::size_t>(n), 1.0f), dst(static_cast<std::size_t>(n));
  timed(state, 8.0 * n, [&] {
    nn::cpu::parallel_for(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
      std::memcpy(dst.data() + begin, src.data() + begin, static_cast<std::size_t>(end - begin) * 4);
    });
  });
}

// ---- binary, unary, axpy --------------------------------------------------------------

void bm_binary(benchmark::State& state, kernels::BinaryOp op, bool row_broadcast) {
  const std::int64_t n = state.range(0);
  const std::int64_t c = kChannels;
  // a is (n/C, C); b is a (C) row broadcast over the rows, or a (n/C, C) tensor
  Tensor a = uniform(n, -1.0f, 1.0f).reshape({n / c, c});
  Tensor b = row_broadcast ? uniform(c, -1.0f, 1.0f) : uniform(n, -1.0f, 1.0f).reshape({n / c, c});
  Tensor out = nn::empty({n / c, c});
  timed(state, 4.0 * (2.0 * n + static_cast<double>(b.numel())),
        [&] { kernels::binary(out.device(), op, a, b, out); });
}

void bm_unary(benchmark::State& state, kernels::UnaryOp op, float lo, float hi, VecIsa isa) {
  const std::int64_t n = state.range(0);
  Tensor x = uniform(n, lo, hi);
  Tensor out = nn::empty({n});
  nn::cpu::set_vec_isa(isa);
  timed(state, 8.0 * n, [&] { kernels::unary(out.device(), op, x, out, 0.5f, 0.25f); });
  nn::cpu::set_vec_isa(VecIsa::Auto);
}

// The loops elementwise.cpp had before vec_math: std::exp / std::tanh per element.
void bm_std(benchmark::State& state, float (*fn)(float), float lo, float hi) {
  const std::int64_t n = state.range(0);
  Tensor x = uniform(n, lo, hi);
  Tensor out = nn::empty({n});
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  timed(state, 8.0 * n, [&] {
    nn::cpu::parallel_for(n, kGrain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) po[i] = fn(px[i]);
    });
  });
}

void bm_axpy(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Tensor x = uniform(n, -1.0f, 1.0f);
  Tensor y = uniform(n, -1.0f, 1.0f);
  timed(state, 12.0 * n, [&] { kernels::axpy(y.device(), 1e-3f, x, y); });
}

// ---- fused kernels ----------------------------------------------------------------------

void bm_softmax(benchmark::State& state) {
  const std::int64_t rows = state.range(0) / kVocab;
  const std::int64_t n = rows * kVocab;
  Tensor x = uniform(n, -4.0f, 4.0f).reshape({rows, kVocab});
  Tensor y = nn::empty({rows, kVocab});
  timed(state, 8.0 * n, [&] { kernels::softmax_forward(y.device(), x, y, rows, kVocab, 1, false); });
}

// Forward then backward of the fused cross-entropy on (B*T = 4096, V = 388) logits: the
// forward reads the logits, the backward reads them again and writes their gradient.
void bm_cross_entropy(benchmark::State& state) {
  const std::int64_t rows = state.range(0), c = kVocab, n = rows * c;
  Tensor logits = uniform(n, -4.0f, 4.0f).reshape({rows, c});
  Tensor target = nn::randint(0, c, {rows});
  Tensor loss = nn::empty({rows}), row_max = nn::empty({rows}), log_sum = nn::empty({rows});
  Tensor grad_loss = nn::full({}, 1.0);
  Tensor grad_logits = nn::empty({rows, c});
  const float scale = 1.0f / static_cast<float>(rows);
  timed(state, 12.0 * n + 20.0 * rows, [&] {
    kernels::cross_entropy_forward(logits.device(), logits, target, loss, row_max, log_sum, -100, 0.0f);
    kernels::cross_entropy_backward(logits.device(), grad_loss, scale, logits, target, row_max,
                                    log_sum, grad_logits, -100, 0.0f);
  });
  state.counters["elems"] = static_cast<double>(n);
}

void bm_layer_norm(benchmark::State& state) {
  const std::int64_t c = kChannels, rows = state.range(0) / c, n = rows * c;
  Tensor x = uniform(n, -2.0f, 2.0f).reshape({rows, c});
  Tensor weight = uniform(c, 0.5f, 1.5f), bias = uniform(c, -0.5f, 0.5f);
  Tensor out = nn::empty({rows, c}), mean = nn::empty({rows}), rstd = nn::empty({rows});
  timed(state, 8.0 * n + 8.0 * c + 8.0 * rows, [&] {
    kernels::layer_norm_forward(x.device(), x, weight, bias, out, mean, rstd, rows, c, 1e-5);
  });
}

// AdamW step: reads param, grad, exp_avg, exp_avg_sq; writes param, exp_avg, exp_avg_sq.
void bm_adam(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Tensor param = uniform(n, -1.0f, 1.0f), grad = uniform(n, -1.0f, 1.0f);
  Tensor exp_avg = nn::zeros({n}), exp_avg_sq = nn::zeros({n}), unused;
  kernels::AdamStep h;
  h.lr = 1e-3;
  h.beta1 = 0.9;
  h.beta2 = 0.999;
  h.eps = 1e-8;
  h.weight_decay = 0.01;
  h.decoupled_weight_decay = true;
  timed(state, 28.0 * n, [&] {
    kernels::adam_step(param.device(), param, grad, exp_avg, exp_avg_sq, unused, h);
    ++h.step;
  });
}

void register_all() {
  using kernels::BinaryOp;
  using kernels::UnaryOp;
  auto sizes = [](benchmark::internal::Benchmark* b) {
    for (std::int64_t n : kSizes) b->Arg(n);
    b->UseRealTime();
  };
  sizes(benchmark::RegisterBenchmark("memcpy", bm_memcpy));
  sizes(benchmark::RegisterBenchmark("add", bm_binary, BinaryOp::Add, false));
  sizes(benchmark::RegisterBenchmark("add_row_broadcast", bm_binary, BinaryOp::Add, true));
  sizes(benchmark::RegisterBenchmark("mul", bm_binary, BinaryOp::Mul, false));
  sizes(benchmark::RegisterBenchmark("affine", bm_unary, UnaryOp::Affine, -1.0f, 1.0f, VecIsa::Auto));
  sizes(benchmark::RegisterBenchmark("relu", bm_unary, UnaryOp::Relu, -1.0f, 1.0f, VecIsa::Auto));
  sizes(benchmark::RegisterBenchmark("axpy", bm_axpy));
  for (VecIsa isa : {VecIsa::Avx512, VecIsa::Avx2, VecIsa::Generic}) {
    if (!nn::cpu::vec_isa_available(isa)) continue;
    const std::string suffix = std::string("/") + nn::cpu::vec_isa_name(isa);
    sizes(benchmark::RegisterBenchmark(("exp" + suffix).c_str(), bm_unary, UnaryOp::Exp, -10.0f, 10.0f, isa));
    sizes(benchmark::RegisterBenchmark(("tanh" + suffix).c_str(), bm_unary, UnaryOp::Tanh, -4.0f, 4.0f, isa));
  }
  sizes(benchmark::RegisterBenchmark("exp/std", bm_std, [](float v) { return std::exp(v); }, -10.0f, 10.0f));
  sizes(benchmark::RegisterBenchmark("tanh/std", bm_std, [](float v) { return std::tanh(v); }, -4.0f, 4.0f));
  sizes(benchmark::RegisterBenchmark("sigmoid", bm_unary, UnaryOp::Sigmoid, -8.0f, 8.0f, VecIsa::Auto));
  sizes(benchmark::RegisterBenchmark("log", bm_unary, UnaryOp::Log, 0.01f, 100.0f, VecIsa::Auto));
  sizes(benchmark::RegisterBenchmark("softmax_last_dim", bm_softmax));
  benchmark::RegisterBenchmark("cross_entropy_fwd_bwd", bm_cross_entropy)->Arg(4096)->UseRealTime();
  sizes(benchmark::RegisterBenchmark("layer_norm_fwd", bm_layer_norm));
  sizes(benchmark::RegisterBenchmark("adamw_step", bm_adam));
}

}  // namespace

int main(int argc, char** argv) {
  omp_set_num_threads(kThreads);
  benchmark::AddCustomContext("omp_threads", std::to_string(kThreads));
  benchmark::AddCustomContext("vec_math", nn::cpu::vec_isa_name(nn::cpu::vec_isa()));
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
