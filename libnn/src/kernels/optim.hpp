// Fused optimizer kernels: one pass over a parameter updates the parameter and its moments
// together (the optimizer step is memory-bound; separate elementwise ops would read and write
// each buffer several times). Also the reduction behind clip_grad_norm_.
//
// The update rules are PyTorch 1.13's single-tensor ones, written out in
// tests/libnn/golden/README.md; the CPU kernels are in src/cpu/optim.cpp. All tensors are
// float32, contiguous, of the parameter's shape and on its device. Hyper-parameters travel in
// double; a kernel rounds them (and the per-step constants it derives) to its compute type.
//
// Each step also has a multi-tensor table (PyTorch's foreach / multi_tensor_apply): one call
// updates a list of parameters with the same hyper-parameters, so a GPU covers a model of many
// small parameters in one launch instead of one per parameter. An entry carries what differs
// between parameters (its buffers, and its own step count: a parameter without a gradient on
// some steps lags the others). Every tensor of one call is on the call's device; the results
// are those of the single-tensor kernel applied to each entry in turn, bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// g = grad (negated when maximize) + weight_decay * param
// momentum == 0:  param -= lr * g                      (momentum_buffer undefined)
// first_step:     buf = g                              (no dampening on the first step)
// else:           buf = momentum * buf + (1 - dampening) * g
// then            param -= lr * (nesterov ? g + momentum * buf : buf)
struct SgdStep {
  double lr = 0.0;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
  bool first_step = false;
};
using SgdStepFn = void(Tensor& param, const Tensor& grad, Tensor& momentum_buffer,
                       const SgdStep& h);
extern Table<SgdStepFn> sgd_step;

// momentum_buffer is null or undefined when momentum == 0.
struct SgdTensors {
  Tensor* param;
  const Tensor* grad;
  Tensor* momentum_buffer;
  bool first_step;  // this parameter's first update (its buffer is fresh)
};
// h.first_step is ignored: each entry has its own.
using SgdStepMultiFn = void(const std::vector<SgdTensors>& tensors, const SgdStep& h);
extern Table<SgdStepMultiFn> sgd_step_multi;

// Adam and AdamW, t = step (from 1):
//   decoupled (AdamW): param *= 1 - lr * weight_decay, g = grad
//   else (Adam):       g = grad + weight_decay * param            (L2 added to the gradient)
//   exp_avg    = beta1 * exp_avg    + (1 - beta1) * g
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2
//   amsgrad:     max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), used below instead
//   param -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps)
// max_exp_avg_sq is undefined unless amsgrad.
struct AdamStep {
  double lr = 0.0;
  double beta1 = 0.0;
  double beta2 = 0.0;
  double eps = 0.0;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;
  bool amsgrad = false;
  bool maximize = false;
  std::int64_t step = 1;
};
using AdamStepFn = void(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                        Tensor& max_exp_avg_sq, const AdamStep& h);
extern Table<AdamStepFn> adam_step;

// max_exp_avg_sq is null or undefined unless amsgrad.
struct AdamTensors {
  Tensor* param;
  const Tensor* grad;
  Tensor* exp_avg;
  Tensor* exp_avg_sq;
  Tensor* max_exp_avg_sq;
  std::int64_t step;  // this parameter's t (from 1)
};
// h.step is ignored: each entry has its own.
using AdamStepMultiFn = void(const std::vector<AdamTensors>& tensors, const AdamStep& h);
extern Table<AdamStepMultiFn> adam_step_multi;

// RMSprop:
//   g = grad + weight_decay * param
//   square_avg = alpha * square_avg + (1 - alpha) * g^2
//   centered:  grad_avg = alpha * grad_avg + (1 - alpha) * g,  d = sqrt(square_avg - grad_avg^2) + eps
//   else:      d = sqrt(square_avg) + eps
//   momentum > 0: buf = momentum * buf + g / d, param -= lr * buf
//   else:         param -= lr * g / d
// grad_avg is undefined unless centered, momentum_buffer unless momentum > 0.
struct RmspropStep {
  double lr = 0.0;
  double alpha = 0.0;
  double eps = 0.0;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
  bool maximize = false;
};
using RmspropStepFn = void(Tensor& param, const Tensor& grad, Tensor& square_avg,
                           Tensor& grad_avg, Tensor& momentum_buffer, const RmspropStep& h);
extern Table<RmspropStepFn> rmsprop_step;

// grad_avg is null or undefined unless centered, momentum_buffer unless momentum > 0.
struct RmspropTensors {
  Tensor* param;
  const Tensor* grad;
  Tensor* square_avg;
  Tensor* grad_avg;
  Tensor* momentum_buffer;
};
using RmspropStepMultiFn = void(const std::vector<RmspropTensors>& tensors,
                                const RmspropStep& h);
extern Table<RmspropStepMultiFn> rmsprop_step_multi;

// sum over x of |x|^norm_type (norm_type > 0), or max |x| for norm_type = +infinity; in double,
// deterministic whatever the thread count (fixed blocks combined in order). 0 for no elements.
using PowSumFn = double(const Tensor& x, double norm_type);
extern Table<PowSumFn> abs_pow_sum;

}  // namespace nn::kernels
