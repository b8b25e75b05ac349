// Normalization kernels: layer norm over the last C values of each row, batch norm over
// every dim but the channel. Both forwards are fused (statistics, normalization and affine in
// one kernel) and save per-row / per-channel mean and rstd = 1/sqrt(var + eps) for the fused,
// hand-derived backwards. Statistics are two-pass in double; every sum has a fixed order, so
// results do not depend on the number of threads.
//
// Optional tensors (weight, bias, running stats, gradients not needed) are passed undefined.
#pragma once

#include <cstdint>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// x is (N,C); weight, bias are (C) or undefined (1 and 0).
// out (N,C) = (x - mean) * rstd * weight + bias; mean, rstd are (N).
using LayerNormForwardFn = void(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                Tensor& out, Tensor& mean, Tensor& rstd, std::int64_t N,
                                std::int64_t C, double eps);
extern Table<LayerNormForwardFn> layer_norm_forward;

// dout, x are (N,C); mean, rstd (N) from the forward. Writes whichever of dx (N,C),
// dweight (C), dbias (C) are defined (overwritten, not accumulated).
using LayerNormBackwardFn = void(const Tensor& dout, const Tensor& x, const Tensor& mean,
                                 const Tensor& rstd, const Tensor& weight, Tensor& dx,
                                 Tensor& dweight, Tensor& dbias, std::int64_t N, std::int64_t C);
extern Table<LayerNormBackwardFn> layer_norm_backward;

// x is (N,C,L). Training: mean, rstd (C) from the batch (biased variance) and var_unbiased
// (C) for the running update; needs N*L > 1. Evaluation: mean = running_mean, rstd =
// 1/sqrt(running_var + eps), var_unbiased untouched (may be undefined).
// out (N,C,L) = (x - mean[c]) * rstd[c] * weight[c] + bias[c].
using BatchNormForwardFn = void(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                const Tensor& running_mean, const Tensor& running_var,
                                bool training, double eps, Tensor& out, Tensor& mean, Tensor& rstd,
                                Tensor& var_unbiased, std::int64_t N, std::int64_t C,
                                std::int64_t L);
extern Table<BatchNormForwardFn> batch_norm_forward;

// dout, x (N,C,L); mean, rstd (C) as the forward saved them. Training differentiates through
// the batch statistics; evaluation treats them as constants (dx = dout * weight * rstd).
// Writes whichever of dx, dweight (C), dbias (C) are defined.
using BatchNormBackwardFn = void(const Tensor& dout, const Tensor& x, const Tensor& mean,
                                 const Tensor& rstd, const Tensor& weight, bool training,
                                 Tensor& dx, Tensor& dweight, Tensor& dbias, std::int64_t N,
                                 std::int64_t C, std::int64_t L);
extern Table<BatchNormBackwardFn> batch_norm_backward;

}  // namespace nn::kernels
