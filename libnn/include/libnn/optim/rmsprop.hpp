// RMSprop, PyTorch's update rule (torch.optim.RMSprop, 1.13): divides by sqrt(v) + eps (eps
// outside the square root, unlike tf.keras), optional centering and momentum, L2 weight decay
// added to the gradient. Kernel: src/cpu/optim.cpp (rmsprop_step).
#pragma once

#include "libnn/optim/optimizer.hpp"

namespace nn::optim {

struct RMSpropOptions {
  explicit RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  LIBNN_OPTIM_ARG(double, lr, 1e-2)
  LIBNN_OPTIM_ARG(double, alpha, 0.99)
  LIBNN_OPTIM_ARG(double, eps, 1e-8)
  LIBNN_OPTIM_ARG(double, weight_decay, 0.0)
  LIBNN_OPTIM_ARG(double, momentum, 0.0)
  LIBNN_OPTIM_ARG(bool, centered, false)
  LIBNN_OPTIM_ARG(bool, maximize, false)
};

// Per-parameter state: "step", buffers "square_avg", "momentum_buffer" (momentum > 0) and
// "grad_avg" (centered).
class RMSprop : public Optimizer {
 public:
  // Throws nn::Error for lr, alpha, eps, weight_decay or momentum < 0.
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = RMSpropOptions());

  void step() override;
  std::string name() const override { return "RMSprop"; }
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override { options_.lr(lr); }
  const RMSpropOptions& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override;

 private:
  RMSpropOptions options_;
};

}  // namespace nn::optim
