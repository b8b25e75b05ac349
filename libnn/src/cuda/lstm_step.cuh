// The fused LSTM step launcher of src/cuda/lstm_step.cu, shared with the token loop
// (src/cuda/token_loop.cu), which runs it inside a CUDA graph.
#pragma once

#include <cstdint>

namespace nn::cuda::lstm_step_detail {

constexpr int kUnits = 2;                      // hidden units per block
constexpr int kStepThreads = 32 * 4 * kUnits;  // one warp per gate row of those units
constexpr int kMaxRows = 4;                    // batch rows per launch

// One layer's step for B rows:
//   G = (table[tokens[b]] or gx or 0) + x w_ih^T (when x) + h_prev w_hh^T;
//   then + bias, the gates and c = f c_prev + i g, h = o tanh(c).
// Weights (4H,I) and (4H,H) are float or __half (`half`), row-major; everything else float32
// (tokens int64), rows contiguous: x (B,ldx), gx and table rows (4H), state (B,H). c may be
// c_prev; h must not be h_prev. vec_ih / vec_hh: can_vectorize for the w_ih and w_hh reads.
struct StepArgs {
  const float* x = nullptr;
  std::int64_t I = 0, ldx = 0;
  const void* w_ih = nullptr;
  const float* gx = nullptr;
  const std::int64_t* tokens = nullptr;  // with table: G starts from table row tokens[b]
  const float* table = nullptr;
  const void* w_hh = nullptr;
  const float* h_prev = nullptr;
  const float* c_prev = nullptr;
  const float* bias = nullptr;
  float* h = nullptr;
  float* c = nullptr;
  std::int64_t H = 0;
  bool vec_ih = false, vec_hh = false;
};

// Whether row_dot may use 16-byte loads: K and ldv multiples of 4, w and v aligned.
bool can_vectorize(const void* w, bool half, std::int64_t K, const float* v, std::int64_t ldv);

// Launches the step on the current stream, in groups of kMaxRows rows.
void launch_step(StepArgs p, bool half, std::int64_t B);

}  // namespace nn::cuda::lstm_step_detail
