// libnn's CPU single-precision matrix product (our own, BLIS-style; no BLAS library).
// Design and how to add an instruction set: docs/gemm.md.
//
// Every matrix is row-major: element (i, j) of a matrix with leading dimension ld is at
// [i * ld + j].
#pragma once

#include <cstdint>

namespace nn::cpu {

enum class Trans : bool { No = false, Yes = true };

// C (M×N, leading dim ldc) = alpha * op(A) * op(B) + beta * C.
//   op(A) is (M,K): A is stored (M,K) with lda >= K when ta == No, (K,M) with lda >= M when Yes.
//   op(B) is (K,N): B is stored (K,N) with ldb >= N when tb == No, (N,K) with ldb >= K when Yes.
// beta == 0: C is only written, never read (NaN or garbage in C does not propagate).
// K == 0 or alpha == 0: C = beta * C (A and B are not read).
// Runs on the OpenMP threads (omp_get_max_threads()) when the product is large enough and
// not already inside a parallel region. The result does not depend on the thread count:
// work is split over blocks of C, never over K, so every element is summed in one order.
void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Which micro-kernel sgemm uses. Auto picks the widest one the CPU supports.
enum class GemmIsa { Auto, Avx512, Avx2, Generic };

// For tests and benchmarks: force a micro-kernel (Auto restores the default).
// Throws std::invalid_argument if the CPU (or this build) lacks that instruction set.
// Not meant to be called while another thread is inside sgemm.
void set_gemm_isa(GemmIsa isa);

// The micro-kernel in use, Auto resolved.
GemmIsa gemm_isa();

// "auto", "avx512", "avx2" or "generic".
const char* gemm_isa_name(GemmIsa isa);

// True if set_gemm_isa(isa) would succeed on this CPU and build.
bool gemm_isa_available(GemmIsa isa);

}  // namespace nn::cpu
