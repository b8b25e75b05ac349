// Benchmarks of libnn's CPU sgemm against OpenBLAS (the yardstick; linked into this program
// only, never into libnn), both on 2 threads. Every shape is run by OpenBLAS first, then by
// ours; ours reports GFLOP/s and pct_of_openblas, the ratio to OpenBLAS's GFLOP/s measured
// in the same process just before. Run, e.g.:
//   build/gemm/benches/bench_gemm --benchmark_min_time=0.5
// Without OpenBLAS (not found at configure time) only ours runs.
//
// OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons (our dev VM: family 6
// model 207) and falls back to its Prescott (SSE3) kernels, a third of what it can do. So
// unless OPENBLAS_CORETYPE is set, this program sets it to OpenBLAS's best kernel for the
// CPU (SkylakeX with AVX-512, Haswell with AVX2) and restarts itself: the yardstick is
// OpenBLAS at its best on this machine, not a mis-detected OpenBLAS.
#include <libnn/cpu/gemm.hpp>

#include <benchmark/benchmark.h>
#include <omp.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(MUSEGEN_HAVE_OPENBLAS)
#include <cblas.h>
#endif

namespace {

using nn::cpu::Trans;

constexpr int kThreads = 2;

struct Shape {
  Trans ta, tb;
  int64_t M, N, K;
  int64_t pad = 0;  // added to every leading dimension (0: packed rows, ld = row length)
};

std::string shape_key(const Shape& s) {
  return std::string(s.ta == Trans::Yes ? "T" : "N") + (s.tb == Trans::Yes ? "T" : "N") + "/" +
         std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K) +
         (s.pad != 0 ? "/ld+" + std::to_string(s.pad) : "");
}

// OpenBLAS's GFLOP/s per shape, filled by its benchmark, read by ours.
std::map<std::string, double>& openblas_gflops() {
  static std::map<std::string, double> table;
  return table;
}

struct Operands {
  std::vector<float> A, B, C;
  int64_t lda, ldb, ldc;
  explicit Operands(const Shape& s)
      : lda((s.ta == Trans::Yes ? s.M : s.K) + s.pad),
        ldb((s.tb == Trans::Yes ? s.K : s.N) + s.pad),
        ldc(s.N + s.pad) {
    A.resize(static_cast<size_t>((s.ta == Trans::Yes ? s.K : s.M) * lda));
    B.resize(static_cast<size_t>((s.tb == Trans::Yes ? s.N : s.K) * ldb));
    C.resize(static_cast<size_t>(s.M * ldc));
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& x : A) x = dist(rng);
    for (float& x : B) x = dist(rng);
  }
};

double flops(const Shape& s) { return 2.0 * double(s.M) * double(s.N) * double(s.K); }

// Lets the other library's idle threads stop spinning (OpenBLAS's spin about 0.1 s after a
// call, OpenMP's a few milliseconds): on 2 cores they would steal time from the next run.
void quiet_period() { std::this_thread::sleep_for(std::chrono::milliseconds(250)); }

// Runs the timed loop and returns GFLOP/s over the whole loop (wall clock), the figure both
// libraries are compared by.
template <typename F>
double timed_loop(benchmark::State& state, const Shape& s, F&& call) {
  call();  // warm up: page faults, packing buffers, thread team
  quiet_period();
  const double start = omp_get_wtime();
  for (auto _ : state) {
    call();
    benchmark::ClobberMemory();
  }
  const double gflops = flops(s) * 1e-9 * double(state.iterations()) / (omp_get_wtime() - start);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops(s) * 1e-9 * double(state.iterations()), benchmark::Counter::kIsRate);
  return gflops;
}

