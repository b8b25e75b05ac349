// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// PyTorch's update rule (torch.optim.SGD, 1.13): the momentum buffer starts as the first
// gradient itself, without dampening. Kernel: src/cpu/optim.cpp (sgd_step).
#pragma once

#include "libnn/optim/optimizer.hpp"

namespace nn::optim {

struct SGDOptions {
  // lr has no default, as in PyTorch.
  explicit SGDOptions(double lr) : lr_(lr) {}
  LIBNN_OPTIM_ARG(double, lr, 0.0)
  LIBNN_OPTIM_ARG(double, momentum, 0.0)
  LIBNN_OPTIM_ARG(double, dampening, 0.0)
  LIBNN_OPTIM_ARG(double, weight_decay, 0.0)
  LIBNN_OPTIM_ARG(bool, nesterov, false)
  LIBNN_OPTIM_ARG(bool, maximize, false)
};

// Per-parameter buffer (only with momentum != 0): "momentum_buffer".
class SGD : public Optimizer {
 public:
  // Throws nn::Error for lr, momentum or weight_decay < 0, or nesterov without momentum or
  // with dampening (PyTorch's checks).
  SGD(std::vector<Tensor> params, SGDOptions options);

  void step() override;
  std::string name() const override { return "SGD"; }
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override { options_.lr(lr); }
  const SGDOptions& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override;

 private:
  SGDOptions options_;
};

}  // namespace nn::optim
