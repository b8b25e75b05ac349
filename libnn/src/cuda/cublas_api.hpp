// cuBLAS, opened on first use instead of linked.
//
// Linking libcublas.so makes the dynamic loader map it and libcublasLt.so (about 600 MB of
// GPU code between them) into every program before main(), and their relocations alone leave
// about 155 MB resident (measured: an empty C program is 1.2 MB resident, 155 MB when linked
// with -lcublas). A libnn program that never touches the GPU — `musegen render`, a CPU-only
// user, a machine without a GPU — should not pay that. So libnn links only the CUDA runtime
// (statically; it opens the driver itself, on first use) and opens cuBLAS with dlopen the first
// time a CUDA matrix product runs.
//
// The entry points libnn uses are listed once, in Api; their types are spelled out because
// cublas_api.h overloads cublasGemmEx and cublasGemmStridedBatchedEx in C++ (a legacy
// cudaDataType compute type), so `decltype(&cublasGemmEx)` would be ambiguous.
#pragma once

#include <cublas_v2.h>

namespace nn::cuda::cublas {

struct Api {
  cublasStatus_t (*create)(cublasHandle_t* handle);
  cublasStatus_t (*set_stream)(cublasHandle_t handle, cudaStream_t stream);
  cublasStatus_t (*gemm_ex)(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo);
  cublasStatus_t (*gemm_strided_batched_ex)(
      cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
      int k, const void* alpha, const void* A, cudaDataType Atype, int lda, long long strideA,
      const void* B, cudaDataType Btype, int ldb, long long strideB, const void* beta, void* C,
      cudaDataType Ctype, int ldc, long long strideC, int batchCount,
      cublasComputeType_t computeType, cublasGemmAlgo_t algo);
};

// The library, opened on the first call (thread-safe; later calls return the same table).
// Throws nn::Error naming every place it looked, and the loader's reason, when libcublas
// cannot be opened or lacks one of the entry points.
const Api& api();

}  // namespace nn::cuda::cublas
