// Registers the CPU matrix product (libnn/cpu/gemm.hpp, src/cpu/gemm/) as the CPU slot of the
// gemm kernel tables (src/kernels/gemm.hpp).
#include "kernels/gemm.hpp"

#include "libnn/cpu/gemm.hpp"

namespace nn::cpu {
namespace {

void gemm_cpu(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
              const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
              float* C, std::int64_t ldc) {
  sgemm(ta ? Trans::Yes : Trans::No, tb ? Trans::Yes : Trans::No, M, N, K, alpha, A, lda, B, ldb,
        beta, C, ldc);
}

void gemm_batched_cpu(bool ta, bool tb, std::int64_t batch, std::int64_t M, std::int64_t N,
                      std::int64_t K, float alpha, const float* A, std::int64_t lda,
                      std::int64_t stride_a, const float* B, std::int64_t ldb,
                      std::int64_t stride_b, float beta, float* C, std::int64_t ldc,
                      std::int64_t stride_c) {
  // Each product parallelizes internally; small batches of small matrices stay serial.
  for (std::int64_t i = 0; i < batch; ++i) {
    gemm_cpu(ta, tb, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
             C + i * stride_c, ldc);
  }
}

}  // namespace
}  // namespace nn::cpu

namespace nn::kernels {
Table<GemmFn> gemm{"gemm", cpu::gemm_cpu};
Table<GemmBatchedFn> gemm_batched{"gemm_batched", cpu::gemm_batched_cpu};
}  // namespace nn::kernels
