// Loss kernels: fused cross-entropy over class indices and binary cross-entropy with logits,
// forward and backward. The kernels write per-row (per-element) losses; the op reduces them.
#pragma once

#include <cstdint>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// What the cross-entropy forward found in the targets.
struct CrossEntropyStats {
  std::int64_t valid_rows = 0;    // rows whose target is not ignore_index
  std::int64_t bad_row = -1;      // the first row with a target outside [0,C), -1 if none
  std::int64_t bad_target = 0;    // that row's target
};

// Fused log-softmax + NLL with label smoothing eps, one pass over each row after its max:
//   row_max[n] = max_c logits[n,c],  log_sum[n] = log(sum_c exp(logits[n,c] - row_max[n]))
//   lse = row_max + log_sum
//   loss[n] = (1-eps) * (lse - logits[n,y_n]) + eps * (lse - mean_c logits[n,c])
// and loss[n] = row_max[n] = log_sum[n] = 0 where y_n == ignore_index. The log-sum-exp is
// saved in two parts so that the backward's softmax = exp((x - row_max) - log_sum) keeps full
// precision when the logits are large (a float lse of ~1000 would be off by 3e-5).
// logits is (N,C) float32, target (N) int64, loss, row_max and log_sum (N) float32. When a
// target is out of range, the outputs are unspecified and the stats name the first such row.
using CrossEntropyFn = CrossEntropyStats(const Tensor& logits, const Tensor& target, Tensor& loss,
                                         Tensor& row_max, Tensor& log_sum,
                                         std::int64_t ignore_index, float label_smoothing);
extern Table<CrossEntropyFn> cross_entropy_forward;

// grad_logits[n,c] = w_n * (softmax(logits[n])_c - (1-eps) * [c == y_n] - eps/C), softmax
// rebuilt from the forward's row_max and log_sum, with w_n = grad_loss[n] * scale (grad_loss
// of N elements: reduction None) or grad_loss[0] * scale (one element: Mean with scale
// 1/valid_rows, Sum with scale 1), and w_n = 0 where y_n == ignore_index. Written in one pass;
// grad_logits is (N,C).
using CrossEntropyBackwardFn = void(const Tensor& grad_loss, float scale, const Tensor& logits,
                                    const Tensor& target, const Tensor& row_max,
                                    const Tensor& log_sum, Tensor& grad_logits,
                                    std::int64_t ignore_index, float label_smoothing);
extern Table<CrossEntropyBackwardFn> cross_entropy_backward;

// loss = -[pw * t * log sigmoid(x) + (1-t) * log(1 - sigmoid(x))], elementwise, computed as
// pw * t * softplus(-x) + (1-t) * softplus(x) with softplus(z) = max(z,0) + log1p(exp(-|z|)):
// two non-negative terms, finite for any finite x and free of cancellation. logits x, target t and loss are float32 of the same shape,
// last dimension L; pos_weight pw has L elements (or 1), or is undefined (pw = 1).
using BceWithLogitsFn = void(const Tensor& logits, const Tensor& target, const Tensor& pos_weight,
                             Tensor& loss);
extern Table<BceWithLogitsFn> bce_with_logits_forward;

// grad_logits = g * scale * ((1-t) * sigmoid(x) - pw * t * sigmoid(-x)), where g is
// grad_loss elementwise (x.numel() elements: reduction None) or grad_loss[0] (one element).
using BceWithLogitsBackwardFn = void(const Tensor& grad_loss, float scale, const Tensor& logits,
                                     const Tensor& target, const Tensor& pos_weight,
                                     Tensor& grad_logits);
extern Table<BceWithLogitsBackwardFn> bce_with_logits_backward;

}  // namespace nn::kernels
