// The float32 matrix-product precision setting (libnn/cuda.hpp): process-wide, as PyTorch's.
// Read by the CUDA gemm (src/cuda/gemm.cu) and the cuDNN LSTM (src/cuda/lstm_cudnn.cu); the
// CPU GEMM always computes in float32.
#include <atomic>

#include "core/check.hpp"
#include "libnn/cuda.hpp"

namespace nn {

namespace {
std::atomic<MatmulPrecision> g_precision{MatmulPrecision::Highest};
}  // namespace

void set_float32_matmul_precision(MatmulPrecision precision) { g_precision.store(precision); }

void set_float32_matmul_precision(const std::string& precision) {
  if (precision == "highest") {
    set_float32_matmul_precision(MatmulPrecision::Highest);
  } else if (precision == "high") {
    set_float32_matmul_precision(MatmulPrecision::High);
  } else if (precision == "medium") {
    set_float32_matmul_precision(MatmulPrecision::Medium);
  } else {
    NN_CHECK(false,
             "set_float32_matmul_precision: expected \"highest\" (float32), \"high\" (TF32) or "
             "\"medium\" (bf16), got \"{}\"",
             precision);
  }
}

std::string matmul_precision_name(MatmulPrecision precision) {
  switch (precision) {
    case MatmulPrecision::Highest:
      return "highest";
    case MatmulPrecision::High:
      return "high";
    case MatmulPrecision::Medium:
      return "medium";
  }
  return "unknown";
}

MatmulPrecision float32_matmul_precision() { return g_precision.load(); }

}  // namespace nn
