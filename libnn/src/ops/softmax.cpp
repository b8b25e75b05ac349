// softmax and log_softmax along one dimension, with autograd. Kernels: src/cpu/softmax.cpp.
// Both save only their output: the backward of either needs y alone.
#include <algorithm>

#include "core/check.hpp"
#include "kernels/softmax.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

Tensor softmax_impl(const Tensor& x, std::int64_t dim, bool log, const char* what) {
  NN_CHECK(x.dtype() == DType::Float32, "{}: expected a float32 tensor, got {}", what,
           dtype_name(x.dtype()));
  const Shape& shape = x.sizes();
  // A 0-dim tensor is one row of one element (dim 0 or -1), as in PyTorch.
  const int d = normalize_dim(dim, std::max<std::size_t>(shape.size(), 1), what);
  std::int64_t outer = 1, inner = 1;
  const std::int64_t c = shape.empty() ? 1 : shape[d];
  for (int i = 0; i < d; ++i) outer *= shape[i];
  for (std::size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];

  // x is (outer, C, inner)
  Tensor y = empty(shape, x.options());
  kernels::softmax_forward(x.device(), x, y, outer, c, inner, log);
  if (autograd::needs_history({&x})) {
    autograd::record(
        what, {x}, {y},
        [y_saved = y.detach(), outer, c, inner, log](const std::vector<Tensor>& g,
                                                     const std::vector<bool>&) {
          // y = softmax(x):      gx = y * (gy - sum_c(gy * y))
          // y = log_softmax(x):  gx = gy - exp(y) * sum_c(gy)
          Tensor gx = empty(y_saved.sizes(), y_saved.options());
          kernels::softmax_backward(gx.device(), g[0], y_saved, gx, outer, c, inner, log);
          return std::vector<Tensor>{gx};
        },
        autograd::DoubleBackward(
            [x, d, log](const std::vector<Tensor>& g, const std::vector<bool>&) {
              // the same as recorded ops, with softmax(x) recomputed (for log_softmax
              // exp(y) is softmax(x)); a 0-dim x is a constant 1 (or 0): gx = 0
              if (x.dim() == 0) return std::vector<Tensor>{affine(g[0], 0.0, 0.0)};
              const Tensor s = softmax(x, d);
              if (log) return std::vector<Tensor>{sub(g[0], mul(s, sum(g[0], {d}, true)))};
              return std::vector<Tensor>{mul(s, sub(g[0], sum(mul(g[0], s), {d}, true)))};
            }));
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_impl(x, dim, true, "log_softmax");
}

}  // namespace nn
