// The CUDA matrix products (src/kernels/gemm.hpp) through cuBLAS.
//
// libnn's matrices are row-major and cuBLAS's column-major. A row-major C (M,N) is a
// column-major C^T (N,M), and C^T = op(B)^T op(A)^T, so each call passes B before A with the
// sizes swapped: no transposed copies. The float32 precision setting (libnn/cuda.hpp) picks
// the compute type: "highest" = CUBLAS_COMPUTE_32F, "high" = CUBLAS_COMPUTE_32F_FAST_TF32,
// "medium" = CUBLAS_COMPUTE_32F_FAST_16BF (the float32 operands converted to bf16 on the way
// into the tensor cores, float32 sums and output: no bf16 copy of a tensor is kept).
//
// cuBLAS itself is opened on the first product, not linked (cublas_api.hpp says why).
//
// cuBLAS handles are not safe to share between threads, so each thread has one per device,
// made on first use and bound to the current stream at every call (cublasSetStream is
// cheap). Handles live as long as the process: destroying them at exit would race the CUDA
// runtime's own shutdown.
#include <climits>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/cublas_api.hpp"
#include "cuda/gemm_bf16.hpp"
#include "cuda/register.hpp"
#include "kernels/gemm.hpp"
#include "libnn/cuda.hpp"

namespace nn::cuda {

namespace {

const char* cublas_status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}

}  // namespace
}  // namespace nn::cuda

#define NN_CUBLAS_CHECK(call)                                                                   \
  do {                                                                                          \
    const cublasStatus_t nn_cublas_status_ = (call);                                            \
    if (nn_cublas_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                \
      throw ::nn::Error(fmt::format("cuBLAS error: {} failed with {} at {}:{}", #call,          \
                                    ::nn::cuda::cublas_status_name(nn_cublas_status_), __FILE__, \
                                    __LINE__));                                                 \
  } while (false)

namespace nn::cuda {

namespace {

// This thread's handle for the current device, bound to the current stream.
cublasHandle_t handle() {
  thread_local std::vector<cublasHandle_t> handles;
  int device = 0;
  NN_CUDA_CHECK(cudaGetDevice(&device));
  if (handles.size() <= static_cast<std::size_t>(device)) {
    handles.resize(static_cast<std::size_t>(device) + 1, nullptr);
  }
  cublasHandle_t& h = handles[static_cast<std::size_t>(device)];
  if (h == nullptr) NN_CUBLAS_CHECK(cublas::api().create(&h));
  NN_CUBLAS_CHECK(cublas::api().set_stream(h, current_stream()));
  return h;
}

cublasComputeType_t compute_type() {
  switch (float32_matmul_precision()) {
    case MatmulPrecision::High:
      return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MatmulPrecision::Medium:
      return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MatmulPrecision::Highest:
      break;
  }
  return CUBLAS_COMPUTE_32F;
}

int as_int(std::int64_t value, const char* what) {
  NN_CHECK(value >= 0 && value <= INT_MAX,
           "gemm on CUDA: {} = {} is outside cuBLAS's 32-bit range", what, value);
  return static_cast<int>(value);
}

// C (M,N) = beta * C when there is nothing to multiply (K == 0): cuBLAS rejects lda = 0.
__global__ void scale_matrix_kernel(float* c, std::int64_t rows, std::int64_t cols,
                                    std::int64_t ldc, float beta) {
  NN_CUDA_KERNEL_LOOP(i, rows * cols) {
    float& v = c[(i / cols) * ldc + i % cols];
    v = beta == 0.0f ? 0.0f : beta * v;  // beta = 0 does not read C (it may hold NaN)
  }
}

void scale_matrix(float* c, std::int64_t rows, std::int64_t cols, std::int64_t ldc, float beta) {
  scale_matrix_kernel<<<grid_for(rows * cols), kBlock, 0, current_stream()>>>(c, rows, cols, ldc,
                                                                             beta);
  NN_CUDA_CHECK_LAUNCH();
}

void gemm_cuda(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
               const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
               float* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_matrix(C, M, N, ldc, beta);
  // Row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T.
  NN_CUBLAS_CHECK(cublas::api().gemm_ex(handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                               ta ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(N, "N"), as_int(M, "M"),
                               as_int(K, "K"), &alpha, B, CUDA_R_32F, as_int(ldb, "ldb"), A,
                               CUDA_R_32F, as_int(lda, "lda"), &beta, C, CUDA_R_32F,
                               as_int(ldc, "ldc"), compute_type(), CUBLAS_GEMM_DEFAULT));
}

void gemm_batched_cuda(bool ta, bool tb, std::int64_t batch, std::int64_t M, std::int64_t N,
                       std::int64_t K, float alpha, const float* A, std::int64_t lda,
                       std::int64_t stride_a, const float* B, std::int64_t ldb,
                       std::int64_t stride_b, float beta, float* C, std::int64_t ldc,
                       std::int64_t stride_c) {
  if (batch == 0 || M == 0 || N == 0) return;
  if (K == 0) {
    for (std::int64_t i = 0; i < batch; ++i) scale_matrix(C + i * stride_c, M, N, ldc, beta);
    return;
  }
  NN_CUBLAS_CHECK(cublas::api().gemm_strided_batched_ex(
      handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(N, "N"),
      as_int(M, "M"), as_int(K, "K"), &alpha, B, CUDA_R_32F, as_int(ldb, "ldb"), stride_b, A,
      CUDA_R_32F, as_int(lda, "lda"), stride_a, &beta, C, CUDA_R_32F, as_int(ldc, "ldc"),
      stride_c, as_int(batch, "batch"), compute_type(), CUBLAS_GEMM_DEFAULT));
}

}  // namespace

void gemm_bf16(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const void* A,
               std::int64_t lda, const void* B, std::int64_t ldb, float beta, float* C,
               std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_matrix(C, M, N, ldc, beta);
  const float alpha = 1.0f;
  // Row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T, as gemm_cuda.
  NN_CUBLAS_CHECK(cublas::api().gemm_ex(
      handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(N, "N"),
      as_int(M, "M"), as_int(K, "K"), &alpha, B, CUDA_R_16BF, as_int(ldb, "ldb"), A, CUDA_R_16BF,
      as_int(lda, "lda"), &beta, C, CUDA_R_32F, as_int(ldc, "ldc"), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

void register_gemm_kernels() {
  kernels::gemm.set(DeviceType::CUDA, gemm_cuda);
  kernels::gemm_batched.set(DeviceType::CUDA, gemm_batched_cuda);
}

}  // namespace nn::cuda
