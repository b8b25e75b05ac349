// Tests of nn::cpu::sgemm against a naive double-precision product, for every micro-kernel
// the CPU can run × the four transpose cases × odd sizes and sizes crossing the cache
// blocks, padded leading dimensions, alpha != 1, beta in {0 over NaN, 1, 0.5}, empty
// dimensions, and bit-identical results with 1 and 2 threads.
#include <libnn/cpu/gemm.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "cpu/gemm/gemm_testing.hpp"
#include "thread_scope.hpp"

namespace {

using nn::cpu::GemmIsa;
using nn::cpu::Trans;

constexpr GemmIsa kIsas[] = {GemmIsa::Avx512, GemmIsa::Avx2, GemmIsa::Generic};
constexpr float kSentinel = -12345.0f;  // fills C's padding columns, which must stay untouched

// Forces one micro-kernel for the scope of a test and restores the default afterwards.
class IsaScope {
 public:
  explicit IsaScope(GemmIsa isa) { nn::cpu::set_gemm_isa(isa); }
  ~IsaScope() { nn::cpu::set_gemm_isa(GemmIsa::Auto); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;
};

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Case {
  Trans ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad = 0;  // extra elements per row in lda, ldb and ldc
};

std::string describe(const Case& c, GemmIsa isa) {
  return std::string(nn::cpu::gemm_isa_name(isa)) + (c.ta == Trans::Yes ? " T" : " N") +
         (c.tb == Trans::Yes ? "T" : "N") + " M=" + std::to_string(c.M) +
         " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) +
         " pad=" + std::to_string(c.pad);
}

// Runs one case with the current micro-kernel and checks every element of C (and that the
// padding of C is untouched). Returns false after the first few mismatches.
bool check_case(const Case& c, GemmIsa isa, std::mt19937& rng) {
  const int64_t a_rows = c.ta == Trans::Yes ? c.K : c.M, a_cols = c.ta == Trans::Yes ? c.M : c.K;
  const int64_t b_rows = c.tb == Trans::Yes ? c.N : c.K, b_cols = c.tb == Trans::Yes ? c.K : c.N;
  const int64_t lda = std::max<int64_t>(1, a_cols + c.pad);
  const int64_t ldb = std::max<int64_t>(1, b_cols + c.pad);
  const int64_t ldc = std::max<int64_t>(1, c.N + c.pad);
  const std::vector<float> A = random_vector(static_cast<size_t>(a_rows * lda), rng);
  const std::vector<float> B = random_vector(static_cast<size_t>(b_rows * ldb), rng);
  std::vector<float> C0 = random_vector(static_cast<size_t>(c.M * ldc), rng);
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      float& x = C0[static_cast<size_t>(i * ldc + j)];
      if (j >= c.N) x = kSentinel;
      else if (c.beta == 0.0f) x = std::numeric_limits<float>::quiet_NaN();
    }
  }
  std::vector<float> C = C0;
  nn::cpu::sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta,
                 C.data(), ldc);

  auto a_at = [&](int64_t i, int64_t k) {
    return static_cast<double>(c.ta == Trans::Yes ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)]);
  };
  auto b_at = [&](int64_t k, int64_t j) {
    return static_cast<double>(c.tb == Trans::Yes ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)]);
  };
  // Float round-off of a length-K dot product is at most about K * 2^-24 * sum|a||b|.
  const double rel_tol = 2.0 * static_cast<double>(c.K + 4) * std::ldexp(1.0, -24);
  int failures = 0;
  for (int64_t i = 0; i < c.M && failures < 5; ++i) {
    for (int64_t j = 0; j < ldc && failures < 5; ++j) {
      const float got = C[size_t(i * ldc + j)];
      if (j >= c.N) {
        if (got != kSentinel) {
          ADD_FAILURE() << describe(c, isa) << ": padding C(" << i << "," << j
                        << ") was written: " << got;
          ++failures;
        }
        continue;
      }
      double sum = 0.0, magnitude = 0.0;
      for (int64_t k = 0; k < c.K; ++k) {
        sum += a_at(i, k) * b_at(k, j);
        magnitude += std::abs(a_at(i, k) * b_at(k, j));
      }
      const double c0 = c.beta == 0.0f ? 0.0 : C0[size_t(i * ldc + j)];
      const double expected = c.alpha * sum + c.beta * c0;
      const double allowed =
          rel_tol * (std::abs(c.alpha) * magnitude + std::abs(c.beta * c0)) + 1e-30;
      if (!(std::abs(got - expected) <= allowed)) {
        ADD_FAILURE() << describe(c, isa) << ": C(" << i << "," << j << ") = " << got
                      << ", expected " << expected << " (allowed error " << allowed << ")";
        ++failures;
      }
    }
  }
  return failures == 0;
}

