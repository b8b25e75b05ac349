// The losses, with autograd: cross_entropy (fused log-softmax + NLL over class indices, with
// ignore_index and label smoothing) and binary_cross_entropy_with_logits. Kernels:
// src/cpu/loss.cpp. The kernels write one loss per row (per element); the reduction here
// sums them in a fixed order, so the loss does not depend on the thread count.
#include <algorithm>
#include <limits>

#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/loss.hpp"
#include "kernels/reduce.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// The 0-dim sum of `per_item` times `scale` (no history).
Tensor reduce_scaled(const Tensor& per_item, double scale) {
  Tensor total = empty({}, per_item.options());
  kernels::sum_dim(per_item.device(), per_item, total, 1, per_item.numel(), 1);
  if (scale != 1.0) {
    kernels::unary(total.device(), kernels::UnaryOp::Affine, total, total,
                   static_cast<float>(scale), 0.0f);
  }
  return total;
}

// 1/count for Mean, 1 for Sum and None. A Mean over nothing is 0/0 = NaN, as in PyTorch.
double reduction_scale(Reduction reduction, std::int64_t count) {
  if (reduction != Reduction::Mean) return 1.0;
  return count > 0 ? 1.0 / static_cast<double>(count) : std::numeric_limits<double>::infinity();
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  NN_CHECK(logits.dtype() == DType::Float32, "cross_entropy: expected float32 logits, got {}",
           dtype_name(logits.dtype()));
  NN_CHECK(logits.dim() == 2, "cross_entropy: expected logits of shape (N,C), got {}",
           shape_str(logits.sizes()));
  NN_CHECK(target.dtype() == DType::Int64, "cross_entropy: expected int64 targets, got {}",
           dtype_name(target.dtype()));
  const std::int64_t n = logits.size(0), c = logits.size(1);
  NN_CHECK(target.dim() == 1 && target.size(0) == n,
           "cross_entropy: expected target of shape ({}) for logits {}, got {}", n,
           shape_str(logits.sizes()), shape_str(target.sizes()));
  NN_CHECK(logits.device() == target.device(),
           "cross_entropy: expected logits and target on the same device, got {} and {}",
           logits.device().str(), target.device().str());
  const double eps = options.label_smoothing_;
  NN_CHECK(eps >= 0.0 && eps <= 1.0, "cross_entropy: expected label_smoothing in [0,1], got {}",
           eps);
  const std::int64_t ignore_index = options.ignore_index_;
  const Reduction reduction = options.reduction_;

  // logits is (N,C), target (N) -> loss (N), and lse = row_max + log_sum (N) for the backward
  Tensor loss = empty({n}, logits.options());
  Tensor row_max = empty({n}, logits.options());
  Tensor log_sum = empty({n}, logits.options());
  const kernels::CrossEntropyStats stats =
      kernels::cross_entropy_forward(logits.device(), logits, target, loss, row_max, log_sum,
                                     ignore_index, static_cast<float>(eps));
  NN_CHECK(stats.bad_row < 0,
           "cross_entropy: expected targets in [0,{}) (C = {}) or ignore_index {}, got {} at row {}",
           c, c, ignore_index, stats.bad_target, stats.bad_row);

  const double scale = reduction_scale(reduction, stats.valid_rows);
  Tensor out = reduction == Reduction::None ? loss : reduce_scaled(loss, scale);
  if (autograd::needs_history({&logits})) {
    autograd::record("cross_entropy", {logits}, {out},
                     [logits, target, row_max, log_sum, ignore_index, eps, scale](const std::vector<Tensor>& g,
                                                                     const std::vector<bool>&) {
                       // loss[n] = (1-eps) * (lse[n] - x[n,y_n]) + eps * (lse[n] - mean_c x[n,c])
                       //   -> gx[n,c] = w_n * (softmax(x[n])_c - (1-eps) [c == y_n] - eps/C)
                       Tensor gx = empty(logits.sizes(), logits.options());
                       kernels::cross_entropy_backward(gx.device(), g[0], static_cast<float>(scale),
                                                       logits, target, row_max, log_sum, gx, ignore_index,
                                                       static_cast<float>(eps));
                       return std::vector<Tensor>{gx};
                     });
  }
  return out;
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const BCEWithLogitsOptions& options) {
  const char* what = "binary_cross_entropy_with_logits";
  NN_CHECK(logits.dtype() == DType::Float32 && target.dtype() == DType::Float32,
           "{}: expected float32 logits and target, got {} and {}", what,
           dtype_name(logits.dtype()), dtype_name(target.dtype()));
  NN_CHECK(logits.sizes() == target.sizes(),
           "{}: expected target of the logits' shape {}, got {}", what,
           shape_str(logits.sizes()), shape_str(target.sizes()));
  NN_CHECK(logits.device() == target.device(),
           "{}: expected logits and target on the same device, got {} and {}", what,
           logits.device().str(), target.device().str());
  const Tensor& pos_weight = options.pos_weight_;
  const std::int64_t last = logits.dim() == 0 ? 1 : logits.size(-1);
  if (pos_weight.defined()) {
    NN_CHECK(pos_weight.dtype() == DType::Float32, "{}: expected float32 pos_weight, got {}", what,
             dtype_name(pos_weight.dtype()));
    NN_CHECK(pos_weight.device() == logits.device(),
             "{}: expected pos_weight on the logits' device {}, got {}", what,
             logits.device().str(), pos_weight.device().str());
    // Only the last dim may be other than 1: it broadcasts along the last dim of logits.
    const Shape& ps = pos_weight.sizes();
    bool ok = ps.size() <= std::max<std::size_t>(logits.sizes().size(), 1) &&
              (pos_weight.numel() == 1 || pos_weight.numel() == last);
    for (std::size_t i = 0; ok && i + 1 < ps.size(); ++i) ok = ps[i] == 1;
    NN_CHECK(ok, "{}: expected pos_weight of shape ({}) (broadcast along the last dim of logits {}), got {}",
             what, last, shape_str(logits.sizes()), shape_str(ps));
  }
  const Reduction reduction = options.reduction_;

  Tensor loss = empty(logits.sizes(), logits.options());
  kernels::bce_with_logits_forward(logits.device(), logits, target, pos_weight, loss);
  const double scale = reduction_scale(reduction, logits.numel());
  Tensor out = reduction == Reduction::None ? loss : reduce_scaled(loss, scale);
  if (autograd::needs_history({&logits})) {
    autograd::record(
        what, {logits}, {out},
        [logits, target, pos_weight, scale](const std::vector<Tensor>& g,
                                            const std::vector<bool>&) {
          // loss = pw t softplus(-x) + (1-t) softplus(x)
          //   -> gx = g * ((1-t) sigmoid(x) - pw t sigmoid(-x))
          Tensor gx = empty(logits.sizes(), logits.options());
          kernels::bce_with_logits_backward(gx.device(), g[0], static_cast<float>(scale), logits,
                                            target, pos_weight, gx);
          return std::vector<Tensor>{gx};
        },
        autograd::DoubleBackward([logits, target, pos_weight, scale](const std::vector<Tensor>& g,
                                                                     const std::vector<bool>&) {
          // the same as recorded ops, with s = sigmoid(x), sigmoid(-x) = 1 - s:
          //   gx = g * scale * ((1-t) s - pw t (1-s))
          const Tensor s = sigmoid(logits);
          const Tensor pwt = pos_weight.defined() ? mul(target, pos_weight) : target;
          const Tensor coef =
              sub(mul(affine(target, -1.0, 1.0), s), mul(pwt, affine(s, -1.0, 1.0)));
          return std::vector<Tensor>{affine(mul(coef, g[0]), scale, 0.0)};
        }));
  }
  return out;
}

}  // namespace nn
