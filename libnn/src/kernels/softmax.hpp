// Softmax kernels: softmax and log-softmax along one dimension, forward and backward.
// x is viewed as (outer, C, inner) and normalized over C; inner == 1 is the common case
// (the last dimension), inner > 1 a softmax over an earlier dimension.
#pragma once

#include <cstdint>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// y = softmax(x) (log == false) or log_softmax(x) (log == true) over C; x, y float32 of the
// same shape. Max-subtracted: finite for any finite x.
using SoftmaxFn = void(const Tensor& x, Tensor& y, std::int64_t outer, std::int64_t c,
                       std::int64_t inner, bool log);
extern Table<SoftmaxFn> softmax_forward;

// gx from the output gradient gy and the forward's output y (all the same shape):
//   softmax:      gx = y * (gy - sum_c(gy * y))
//   log_softmax:  gx = gy - exp(y) * sum_c(gy)
using SoftmaxBackwardFn = void(const Tensor& gy, const Tensor& y, Tensor& gx, std::int64_t outer,
                               std::int64_t c, std::int64_t inner, bool log);
extern Table<SoftmaxBackwardFn> softmax_backward;

}  // namespace nn::kernels
