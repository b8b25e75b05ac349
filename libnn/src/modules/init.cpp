// nn::init (libnn/init.hpp): PyTorch's initializations, formulas from torch/nn/init.py.
#include "libnn/init.hpp"

#include <cmath>

#include "core/check.hpp"
#include "libnn/autograd.hpp"

namespace nn::init {

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  NN_CHECK(tensor.dim() >= 2,
           "calculate_fan_in_and_fan_out: expected a tensor of at least 2 dims, got {}",
           shape_str(tensor.sizes()));
  std::int64_t receptive_field = 1;
  for (std::int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

namespace {

std::int64_t fan(const Tensor& tensor, FanMode mode) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const std::int64_t value = mode == FanMode::FanIn ? fan_in : fan_out;
  NN_CHECK(value > 0, "kaiming init: expected a tensor with a non-zero fan, got shape {}",
           shape_str(tensor.sizes()));
  return value;
}

}  // namespace

Tensor uniform_(Tensor tensor, double low, double high, Generator* gen) {
  NoGradGuard no_grad;
  return tensor.uniform_(low, high, gen);
}

Tensor normal_(Tensor tensor, double mean, double std, Generator* gen) {
  NoGradGuard no_grad;
  return tensor.normal_(mean, std, gen);
}

Tensor constant_(Tensor tensor, double value) {
  NoGradGuard no_grad;
  return tensor.fill_(value);
}

Tensor zeros_(Tensor tensor) { return constant_(tensor, 0.0); }
Tensor ones_(Tensor tensor) { return constant_(tensor, 1.0); }

Tensor kaiming_uniform_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                         Generator* gen) {
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(tensor, mode)));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor kaiming_normal_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                        Generator* gen) {
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(tensor, mode)));
  return normal_(tensor, 0.0, std, gen);
}

Tensor xavier_uniform_(Tensor tensor, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor xavier_normal_(Tensor tensor, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(tensor, 0.0, std, gen);
}

}  // namespace nn::init
