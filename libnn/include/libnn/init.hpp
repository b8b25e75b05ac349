// nn::init: PyTorch's parameter initializations (torch.nn.init), drawing from our seeded
// Philox generator. Each fills a tensor in place with no autograd history (they run under
// NoGradGuard, so they work on parameters that require grad) and returns it. A Tensor is a
// handle, so they take it by value, as libtorch does: init::zeros_(linear->bias) fills the
// module's own bias.
//
// `gen` is the generator to draw from; null means the global one (nn::manual_seed seeds it).
// The formulas are PyTorch's, so the bounds and statistics match; the values themselves do
// not (a different generator).
#pragma once

#include <cstdint>
#include <utility>

#include "libnn/random.hpp"
#include "libnn/tensor.hpp"

namespace nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Sigmoid, Tanh, ReLU, LeakyReLU };

// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain): 1 for linear and
// sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + param^2)) for leaky relu (param is
// the negative slope; PyTorch's default 0.01 when omitted).
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

// {fan_in, fan_out} of a weight of at least 2 dims: (O,I,k...) -> {I*prod(k), O*prod(k)}.
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

Tensor uniform_(Tensor tensor, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor constant_(Tensor tensor, double value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);

// U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
// Linear's default, kaiming_uniform_(w, sqrt(5)), gives bound = 1/sqrt(fan_in).
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                         Nonlinearity nonlinearity = Nonlinearity::LeakyReLU,
                         Generator* gen = nullptr);
// N(0, std^2) with std = gain / sqrt(fan).
Tensor kaiming_normal_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU,
                        Generator* gen = nullptr);
// U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0, Generator* gen = nullptr);
// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor tensor, double gain = 1.0, Generator* gen = nullptr);

}  // namespace nn::init
