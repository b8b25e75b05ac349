// Linear (libnn/modules/linear.hpp).
#include "libnn/modules/linear.hpp"

#include <cmath>

#include "core/check.hpp"
#include "libnn/init.hpp"
#include "libnn/ops.hpp"

namespace nn {

Linear::Linear(const LinearOptions& options_) : options(options_) {
  NN_CHECK(options.in_features() >= 0 && options.out_features() >= 0,
           "Linear: expected non-negative sizes, got in_features={} out_features={}",
           options.in_features(), options.out_features());
  weight = register_parameter("weight", empty({options.out_features(), options.in_features()}));
  bias = register_parameter("bias", options.bias() ? empty({options.out_features()}) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  // torch.nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)), which is
  // U(-1/sqrt(I), 1/sqrt(I)); the bias uses the same bound.
  const std::int64_t fan_in = options.in_features();
  if (fan_in > 0) {
    init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn,
                           init::Nonlinearity::LeakyReLU, options.generator());
  }
  if (bias.defined()) {
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, options.generator());
  }
}

Tensor Linear::forward(const Tensor& x) const {
  NN_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features(),
           "Linear: expected input of shape (...,{}), got {}", options.in_features(),
           shape_str(x.sizes()));
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", options.in_features(),
                     options.out_features(), options.bias());
}

}  // namespace nn