void bench_ours(benchmark::State& state, Shape s) {
  omp_set_num_threads(kThreads);
  Operands op(s);
  auto call = [&] {
    nn::cpu::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, op.A.data(), op.lda, op.B.data(), op.ldb,
                   0.0f, op.C.data(), op.ldc);
  };
  const double gflops = timed_loop(state, s, call);
  const auto found = openblas_gflops().find(shape_key(s));
  if (found != openblas_gflops().end()) state.counters["pct_of_openblas"] = 100.0 * gflops / found->second;
  state.SetLabel(nn::cpu::gemm_isa_name(nn::cpu::gemm_isa()));
}

#if defined(MUSEGEN_HAVE_OPENBLAS)
void bench_openblas(benchmark::State& state, Shape s) {
  openblas_set_num_threads(kThreads);
  Operands op(s);
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, s.ta == Trans::Yes ? CblasTrans : CblasNoTrans,
                s.tb == Trans::Yes ? CblasTrans : CblasNoTrans, static_cast<int>(s.M),
                static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, op.A.data(),
                static_cast<int>(op.lda), op.B.data(), static_cast<int>(op.ldb), 0.0f,
                op.C.data(), static_cast<int>(op.ldc));
  };
  openblas_gflops()[shape_key(s)] = timed_loop(state, s, call);
}
#endif

int register_all() {
  std::vector<Shape> shapes;
  for (int64_t n : {256, 512, 1024, 2048, 4096}) shapes.push_back({Trans::No, Trans::No, n, n, n});
  // The same squares with every row 16 floats longer than the matrix: rows 4 KiB apart (any
  // power-of-two width from 1024 floats) fall in one L1 set, so a 14-row tile of C contends
  // for its ways; this shows how much of a gap to OpenBLAS that aliasing explains.
  for (int64_t n : {1024, 2048, 4096}) shapes.push_back({Trans::No, Trans::No, n, n, n, 16});
  shapes.push_back({Trans::Yes, Trans::No, 1024, 1024, 1024});
  shapes.push_back({Trans::No, Trans::Yes, 1024, 1024, 1024});
  shapes.push_back({Trans::Yes, Trans::Yes, 1024, 1024, 1024});
  // The LSTM's products: (B·T or B rows) × 4H gates; forward NN, backward TN and NT.
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      if (ta == Trans::Yes && tb == Trans::Yes) continue;
      for (int64_t m : {64, 128})
        for (int64_t k : {512, 1024}) shapes.push_back({ta, tb, m, 2048, k});
    }
  for (const Shape& s : shapes) {
#if defined(MUSEGEN_HAVE_OPENBLAS)
    benchmark::RegisterBenchmark(("openblas/" + shape_key(s)).c_str(), bench_openblas, s)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
#endif
    benchmark::RegisterBenchmark(("ours/" + shape_key(s)).c_str(), bench_ours, s)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(MUSEGEN_HAVE_OPENBLAS) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  const char* core = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                     : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                       : nullptr;
  if (const char* set = std::getenv("OPENBLAS_CORETYPE"); set != nullptr) {
    // Some machines set it for everything (one of ours: Haswell on an AVX-512 CPU), which
    // would time OpenBLAS below its best and flatter ours.
    if (core != nullptr && std::string(set) != core) {
      std::printf(
          "bench_gemm: warning: OPENBLAS_CORETYPE=%s is set in the environment, but this "
          "CPU's best OpenBLAS kernel is %s: the yardstick is not OpenBLAS at its best "
          "(run `env -u OPENBLAS_CORETYPE bench_gemm`)\n",
          set, core);
    }
  } else {
    if (core != nullptr) {
      setenv("OPENBLAS_CORETYPE", core, 1);
      execv("/proc/self/exe", argv);  // returns only on failure: go on with the default
      std::fprintf(stderr, "bench_gemm: could not restart with OPENBLAS_CORETYPE=%s\n", core);
    }
  }
  std::printf("OpenBLAS: %s, core %s (OPENBLAS_CORETYPE=%s)\n", openblas_get_config(),
              openblas_get_corename(), std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset");
#endif
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
