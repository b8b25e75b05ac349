// Activation modules: stateless wrappers of the functional ops, for Sequential.
// PyTorch's nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Softmax, nn.LogSoftmax.
#pragma once

#include <cstdint>

#include "libnn/module.hpp"

namespace nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;
  double negative_slope;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class Softmax : public Module {
 public:
  explicit Softmax(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;
  std::int64_t dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;
  std::int64_t dim;
};

}  // namespace nn
