// Dropout (libnn/modules/dropout.hpp).
#include "libnn/modules/dropout.hpp"

#include "core/check.hpp"
#include "libnn/ops.hpp"

namespace nn {

Dropout::Dropout(const DropoutOptions& options_) : options(options_) {
  NN_CHECK(options.p() >= 0.0 && options.p() <= 1.0,
           "Dropout: expected a probability p in [0,1], got {}", options.p());
}

Tensor Dropout::forward(const Tensor& x) const {
  return dropout(x, options.p(), is_training(), options.generator());
}

std::string Dropout::extra_repr() const { return fmt::format("p={}", options.p()); }

}  // namespace nn