std::vector<GemmIsa> available_isas() {
  std::vector<GemmIsa> isas;
  for (GemmIsa isa : kIsas) {
    if (nn::cpu::gemm_isa_available(isa)) isas.push_back(isa);
    else std::printf("[ skipped  ] micro-kernel %s: not supported by this CPU/build\n",
                     nn::cpu::gemm_isa_name(isa));
  }
  return isas;
}

constexpr Trans kTransposes[][2] = {
    {Trans::No, Trans::No}, {Trans::Yes, Trans::No}, {Trans::No, Trans::Yes}, {Trans::Yes, Trans::Yes}};

class GemmIsaTest : public ::testing::TestWithParam<GemmIsa> {
 protected:
  void SetUp() override {
    if (!nn::cpu::gemm_isa_available(GetParam()))
      GTEST_SKIP() << "micro-kernel " << nn::cpu::gemm_isa_name(GetParam())
                   << " is not supported by this CPU/build";
    scope_ = std::make_unique<IsaScope>(GetParam());
    ASSERT_EQ(nn::cpu::gemm_isa(), GetParam());
  }
  void TearDown() override { scope_.reset(); }
  std::unique_ptr<IsaScope> scope_;
};

// Every combination of small odd sizes: all register-block edge cases (MR is 4, 6 or 14,
// NR 8, 16 or 32), in all transpose cases, with padded leading dimensions.
TEST_P(GemmIsaTest, SmallOddSizes) {
  std::mt19937 rng(1);
  const int64_t sizes[] = {1, 2, 3, 7, 15, 17, 31, 33};
  for (const auto& t : kTransposes)
    for (int64_t M : sizes)
      for (int64_t N : sizes)
        for (int64_t K : sizes) {
          const float beta = (M + N + K) % 3 == 0 ? 0.0f : (M + N + K) % 3 == 1 ? 1.0f : 0.5f;
          if (!check_case({t[0], t[1], M, N, K, 0.75f, beta, (M * 7 + K) % 5}, GetParam(), rng))
            return;
        }
}

// Larger odd sizes (several micro-tiles, both threads busy), each beta, alpha != 1.
TEST_P(GemmIsaTest, MediumOddSizes) {
  std::mt19937 rng(2);
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {63, 65, 100}, {65, 63, 129}, {100, 129, 257}, {257, 100, 65}, {129, 257, 31},
      {33, 257, 63}, {257, 17, 129}, {64, 128, 64}};
  for (const auto& t : kTransposes)
    for (const auto& [M, N, K] : shapes)
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        if (!check_case({t[0], t[1], M, N, K, -1.5f, beta, 3}, GetParam(), rng)) return;
      }
}

// Shapes crossing the cache blocks of every kernel set: KC (256 or 384), NC (512 columns)
// and MC (512, 768 or 1008 rows), several times over, with any thread count.
TEST_P(GemmIsaTest, CacheBlockEdges) {
  std::mt19937 rng(3);
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {17, 33, 257}, {15, 31, 385}, {9, 40, 769}, {7, 1100, 33}, {5, 2100, 9},
      {2017, 7, 19}, {1537, 20, 5}, {3100, 3, 3}};
  for (const auto& t : kTransposes)
    for (const auto& [M, N, K] : shapes) {
      const float beta = K % 2 == 0 ? 0.0f : 0.5f;
      if (!check_case({t[0], t[1], M, N, K, 1.0f, beta, 1}, GetParam(), rng)) return;
    }
}

