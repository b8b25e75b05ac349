// A matrix product with bf16 operands and a float32 result, for kernels that keep their own
// bf16 copies (the stepwise LSTM's recurrence under the bf16 matmul precision: lstm.cu).
// The gemm table (src/kernels/gemm.hpp) stays float32 in and out.
#pragma once

#include <cstdint>

namespace nn::cuda {

// C (M,N) = op(A) op(B) + beta C, row-major as the gemm table's: A and B are device arrays of
// __nv_bfloat16, C of float. cublasGemmEx with CUDA_R_16BF operands, CUBLAS_COMPUTE_32F
// (float32 sums) and a CUDA_R_32F result, on the current stream. beta = 0 does not read C.
void gemm_bf16(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const void* A,
               std::int64_t lda, const void* B, std::int64_t ldb, float beta, float* C,
               std::int64_t ldc);

}  // namespace nn::cuda
