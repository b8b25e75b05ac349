// Benchmarks of libnn's CUDA backend through the public API (nn::add, nn::cross_entropy,
// optim::AdamW, ...), so what is measured is what a user gets: the op's dispatch, its
// allocations from the caching allocator and its kernels.
//
// First the device's copy bandwidth: a 256 MiB device-to-device Tensor::copy_, counting the
// bytes read and written. Every memory-bound op after it reports bytes_per_second (the bytes
// it must read and write at the least: each input read once, each output written once) and
// pct_of_copy_bw, that rate as a share of the copy's in the same run: what the kernel leaves
// on the table. The tensors are 64 MiB and more, well past the L2 (50 MiB on an H100/H200).
// Then cuBLAS's float32 GEMM at 4096^3 and 8192^3 with precision "highest" (float32 FMA) and
// "high" (TF32 tensor cores), in TFLOP/s.
//
// Timing: CUDA events recorded on libnn's current stream around each call (after a warm-up),
// reported as manual time (UseManualTime / SetIterationTime, in seconds). The events time the
// GPU's work on the stream; a host that launches slower than the GPU runs shows up as idle
// time between the events, so it is counted too. The whole program runs in about a minute on
// an H200:
//   build/release/benches/bench_cuda_ops
// Without a usable GPU it prints why and exits 0; in a build without the CUDA backend it is a
// stub that says so.
#include <cstdio>

#if !defined(NN_BENCH_WITH_CUDA)

int main() {
  std::printf("bench_cuda_ops: libnn was built without CUDA; nothing to measure\n");
  return 0;
}

#else

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "libnn/cuda.hpp"
#include "libnn/ops.hpp"
#include "libnn/optim.hpp"
#include "libnn/random.hpp"
#include "libnn/tensor.hpp"

namespace {

using nn::Tensor;

constexpr nn::Device kCuda = nn::Device::cuda(0);
constexpr std::int64_t kMiB = 1024 * 1024;
constexpr int kWarmup = 3;
// Seconds of measured GPU time per benchmark, unless --benchmark_min_time says otherwise.
constexpr double kMinTime = 0.25;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
  }
}