// The same product gives bit-identical C with 1 and 2 threads: work is split over blocks
// of C, never over K. Shapes: square-ish, and the LSTM's skinny one (split over N).
TEST_P(GemmIsaTest, SameResultWithOneAndTwoThreads) {
  std::mt19937 rng(4);
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {{200, 300, 500}, {64, 1100, 400}, {700, 24, 300}};
  for (const auto& t : kTransposes)
    for (const auto& [M, N, K] : shapes) {
      const int64_t lda = t[0] == Trans::Yes ? M : K, ldb = t[1] == Trans::Yes ? K : N;
      const std::vector<float> A = random_vector(static_cast<size_t>(M * K), rng);
      const std::vector<float> B = random_vector(static_cast<size_t>(K * N), rng);
      const std::vector<float> C0 = random_vector(static_cast<size_t>(M * N), rng);
      std::vector<float> C1 = C0, C2 = C0;
      {
        test_util::ThreadScope threads(1);
        nn::cpu::sgemm(t[0], t[1], M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 0.5f, C1.data(), N);
      }
      {
        test_util::ThreadScope threads(2);
        nn::cpu::sgemm(t[0], t[1], M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 0.5f, C2.data(), N);
      }
      ASSERT_TRUE(C1 == C2) << "results differ between 1 and 2 threads: "
                            << describe({t[0], t[1], M, N, K, 0.5f, 0.5f}, GetParam());
    }
}

// M == 1 takes the matrix-vector path (no packing): every transpose case, odd N and K
// around the 16-wide vectors and 64-output blocks, padded leading dimensions (a strided
// column of A when ta), each beta, and products large enough to run on two threads.
TEST_P(GemmIsaTest, MatrixVectorM1) {
  std::mt19937 rng(5);
  const std::tuple<int64_t, int64_t> shapes[] = {
      {1, 1},    {1, 17},   {17, 1},   {15, 16},  {16, 15},  {33, 31},   {63, 65},
      {64, 64},  {65, 129}, {129, 63}, {200, 300}, {360, 512}, {1100, 97}, {97, 1100}};
  for (const auto& t : kTransposes)
    for (const auto& [N, K] : shapes)
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        if (!check_case({t[0], t[1], 1, N, K, beta == 1.0f ? 1.0f : -0.75f, beta, (N + K) % 4},
                        GetParam(), rng))
          return;
      }
}

// The matrix-vector path splits the N outputs between threads: the same bits with 1 and 2.
TEST_P(GemmIsaTest, MatrixVectorSameResultWithOneAndTwoThreads) {
  std::mt19937 rng(6);
  const std::tuple<int64_t, int64_t> shapes[] = {{360, 512}, {2048, 512}, {1001, 301}};
  for (const auto& t : kTransposes)
    for (const auto& [N, K] : shapes) {
      const int64_t lda = t[0] == Trans::Yes ? 1 : K, ldb = t[1] == Trans::Yes ? K : N;
      const std::vector<float> A = random_vector(static_cast<size_t>(K), rng);
      const std::vector<float> B = random_vector(static_cast<size_t>(K * N), rng);
      const std::vector<float> C0 = random_vector(static_cast<size_t>(N), rng);
      std::vector<float> C1 = C0, C2 = C0;
      {
        test_util::ThreadScope threads(1);
        nn::cpu::sgemm(t[0], t[1], 1, N, K, 1.0f, A.data(), lda, B.data(), ldb, 1.0f, C1.data(), N);
      }
      {
        test_util::ThreadScope threads(2);
        nn::cpu::sgemm(t[0], t[1], 1, N, K, 1.0f, A.data(), lda, B.data(), ldb, 1.0f, C2.data(), N);
      }
      ASSERT_TRUE(C1 == C2) << "results differ between 1 and 2 threads: "
                            << describe({t[0], t[1], 1, N, K, 1.0f, 1.0f}, GetParam());
    }
}

