// --precision fp32|tf32|bf16 of `musegen train` and `musegen gan-train`: the precision of the
// GPU's matrix products for the run, libnn's float32 matmul precision (docs/libnn.md, "Matrix
// product precision"):
//   fp32  float32 products ("highest")
//   tf32  operands rounded to TF32 on tensor cores, float32 sums ("high")
//   bf16  operands rounded to bf16 on tensor cores, float32 sums ("medium")
// Weights, gradients, optimizer state and the LSTM's gates and cells are float32 in all three.
// The CPU computes in float32 only, so tf32 and bf16 need a GPU. Saved with the run's options
// and kept on --resume: the precision changes the run's numbers.
#pragma once

#include <libnn/libnn.hpp>
#include <stdexcept>
#include <string>

namespace musegen {

// The libnn setting for a --precision value; std::invalid_argument naming the three otherwise.
inline nn::MatmulPrecision matmul_precision_for(const std::string& precision) {
  if (precision == "fp32") return nn::MatmulPrecision::Highest;
  if (precision == "tf32") return nn::MatmulPrecision::High;
  if (precision == "bf16") return nn::MatmulPrecision::Medium;
  throw std::invalid_argument("--precision: expected fp32, tf32 or bf16, found \"" + precision +
                              "\"");
}

// Throws std::invalid_argument for a bad value, or tf32 / bf16 on the CPU.
inline void check_precision(const std::string& precision, const nn::Device& device) {
  matmul_precision_for(precision);
  if (precision != "fp32" && !device.is_cuda()) {
    throw std::invalid_argument("--precision " + precision +
                                " needs a GPU (--device cuda): the CPU computes in float32 only; "
                                "use --precision fp32 on the cpu");
  }
}

// What the run's products do, for its log ("" for fp32).
inline std::string precision_note(const std::string& precision) {
  if (precision == "tf32") return "precision: tf32 (TF32 GEMM operands, float32 sums and weights)";
  if (precision == "bf16") return "precision: bf16 (bf16 GEMM operands, float32 sums and weights)";
  return "";
}

}  // namespace musegen
