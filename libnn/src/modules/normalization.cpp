// LayerNorm (libnn/modules/normalization.hpp).
#include "libnn/modules/normalization.hpp"

#include <algorithm>

#include "core/check.hpp"
#include "libnn/init.hpp"
#include "libnn/ops.hpp"

namespace nn {

LayerNorm::LayerNorm(const LayerNormOptions& options_) : options(options_) {
  const Shape& shape = options.normalized_shape();
  NN_CHECK(!shape.empty() && std::all_of(shape.begin(), shape.end(), [](auto s) { return s > 0; }),
           "LayerNorm: expected a non-empty normalized_shape of positive sizes, got {}",
           shape_str(shape));
  const bool affine = options.elementwise_affine();
  weight = register_parameter("weight", affine ? empty(shape) : Tensor());
  bias = register_parameter("bias", affine ? empty(shape) : Tensor());
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) const {
  const Shape& shape = options.normalized_shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  NN_CHECK(x.dim() >= rank && Shape(x.sizes().end() - rank, x.sizes().end()) == shape,
           "LayerNorm: expected input of shape (...,{}), got {}",
           shape_str(shape).substr(1, shape_str(shape).size() - 2), shape_str(x.sizes()));
  return layer_norm(x, shape, weight, bias, options.eps());
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", shape_str(options.normalized_shape()),
                     options.eps(), options.elementwise_affine());
}

}  // namespace nn
