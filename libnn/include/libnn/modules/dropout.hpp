// Dropout: in training, zeroes each element with probability p and scales the rest by
// 1/(1-p); in evaluation (eval()), the identity. PyTorch's nn.Dropout.
#pragma once

#include "libnn/module.hpp"
#include "libnn/random.hpp"

namespace nn {

struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT: implicit, Dropout(0.1) as in libtorch
  LIBNN_ARG(double, p, {})
  // Draws the masks (the global generator when null); must outlive the module.
  LIBNN_ARG(Generator*, generator, nullptr)
};

class Dropout : public Module {
 public:
  explicit Dropout(const DropoutOptions& options = {});

  // x is any shape -> the same shape
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;

  DropoutOptions options;
};

}  // namespace nn
