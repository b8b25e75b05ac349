// LayerNorm: normalizes over the last dims (normalized_shape), then an optional elementwise
// affine map. PyTorch's nn.LayerNorm (parameters "weight" and "bias", of normalized_shape).
#pragma once

#include <utility>

#include "libnn/module.hpp"
#include "libnn/shape.hpp"

namespace nn {

struct LayerNormOptions {
  LayerNormOptions(Shape normalized_shape)  // NOLINT: implicit, as in libtorch
      : normalized_shape_(std::move(normalized_shape)) {}
  LIBNN_ARG(Shape, normalized_shape, {})
  LIBNN_ARG(double, eps, 1e-5)
  LIBNN_ARG(bool, elementwise_affine, true)
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& options);

  // x is (...,normalized_shape) -> the same shape
  Tensor forward(const Tensor& x) const;
  // weight 1, bias 0.
  void reset_parameters();
  std::string extra_repr() const override;

  LayerNormOptions options;
  Tensor weight;  // normalized_shape; undefined without elementwise_affine
  Tensor bias;    // normalized_shape; undefined without elementwise_affine
};

}  // namespace nn
