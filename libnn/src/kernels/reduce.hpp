// Reductions over one dimension: x viewed as (outer, R, inner) -> out (outer, inner).
#pragma once

#include <cstdint>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// out = sum over r of x; deterministic order (r ascending).
using SumFn = void(const Tensor& x, Tensor& out, std::int64_t outer, std::int64_t r,
                   std::int64_t inner);
extern Table<SumFn> sum_dim;

// values = max over r, indices = the first r reaching it (int64).
using MaxFn = void(const Tensor& x, Tensor& values, Tensor& indices, std::int64_t outer,
                   std::int64_t r, std::int64_t inner);
extern Table<MaxFn> max_dim;

// gx (outer, R, inner) = 0 except gx[o, indices[o,i], i] = gy[o, i].
using MaxBackwardFn = void(const Tensor& gy, const Tensor& indices, Tensor& gx,
                           std::int64_t outer, std::int64_t r, std::int64_t inner);
extern Table<MaxBackwardFn> max_dim_backward;

}  // namespace nn::kernels
