// Matrix products on raw row-major device pointers (see libnn/cpu/gemm.hpp for the CPU one).
#pragma once

#include <cstdint>

#include "kernels/table.hpp"

namespace nn::kernels {

// C (M,N) = alpha * op(A) * op(B) + beta * C, op = transpose when ta / tb. beta = 0: C not read.
using GemmFn = void(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K,
                    float alpha, const float* A, std::int64_t lda, const float* B,
                    std::int64_t ldb, float beta, float* C, std::int64_t ldc);
extern Table<GemmFn> gemm;

// `batch` independent products; matrix i starts at A + i*stride_a (stride 0 = shared).
using GemmBatchedFn = void(bool ta, bool tb, std::int64_t batch, std::int64_t M,
                           std::int64_t N, std::int64_t K, float alpha, const float* A,
                           std::int64_t lda, std::int64_t stride_a, const float* B,
                           std::int64_t ldb, std::int64_t stride_b, float beta, float* C,
                           std::int64_t ldc, std::int64_t stride_c);
extern Table<GemmBatchedFn> gemm_batched;

}  // namespace nn::kernels