// Products tall enough for the shared-B path (threads share one packed B block per KC×NC
// block and claim B-packing slices and row pieces of C from one counter; gemm.cpp): odd
// sizes crossing KC and NC, each transpose, padded leading dimensions, 2 and 3 threads,
// against the double-precision product. The path must actually be taken.
// Lowers the shared-B path's rows per thread (512 by default) for a test's lifetime, so that
// products small enough to check quickly take it.
struct SharedBFromRows {
  explicit SharedBFromRows(int64_t rows)
      : old(nn::cpu::gemm_testing::set_shared_min_rows_per_thread(rows)) {}
  ~SharedBFromRows() { nn::cpu::gemm_testing::set_shared_min_rows_per_thread(old); }
  int64_t old;
};

TEST_P(GemmIsaTest, SharedBPathOddSizes) {
  const SharedBFromRows from(128);
  std::mt19937 rng(6);
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {263, 70, 530}, {390, 45, 400}, {301, 530, 37}, {263, 2085, 45}};
  for (const int threads : {2, 3}) {
    const test_util::ThreadScope scope(threads);
    for (const auto& t : kTransposes)
      for (const auto& [M, N, K] : shapes) {
        if (M < 128 * threads) continue;  // below the path's rows per thread
        const int64_t before = nn::cpu::gemm_testing::shared_b_calls();
        const float beta = K % 2 == 0 ? 0.0f : 0.5f;
        if (!check_case({t[0], t[1], M, N, K, 0.75f, beta, 5}, GetParam(), rng)) return;
        ASSERT_EQ(nn::cpu::gemm_testing::shared_b_calls(), before + 1)
            << "the shared-B path was not taken with " << threads << " threads, M=" << M;
      }
  }
}

// Runs C = alpha op(A) op(B) + beta C with `threads` threads on a copy of C0.
std::vector<float> product(const Case& c, int threads, const std::vector<float>& A,
                           const std::vector<float>& B, const std::vector<float>& C0) {
  const int64_t lda = (c.ta == Trans::Yes ? c.M : c.K) + c.pad;
  const int64_t ldb = (c.tb == Trans::Yes ? c.K : c.N) + c.pad;
  std::vector<float> C = C0;
  const test_util::ThreadScope scope(threads);
  nn::cpu::sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(),
                 c.N + c.pad);
  return C;
}

// The same bits with 1 to 4 threads, and with every worker slowed down after each task it
// claims (a worker descheduled while it holds a B-packing slice or a row piece: the others
// must wait for it, or go round it, without changing the result). Sizes cross MC, NC and
// KC several times (several stages, both B buffers reused), with odd edges.
TEST_P(GemmIsaTest, SharedBPathSameBitsForAnyThreadCountAndSlowedWorkers) {
  const SharedBFromRows from(128);
  std::mt19937 rng(7);
  // The last shape is wide enough (N >= 4 NC) for the blocks of 2 NC columns.
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {1031, 1100, 777}, {600, 61, 1200}, {530, 2100, 100}};
  for (const auto& t : kTransposes)
    for (const auto& [M, N, K] : shapes) {
      const Case c{t[0], t[1], M, N, K, 0.5f, 0.25f, 3};
      const std::vector<float> A = random_vector(
          size_t((c.ta == Trans::Yes ? K : M) * ((c.ta == Trans::Yes ? M : K) + 3)), rng);
      const std::vector<float> B = random_vector(
          size_t((c.tb == Trans::Yes ? N : K) * ((c.tb == Trans::Yes ? K : N) + 3)), rng);
      const std::vector<float> C0 = random_vector(size_t(M * (N + 3)), rng);
      const std::vector<float> one = product(c, 1, A, B, C0);
      for (const int threads : {2, 3, 4}) {
        const int64_t before = nn::cpu::gemm_testing::shared_b_calls();
        ASSERT_TRUE(product(c, threads, A, B, C0) == one)
            << threads << " threads differ from 1: " << describe(c, GetParam());
        ASSERT_EQ(nn::cpu::gemm_testing::shared_b_calls(), before + 1) << "shared-B path not taken";
      }
      if (M != 600) continue;  // the slowed runs take a while: one shape is enough
      nn::cpu::gemm_testing::set_task_delay(std::chrono::microseconds(300));
      const std::vector<float> slowed2 = product(c, 2, A, B, C0);
      const std::vector<float> slowed4 = product(c, 4, A, B, C0);
      nn::cpu::gemm_testing::set_task_delay(std::chrono::microseconds(0));
      ASSERT_TRUE(slowed2 == one) << "2 threads, one slowed, differ from 1: "
                                  << describe(c, GetParam());
      ASSERT_TRUE(slowed4 == one) << "4 threads, three slowed, differ from 1: "
                                  << describe(c, GetParam());
    }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, GemmIsaTest, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<GemmIsa>& info) {
                           return std::string(nn::cpu::gemm_isa_name(info.param));
                         });

