// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_: call between
// backward() and the optimizer's step(). Parameters whose gradient is undefined are skipped.
#pragma once

#include <vector>

#include "libnn/tensor.hpp"

namespace nn::optim {

// Scales all gradients together so that their global norm is at most max_norm, and returns
// the norm before clipping: total = (sum over every gradient element of |g|^p)^(1/p), p =
// norm_type (> 0, or infinity for max |g|), accumulated in double in a fixed order. As in
// PyTorch the gradients are multiplied by max_norm / (total + 1e-6) only when that is < 1.
// With error_if_nonfinite, a NaN or infinite total throws nn::Error (gradients unchanged).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm,
                       double norm_type = 2.0, bool error_if_nonfinite = false);

// Clamps every gradient element to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace nn::optim