// Two events on libnn's current stream: the GPU time of what runs between them.
class EventTimer {
 public:
  EventTimer() {
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  template <class F>
  double seconds(F&& body) {
    const auto stream = static_cast<cudaStream_t>(nn::cuda::get_current_stream());
    check(cudaEventRecord(start_, stream), "cudaEventRecord");
    body();
    check(cudaEventRecord(stop_, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return static_cast<double>(ms) * 1e-3;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// The copy's bandwidth (bytes/s), the best of the copy benchmarks, which run first; 0 until
// then (as when a --benchmark_filter leaves them out: no pct_of_copy_bw then).
double g_copy_bytes_per_second = 0.0;

struct Work {
  double bytes = 0.0;  // bytes read + written per call, at the least
  double flops = 0.0;  // floating-point operations per call (GEMM)
};

// Runs `body` in the timed loop, `before` (untimed: resetting gradients, a forward whose
// backward is timed) ahead of each call; reports the rates. A failure (an op without a CUDA
// kernel) skips the benchmark with its message.
void timed(benchmark::State& state, Work work, const std::function<void()>& before,
           const std::function<void()>& body, bool is_copy = false) {
  try {
    for (int i = 0; i < kWarmup; ++i) {
      before();
      body();
    }
    nn::cuda::synchronize();
    EventTimer timer;
    double total = 0.0;
    for (auto _ : state) {
      before();
      const double s = timer.seconds(body);
      state.SetIterationTime(s);
      total += s;
    }
    nn::cuda::synchronize();
    const double calls = static_cast<double>(state.iterations());
    if (work.bytes > 0.0 && total > 0.0) {
      state.SetBytesProcessed(static_cast<std::int64_t>(work.bytes * calls));
      const double rate = work.bytes * calls / total;
      if (is_copy) g_copy_bytes_per_second = std::max(g_copy_bytes_per_second, rate);
      if (g_copy_bytes_per_second > 0.0) {
        state.counters["pct_of_copy_bw"] = 100.0 * rate / g_copy_bytes_per_second;
      }
    }
    if (work.flops > 0.0 && total > 0.0) {
      state.counters["TFLOP/s"] = work.flops * calls / total * 1e-12;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void no_setup() {}

Tensor uniform(const nn::Shape& shape, float low, float high) {
  static nn::Generator gen(20240611);
  Tensor t = nn::empty(shape, kCuda);
  t.uniform_(low, high, &gen);
  return t;
}

double nbytes(const Tensor& t) { return static_cast<double>(t.nbytes()); }

// ---- the yardstick: a device-to-device copy ----------------------------------------------

void bm_copy(benchmark::State& state) {
  const std::int64_t n = state.range(0) * kMiB / 4;
  const Tensor src = uniform({n}, -1.0f, 1.0f);
  Tensor dst = nn::empty({n}, kCuda);
  timed(
      state, {2.0 * nbytes(src)}, no_setup, [&] { dst.copy_(src); }, /*is_copy=*/true);
}

// ---- elementwise ---------------------------------------------------------------------------

enum class Elementwise { Add, Mul, Exp, Relu };

void bm_elementwise(benchmark::State& state, Elementwise op) {
  const std::int64_t n = state.range(0) * kMiB / 4;
  const Tensor a = uniform({n}, -4.0f, 4.0f);
  const bool binary = op == Elementwise::Add || op == Elementwise::Mul;
  const Tensor b = binary ? uniform({n}, -4.0f, 4.0f) : Tensor();
  Tensor out;
  const double bytes = nbytes(a) * (binary ? 3.0 : 2.0);
  timed(state, {bytes}, no_setup, [&] {
    out = Tensor();  // the previous output goes back to the cache first
    switch (op) {
      case Elementwise::Add:
        out = nn::add(a, b);
        break;
      case Elementwise::Mul:
        out = nn::mul(a, b);
        break;
      case Elementwise::Exp:
        out = nn::exp(a);
        break;
      case Elementwise::Relu:
        out = nn::relu(a);
        break;
    }
  });
}

// ---- softmax, cross-entropy, layer norm ------------------------------------------------------

// x (N, C), 64 MiB: N = 16M / C.
void bm_softmax(benchmark::State& state) {
  const std::int64_t c = state.range(0);
  const Tensor x = uniform({64 * kMiB / 4 / c, c}, -8.0f, 8.0f);
  Tensor y;
  timed(state, {2.0 * nbytes(x)}, no_setup, [&] {
    y = Tensor();
    y = nn::softmax(x, -1);
  });
}

// Forward and backward of the fused loss: logits (N, C) read by the forward, read again and
// the gradient written by the backward.
void bm_cross_entropy(benchmark::State& state) {
  const std::int64_t c = state.range(0);
  const std::int64_t n = 64 * kMiB / 4 / c;
  Tensor logits = uniform({n, c}, -8.0f, 8.0f);
  logits.set_requires_grad(true);
  const Tensor target = nn::randint(0, c, {n}).to(kCuda);
  timed(
      state, {3.0 * nbytes(logits)}, [&] { logits.zero_grad(/*set_to_none=*/true); },
      [&] { nn::cross_entropy(logits, target).backward(); });
}

// x (N, 1024), 64 MiB, with weight and bias. Forward: read x, write y. Backward: read x and dy,
// write dx (the per-row statistics and the (1024) parameter gradients are negligible).
void bm_layer_norm(benchmark::State& state, bool backward) {
  constexpr std::int64_t c = 1024;
  const std::int64_t n = 64 * kMiB / 4 / c;
  Tensor x = uniform({n, c}, -2.0f, 2.0f);
  Tensor weight = uniform({c}, 0.5f, 1.5f);
  Tensor bias = uniform({c}, -0.5f, 0.5f);
  if (!backward) {
    Tensor y;
    timed(state, {2.0 * nbytes(x)}, no_setup, [&] {
      y = Tensor();
      y = nn::layer_norm(x, {c}, weight, bias);
    });
    return;
  }
  for (Tensor* t : {&x, &weight, &bias}) t->set_requires_grad(true);
  const Tensor dy = uniform({n, c}, -1.0f, 1.0f);
  Tensor y;
  timed(
      state, {3.0 * nbytes(x)},
      [&] {
        for (Tensor* t : {&x, &weight, &bias}) t->zero_grad(/*set_to_none=*/true);
        y = nn::layer_norm(x, {c}, weight, bias);
      },
      [&] { y.backward(dy); });
}

// ---- the optimizer step ------------------------------------------------------------------------

// AdamW over one parameter of state.range(0) MiB: reads param, grad, exp_avg, exp_avg_sq and
// writes param, exp_avg, exp_avg_sq: 7 x 4 bytes per element.
void bm_adamw(benchmark::State& state) {
  const std::int64_t n = state.range(0) * kMiB / 4;
  Tensor param = uniform({n}, -1.0f, 1.0f);
  param.set_requires_grad(true);
  param.set_grad(uniform({n}, -1e-2f, 1e-2f));
  nn::optim::AdamW opt({param}, nn::optim::AdamWOptions(1e-3));
  timed(state, {7.0 * 4.0 * static_cast<double>(n)}, no_setup, [&] { opt.step(); });
}

// ---- cuBLAS GEMM
// ---------------------------------------------------------------------------------

void bm_gemm(benchmark::State& state, nn::MatmulPrecision precision) {
  const std::int64_t n = state.range(0);
  const nn::MatmulPrecision previous = nn::float32_matmul_precision();
  nn::set_float32_matmul_precision(precision);
  const Tensor a = uniform({n, n}, -1.0f, 1.0f);
  const Tensor b = uniform({n, n}, -1.0f, 1.0f);
  Tensor c;
  Work work;
  work.flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  timed(state, work, no_setup, [&] {
    c = Tensor();
    c = nn::matmul(a, b);
  });
  nn::set_float32_matmul_precision(previous);
}

void register_all(bool default_min_time) {
  // (A benchmark's own MinTime would override --benchmark_min_time, so it is set only when the
  // command line gives none.)
  auto setup = [default_min_time](benchmark::internal::Benchmark* b) {
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
    if (default_min_time) b->MinTime(kMinTime);
  };
  // The yardstick first: the benchmarks run in registration order.
  setup(benchmark::RegisterBenchmark("copy_/MiB", bm_copy)->Arg(256)->Arg(64));
  for (auto [name, op] :
       {std::pair{"add", Elementwise::Add}, std::pair{"mul", Elementwise::Mul},
        std::pair{"exp", Elementwise::Exp}, std::pair{"relu", Elementwise::Relu}}) {
    setup(benchmark::RegisterBenchmark((std::string(name) + "/MiB").c_str(), bm_elementwise, op)
              ->Arg(64)
              ->Arg(256));
  }
  setup(benchmark::RegisterBenchmark("softmax_64MiB/C", bm_softmax)->Arg(1024)->Arg(8192));
  setup(benchmark::RegisterBenchmark("cross_entropy_fwd_bwd_64MiB/C", bm_cross_entropy)
            ->Arg(1024)
            ->Arg(8192));
  setup(benchmark::RegisterBenchmark("layer_norm_fwd_64MiB", bm_layer_norm, false));
  setup(benchmark::RegisterBenchmark("layer_norm_bwd_64MiB", bm_layer_norm, true));
  setup(benchmark::RegisterBenchmark("adamw_step/MiB", bm_adamw)->Arg(64)->Arg(256));
  setup(benchmark::RegisterBenchmark("gemm_fp32_highest/n", bm_gemm, nn::MatmulPrecision::Highest)
            ->Arg(4096)
            ->Arg(8192));
  setup(benchmark::RegisterBenchmark("gemm_fp32_high_tf32/n", bm_gemm, nn::MatmulPrecision::High)
            ->Arg(4096)
            ->Arg(8192));
}

}  // namespace

int main(int argc, char** argv) {
  if (!nn::cuda::is_available()) {
    std::printf("bench_cuda_ops: skipped: %s\n", nn::cuda::unavailable_reason().c_str());
    return 0;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    benchmark::AddCustomContext("gpu", prop.name);
    benchmark::AddCustomContext(
        "gpu_memory_GiB", std::to_string(static_cast<double>(prop.totalGlobalMem) / (1 << 30)));
  }
  bool min_time_given = false;
  for (int i = 1; i < argc; ++i) {
    min_time_given = min_time_given || std::string(argv[i]).rfind("--benchmark_min_time", 0) == 0;
  }
  register_all(!min_time_given);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::printf("%s", nn::cuda::memory_summary().c_str());
  return 0;
}

#endif  // NN_BENCH_WITH_CUDA