// K == 0 and alpha == 0: C = beta * C without reading A or B; beta == 0 overwrites NaN.
// M == 0 or N == 0: nothing happens.
TEST(Gemm, EmptyDimensions) {
  std::vector<float> C = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  nn::cpu::sgemm(Trans::No, Trans::No, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f}));

  std::vector<float> nans(6, std::numeric_limits<float>::quiet_NaN());
  nn::cpu::sgemm(Trans::Yes, Trans::Yes, 2, 3, 0, 1.0f, nullptr, 2, nullptr, 1, 0.0f, nans.data(), 3);
  EXPECT_EQ(nans, std::vector<float>(6, 0.0f));

  const std::vector<float> A(8, 1.0f), B(12, 1.0f);
  std::vector<float> D = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  nn::cpu::sgemm(Trans::No, Trans::No, 2, 3, 4, 0.0f, A.data(), 4, B.data(), 3, 2.0f, D.data(), 3);
  EXPECT_EQ(D, (std::vector<float>{2.0f, 4.0f, 6.0f, 8.0f, 10.0f, 12.0f}));

  std::vector<float> untouched = {7.0f};
  nn::cpu::sgemm(Trans::No, Trans::No, 0, 1, 4, 1.0f, A.data(), 4, B.data(), 1, 0.0f, untouched.data(), 1);
  nn::cpu::sgemm(Trans::No, Trans::No, 1, 0, 4, 1.0f, A.data(), 4, B.data(), 1, 0.0f, untouched.data(), 1);
  EXPECT_EQ(untouched, std::vector<float>{7.0f});
}

TEST(Gemm, RejectsBadArguments) {
  std::vector<float> A(16), B(16), C(16);
  EXPECT_THROW(nn::cpu::sgemm(Trans::No, Trans::No, -1, 2, 2, 1.0f, A.data(), 2, B.data(), 2, 0.0f, C.data(), 2),
               std::invalid_argument);
  EXPECT_THROW(nn::cpu::sgemm(Trans::No, Trans::No, 2, 2, 3, 1.0f, A.data(), 2, B.data(), 2, 0.0f, C.data(), 2),
               std::invalid_argument);  // lda < K
  EXPECT_THROW(nn::cpu::sgemm(Trans::No, Trans::Yes, 2, 3, 2, 1.0f, A.data(), 2, B.data(), 1, 0.0f, C.data(), 3),
               std::invalid_argument);  // ldb < K with tb
  EXPECT_THROW(nn::cpu::sgemm(Trans::No, Trans::No, 2, 3, 2, 1.0f, A.data(), 2, B.data(), 3, 0.0f, C.data(), 2),
               std::invalid_argument);  // ldc < N
}

TEST(Gemm, IsaSelection) {
  EXPECT_TRUE(nn::cpu::gemm_isa_available(GemmIsa::Generic));
  EXPECT_NE(nn::cpu::gemm_isa(), GemmIsa::Auto);
  for (GemmIsa isa : available_isas()) {
    IsaScope scope(isa);
    EXPECT_EQ(nn::cpu::gemm_isa(), isa);
  }
  for (GemmIsa isa : kIsas) {
    if (!nn::cpu::gemm_isa_available(isa)) {
      EXPECT_THROW(nn::cpu::set_gemm_isa(isa), std::invalid_argument);
    }
  }
  EXPECT_STREQ(nn::cpu::gemm_isa_name(GemmIsa::Avx512), "avx512");
}

}  // namespace
