// Reductions with autograd: sum, mean, max. Kernels: src/cpu/reduce.cpp. Also sum_to, the
// backward of broadcasting.
#include <algorithm>

#include "core/check.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/memory.hpp"
#include "kernels/reduce.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// Sorted, unique, non-negative dims; empty input = every dim.
std::vector<int> reduced_dims(const Tensor& x, const std::vector<std::int64_t>& dims, const char* what) {
  std::vector<int> out;
  if (dims.empty()) {
    for (int d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (std::int64_t d : dims) out.push_back(normalize_dim(d, x.sizes().size(), what));
  std::sort(out.begin(), out.end());
  NN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(),
           "{}: expected distinct dims, got a repeated one", what);
  return out;
}

// Sums x over `dims` (kept as size 1), one dimension at a time, no history.
Tensor sum_keepdim_raw(const Tensor& x, const std::vector<int>& dims) {
  Tensor current = x;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    const Shape& shape = current.sizes();
    const int d = *it;
    std::int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; ++i) outer *= shape[i];
    for (std::size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
    Shape reduced = shape;
    reduced[d] = 1;
    Tensor next = empty(reduced, current.options());
    kernels::sum_dim(next.device(), current, next, outer, shape[d], inner);
    current = next;
  }
  if (current.is_same(x)) {  // nothing reduced: still a new tensor
    current = empty(x.sizes(), x.options());
    kernels::copy(x.device(), x, current);
  }
  return current;
}

Shape drop_dims(const Shape& keep_shape, const std::vector<int>& dims) {
  Shape out;
  for (std::size_t i = 0; i < keep_shape.size(); ++i) {
    if (std::find(dims.begin(), dims.end(), static_cast<int>(i)) == dims.end()) {
      out.push_back(keep_shape[i]);
    }
  }
  return out;
}

// g (any shape of kept_shape's numel) broadcast to `shape`, recorded: the backward of sum
// as an op (for double backward). Its own backward is sum_to, itself made of recorded ops.
Tensor expand_recorded(const Tensor& g, const Shape& kept_shape, const Shape& shape) {
  const Tensor gk = g.reshape(kept_shape);
  Tensor out = empty(shape, g.options());
  kernels::expand(out.device(), gk, out);
  if (autograd::needs_history({&gk})) {
    autograd::record(
        "expand", {gk}, {out},
        [kept_shape](const std::vector<Tensor>& gy, const std::vector<bool>&) {
          return std::vector<Tensor>{sum_to(gy[0], kept_shape)};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

}  // namespace

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.sizes() == shape) return x;
  const std::size_t lead = x.sizes().size() - shape.size();
  NN_CHECK(x.sizes().size() >= shape.size(), "sum_to: cannot sum {} to the larger rank {}",
           shape_str(x.sizes()), shape_str(shape));
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < x.sizes().size(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && x.sizes()[i] != 1)) dims.push_back(static_cast<std::int64_t>(i));
  }
  return reshape(sum(x, dims, /*keepdim=*/true), shape);
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  NN_CHECK(x.dtype() == DType::Float32, "sum: expected float32, got {}", dtype_name(x.dtype()));
  const std::vector<int> rd = reduced_dims(x, dims, "sum");
  Tensor kept = sum_keepdim_raw(x, rd);
  Tensor out = keepdim ? kept : kept.detach().reshape(drop_dims(kept.sizes(), rd));
  if (autograd::needs_history({&x})) {
    autograd::record(
        "sum", {x}, {out},
        [x_shape = x.sizes(), kept_shape = kept.sizes()](const std::vector<Tensor>& g,
                                                         const std::vector<bool>&) {
          // out = sum over dims of x: every x element gets g of its output
          Tensor gx = empty(x_shape, g[0].options());
          kernels::expand(gx.device(), g[0].reshape(kept_shape), gx);
          return std::vector<Tensor>{gx};
        },
        autograd::DoubleBackward([x_shape = x.sizes(), kept_shape = kept.sizes()](
                                     const std::vector<Tensor>& g, const std::vector<bool>&) {
          return std::vector<Tensor>{expand_recorded(g[0], kept_shape, x_shape)};
        }));
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const std::vector<int> rd = reduced_dims(x, dims, "mean");
  std::int64_t count = 1;
  for (int d : rd) count *= x.sizes()[d];
  return affine(sum(x, dims, keepdim), 1.0 / static_cast<double>(count), 0.0);
}

MaxResult max(const Tensor& x, std::int64_t dim, bool keepdim) {
  NN_CHECK(x.dtype() == DType::Float32, "max: expected float32, got {}", dtype_name(x.dtype()));
  const int d = normalize_dim(dim, x.sizes().size(), "max");
  const Shape& shape = x.sizes();
  NN_CHECK(shape[d] > 0, "max: expected a non-empty dimension {}, got shape {}", d, shape_str(shape));
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= shape[i];
  for (std::size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  Shape kept = shape;
  kept[d] = 1;
  Tensor values = empty(kept, x.options());
  Tensor indices = empty(kept, x.options().dtype(DType::Int64));
  kernels::max_dim(x.device(), x, values, indices, outer, shape[d], inner);
  if (!keepdim) {
    Shape dropped = drop_dims(kept, {d});
    values = values.reshape(dropped);
    indices = indices.reshape(dropped);
  }
  if (autograd::needs_history({&x})) {
    autograd::record(
        "max", {x}, {values},
        [shape, kept, indices, outer, r = shape[d], inner](const std::vector<Tensor>& g,
                                                           const std::vector<bool>&) {
          // values = x[argmax]: the gradient goes to the (first) maximum only
          Tensor gx = empty(shape, g[0].options());
          kernels::max_dim_backward(gx.device(), g[0], indices, gx, outer, r, inner);
          return std::vector<Tensor>{gx};
        },
        autograd::DoubleBackward([shape, kept, indices, outer, r = shape[d], inner](
                                     const std::vector<Tensor>& g, const std::vector<bool>&) {
          // gx = g broadcast, times the constant one-hot mask of the maxima
          const Tensor one = ones(kept, g[0].options());
          Tensor mask = empty(shape, g[0].options());
          kernels::max_dim_backward(mask.device(), one, indices, mask, outer, r, inner);
          return std::vector<Tensor>{mul(expand_recorded(g[0], kept, shape), mask)};
        }));
  }
  return {values, indices};
}

Tensor max(const Tensor& x) {
  NN_CHECK(x.numel() > 0, "max: expected a non-empty tensor, got shape {}", shape_str(x.sizes()));
  return max(x.reshape({x.numel()}), 0, false).values;
}

}  // namespace nn
