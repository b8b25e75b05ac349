// Linear: y = x W^T + b, PyTorch's nn.Linear (parameters "weight" (O,I) and "bias" (O)).
#pragma once

#include <cstdint>

#include "libnn/module.hpp"
#include "libnn/random.hpp"

namespace nn {

struct LinearOptions {
  LinearOptions(std::int64_t in_features, std::int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  LIBNN_ARG(std::int64_t, in_features, {})
  LIBNN_ARG(std::int64_t, out_features, {})
  LIBNN_ARG(bool, bias, true)
  // Draws the initial weights (the global generator when null); used only while
  // constructing or in reset_parameters().
  LIBNN_ARG(Generator*, generator, nullptr)
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options);
  Linear(std::int64_t in_features, std::int64_t out_features)
      : Linear(LinearOptions(in_features, out_features)) {}

  // x is (...,I) -> (...,O)
  Tensor forward(const Tensor& x) const;
  // PyTorch's default: weight and bias both U(-1/sqrt(I), 1/sqrt(I))
  // (kaiming_uniform_(weight, a=sqrt(5)) and the matching bias bound).
  void reset_parameters();
  std::string extra_repr() const override;

  LinearOptions options;
  Tensor weight;  // (O,I)
  Tensor bias;    // (O), undefined when options.bias() is false
};

}  // namespace nn
