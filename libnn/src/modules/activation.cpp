// Activation modules (libnn/modules/activation.hpp): each forwards to its op.
#include "libnn/modules/activation.hpp"

#include "core/check.hpp"
#include "libnn/ops.hpp"

namespace nn {

Tensor ReLU::forward(const Tensor& x) const { return relu(x); }

Tensor LeakyReLU::forward(const Tensor& x) const { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const {
  return fmt::format("negative_slope={}", negative_slope);
}

Tensor Tanh::forward(const Tensor& x) const { return tanh(x); }

Tensor Sigmoid::forward(const Tensor& x) const { return sigmoid(x); }

Tensor Softmax::forward(const Tensor& x) const { return softmax(x, dim); }
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }

Tensor LogSoftmax::forward(const Tensor& x) const { return log_softmax(x, dim); }
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

}  // namespace nn
