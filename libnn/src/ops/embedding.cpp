// embedding with autograd: out = weight[indices], a row gather; the backward scatter-adds the
// output gradient into the rows it came from. Kernels: src/cpu/embedding.cpp.
#include "kernels/embedding.hpp"

#include <string>

#include "core/check.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

// "(i,j,k)": the multi-index of flat position `flat` in `shape`.
std::string position_str(std::int64_t flat, const Shape& shape) {
  Shape position(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    position[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(position);
}

}  // namespace

// weight is (V,D), indices any shape S -> out S + (D)
Tensor embedding(const Tensor& weight, const Tensor& indices) {
  NN_CHECK(weight.dtype() == DType::Float32, "embedding: expected weight of dtype float32, got {}",
           dtype_name(weight.dtype()));
  NN_CHECK(weight.dim() == 2, "embedding: expected weight of shape (V,D), got {}",
           shape_str(weight.sizes()));
  NN_CHECK(indices.dtype() == DType::Int64, "embedding: expected indices of dtype int64, got {}",
           dtype_name(indices.dtype()));
  NN_CHECK(weight.device() == indices.device(),
           "embedding: expected weight and indices on the same device, got {} and {}",
           weight.device().str(), indices.device().str());
  const std::int64_t V = weight.size(0), D = weight.size(1), N = indices.numel();
  const std::int64_t bad = kernels::embedding_check(indices.device(), indices, N, V);
  if (bad >= 0) {
    const std::int64_t value =
        indices.detach().reshape({N}).slice(0, bad, bad + 1).item<std::int64_t>();
    NN_CHECK(false,
             "embedding: expected every index in [0, V) with V = {}, got {} at position {} of "
             "indices {}",
             V, value, position_str(bad, indices.sizes()), shape_str(indices.sizes()));
  }
  Shape out_shape = indices.sizes();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, weight.options());
  kernels::embedding_forward(out.device(), weight, indices, out, N, V, D);
  if (autograd::needs_history({&weight})) {
    autograd::record("embedding", {weight}, {out},
                     [indices, N, V, D](const std::vector<Tensor>& g, const std::vector<bool>&) {
                       // out[n] = weight[indices[n]]: dweight[v] = sum of dout[n] over n
                       // with indices[n] == v
                       Tensor dweight = empty({V, D}, g[0].options());
                       kernels::embedding_backward(dweight.device(), g[0], indices, dweight, N, V,
                                                   D);
                       return std::vector<Tensor>{dweight};
                     });
  }
  return out;
}

}  // namespace nn
