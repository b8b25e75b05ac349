// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), PyTorch's
// update rules (torch.optim.Adam / AdamW, 1.13): bias-corrected moments, eps added outside
// the square root after the bias correction, optional AMSGrad. One fused kernel serves both:
// src/cpu/optim.cpp (adam_step).
#pragma once

#include <utility>

#include "libnn/optim/optimizer.hpp"

namespace nn::optim {

// (beta1, beta2): the decay rates of the first and second moment averages.
using Betas = std::pair<double, double>;

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  LIBNN_OPTIM_ARG(double, lr, 1e-3)
  LIBNN_OPTIM_ARG(Betas, betas, std::make_pair(0.9, 0.999))
  LIBNN_OPTIM_ARG(double, eps, 1e-8)
  LIBNN_OPTIM_ARG(double, weight_decay, 0.0)
  LIBNN_OPTIM_ARG(bool, amsgrad, false)
  LIBNN_OPTIM_ARG(bool, maximize, false)
};

// The same options; weight_decay defaults to 1e-2 (PyTorch's AdamW default).
struct AdamWOptions {
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  LIBNN_OPTIM_ARG(double, lr, 1e-3)
  LIBNN_OPTIM_ARG(Betas, betas, std::make_pair(0.9, 0.999))
  LIBNN_OPTIM_ARG(double, eps, 1e-8)
  LIBNN_OPTIM_ARG(double, weight_decay, 1e-2)
  LIBNN_OPTIM_ARG(bool, amsgrad, false)
  LIBNN_OPTIM_ARG(bool, maximize, false)
};

// Per-parameter state: "step", buffers "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" with
// amsgrad.
class Adam : public Optimizer {
 public:
  // Throws nn::Error for lr, eps or weight_decay < 0, or a beta outside [0, 1).
  Adam(std::vector<Tensor> params, AdamOptions options = AdamOptions());

  void step() override;
  std::string name() const override { return "Adam"; }
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override { options_.lr(lr); }
  const AdamOptions& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override;

 private:
  AdamOptions options_;
};

// AdamW: param *= 1 - lr * weight_decay before the Adam update (which then has no L2 term).
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = AdamWOptions());

  void step() override;
  std::string name() const override { return "AdamW"; }
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override { options_.lr(lr); }
  const AdamWOptions& options() const { return options_; }

 protected:
  std::vector<std::string> buffer_names() const override;

 private:
  AdamWOptions options_;
};

}  // namespace nn::optim
